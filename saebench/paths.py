"""Where the package finds its configs and bundled assets, installed or in a checkout."""

from __future__ import annotations

from pathlib import Path

from saebench.errors import ConfigError

PACKAGE_DIR = Path(__file__).resolve().parent
ASSETS_DIR = PACKAGE_DIR / "assets"


def config_dir() -> Path:
    """`saebench/_configs` in an installed wheel, else the checkout's top-level `configs/`."""
    for candidate in (PACKAGE_DIR / "_configs", PACKAGE_DIR.parent / "configs"):
        if (candidate / "config.yaml").is_file():
            return candidate
    raise ConfigError(f"Cannot find saebench's configs (looked in {PACKAGE_DIR / '_configs'} and "
                      f"{PACKAGE_DIR.parent / 'configs'}). Reinstall the package.")


def tasks_dir() -> Path:
    """`saebench/_tasks` in an installed wheel, else the checkout's top-level `tasks/`."""
    for candidate in (PACKAGE_DIR / "_tasks", PACKAGE_DIR.parent / "tasks"):
        if candidate.is_dir():
            return candidate
    raise ConfigError(f"Cannot find saebench's task definitions (looked in {PACKAGE_DIR / '_tasks'} and "
                      f"{PACKAGE_DIR.parent / 'tasks'}). Reinstall the package.")


def asset(relative: str) -> str:
    """Absolute path of a bundled asset, e.g. asset('stories260K')."""
    path = ASSETS_DIR / relative
    if not path.exists():
        available = sorted(p.name for p in ASSETS_DIR.iterdir()) if ASSETS_DIR.exists() else []
        raise ConfigError(f"Bundled asset {relative!r} not found under {ASSETS_DIR}. Available: {available}.")
    return str(path)


ASSET_PREFIX = "saebench-asset:"


def portable_path(path: str) -> str:
    """A bundled asset's path as 'saebench-asset:<relative>' (the same in every checkout and install);
    any other path unchanged. For identities that must not depend on where saebench is installed."""
    try:
        relative = Path(path).expanduser().resolve().relative_to(ASSETS_DIR)
    except (ValueError, OSError):
        return path
    return ASSET_PREFIX + relative.as_posix()


def config_options(group: str) -> list[str]:
    """Names of the options of a config group: paths of configs/<group>/**/*.yaml without the suffix
    (nested folders give names like `saebench_pythia160m/topk`)."""
    root = config_dir() / group
    return sorted(p.relative_to(root).with_suffix("").as_posix() for p in root.rglob("*.yaml"))
