"""`saebench run | list`: parse, call, print. Everything else lives in the library."""

from __future__ import annotations

import argparse
import json
import sys

from saebench.errors import SaeBenchError, did_you_mean

COMMANDS = ("run", "list")
CONFIG_GROUPS = ("model", "sae", "corpus", "suite")
USAGE = """usage: saebench <command> [args]

commands:
  run [hydra overrides]   evaluate SAEs (default: the bundled demo), e.g.
                          saebench run sae=demo_topk task.core.n_tokens=32768 device=cuda dtype=bfloat16
                          saebench run -m sae=demo_relu,demo_topk
  list [--json]           registered tasks and metrics; SAE, model, corpus and suite configs
"""


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        args = ["run"]
    command, rest = args[0], args[1:]
    if command in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    if command not in COMMANDS:
        print(did_you_mean(command, COMMANDS, "command"), file=sys.stderr)
        print(USAGE, file=sys.stderr)
        return 2
    try:
        return _run(rest) if command == "run" else _list(rest)
    except SaeBenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


def _check_group_overrides(args: list[str]) -> None:
    """Fail early, with suggestions, on `sae=<unknown>` (also inside comma-separated multirun lists)."""
    from saebench.errors import ConfigError
    from saebench.paths import config_options

    for arg in args:
        key, sep, value = arg.partition("=")
        key = key.lstrip("+~")
        if not sep or key not in CONFIG_GROUPS:
            continue
        options = config_options(key)
        for name in value.split(","):
            if name and name not in options:
                raise ConfigError(did_you_mean(name, options, f"{key} config"))


def _run(args: list[str]) -> int:
    import hydra
    from omegaconf import DictConfig

    from saebench import config as _config  # noqa: F401  (registers the ${saebench_asset:...} resolver)
    from saebench.paths import config_dir

    _check_group_overrides(args)
    state = {"failed": 0}

    @hydra.main(config_path=str(config_dir()), config_name="config", version_base="1.3")
    def app(cfg: DictConfig) -> None:
        from saebench.config import run_config_from_hydra
        from saebench.runner import run

        report = run(run_config_from_hydra(cfg))
        _print_report(report)
        state["failed"] += len(report.failed)

    saved_argv = sys.argv
    sys.argv = ["saebench run", *args]
    try:
        app()
    finally:
        sys.argv = saved_argv
    return 1 if state["failed"] else 0


def _print_report(report) -> None:
    import pandas as pd

    from saebench.results import read_metrics
    from saebench.summary import headline_table

    rows = read_metrics(report.output_dir)
    ids = {o.sae_id for o in report.outcomes if o.status in ("ok", "cached")}
    rows = rows[rows["sae_id"].isin(ids)]
    table = headline_table(rows)
    if not table.empty:
        with pd.option_context("display.width", 200, "display.max_columns", 50):
            print(table.to_string())
    counts = {s: sum(o.status == s for o in report.outcomes) for s in ("ok", "cached", "error")}
    print(f"\nrun {report.run_id}: {counts['ok']} unit(s) computed, {counts['cached']} already present, "
          f"{counts['error']} failed. Results: {report.output_dir}/metrics (pandas.read_parquet)")
    for o in report.failed:
        print(f"  FAILED {o.sae_id} / {o.task}: {o.reason}")


def _list(args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="saebench list")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    ns = parser.parse_args(args)

    from saebench.metrics import discover
    from saebench.paths import config_options

    registry = discover()
    data = {
        "tasks": [{"name": info.name, "version": info.version, "description": info.description,
                   "metrics": [{"name": m.name, "higher_is_better": m.higher_is_better, "headline": m.headline,
                                "description": m.description} for m in info.metrics]}
                  for _name, info in registry.items()],
        **{f"{group}_configs": config_options(group) for group in CONFIG_GROUPS},
    }
    if ns.json:
        print(json.dumps(data, indent=2))
        return 0
    direction = {True: "higher", False: "lower", None: "-"}
    for task in data["tasks"]:
        print(f"task {task['name']} v{task['version']}: {task['description']}")
        width = max(len(m["name"]) for m in task["metrics"])
        for m in task["metrics"]:
            star = "*" if m["headline"] else " "
            print(f"  {star} {m['name']:<{width}}  {direction[m['higher_is_better']]:<6}  {m['description']}")
    print("  (* headline; direction = which way is better)\n")
    for group in CONFIG_GROUPS:
        print(f"{group} configs: {', '.join(data[f'{group}_configs'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
