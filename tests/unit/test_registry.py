import pytest

from saebench.errors import UnknownNameError, did_you_mean
from saebench.metrics import discover
from saebench.registry import Registry


def test_duplicate_name_rejected():
    r: Registry[int] = Registry("thing")
    r.add("a", 1)
    with pytest.raises(ValueError, match="already registered"):
        r.add("a", 2)


def test_unknown_name_suggests_close_match_and_lists_valid():
    r: Registry[int] = Registry("task")
    r.add("core", 1)
    r.add("absorption", 2)
    with pytest.raises(UnknownNameError) as e:
        r.get("cor")
    msg = str(e.value)
    assert "Unknown task 'cor'" in msg and "Did you mean: 'core'" in msg and "absorption" in msg


def test_frozen_registry_rejects_additions():
    r: Registry[int] = Registry("x")
    r.freeze()
    with pytest.raises(RuntimeError, match="frozen"):
        r.add("a", 1)


def test_did_you_mean_caps_long_lists():
    msg = did_you_mean("zz", [f"n{i}" for i in range(30)], "option", limit=5)
    assert "and 25 more" in msg


def test_core_plugin_contract():
    info = discover().get("core")
    names = [m.name for m in info.metrics]
    assert len(names) == len(set(names))
    assert info.version
    assert {"fvu", "l0", "ce_loss_score", "kl_div_score"} <= {m.name for m in info.metrics if m.headline}
    assert info.metric("fvu").higher_is_better is False and info.metric("ce_loss_score").higher_is_better is True
    assert info.make_params({}).n_tokens > 0


def test_discover_registers_single_module_plugins_and_freezes(tmp_path, monkeypatch):
    """A plugin that is one module (not a package) under saebench.metrics is found; the registry is
    frozen afterwards, so nothing can replace a plugin behind the runner's back."""
    import sys

    import saebench.metrics as pkg
    import saebench.metrics.registry as reg

    (tmp_path / "tmp_single_plugin.py").write_text(
        "from dataclasses import dataclass\n"
        "from saebench.metrics import MetricInfo, register_plugin\n"
        "@dataclass(frozen=True)\nclass P:\n    x: int = 1\n"
        "@register_plugin('tmp_single', version='0.1', params=P, description='one module',\n"
        "                 metrics=[MetricInfo(name='m', higher_is_better=True, description='m')])\n"
        "def run(ctx, params):\n    yield from ()\n")
    fresh: Registry = Registry("task")
    monkeypatch.setattr(reg, "PLUGINS", fresh)
    monkeypatch.setattr(reg, "_discovered", False)
    monkeypatch.setattr(pkg, "__path__", [*pkg.__path__, str(tmp_path)])
    monkeypatch.delitem(sys.modules, "saebench.metrics.tmp_single_plugin", raising=False)
    found = reg.discover()
    assert found is fresh and "tmp_single" in found
    assert found.get("tmp_single").params().x == 1
    with pytest.raises(RuntimeError, match="frozen"):
        found.add("late", object())
    monkeypatch.delitem(sys.modules, "saebench.metrics.tmp_single_plugin", raising=False)


def test_plugin_declarations_are_checked():
    from dataclasses import dataclass

    from saebench.metrics import MetricInfo, make_plugin

    @dataclass(frozen=True)
    class P:
        pass

    m = MetricInfo(name="m", higher_is_better=True, description="m")
    with pytest.raises(ValueError, match="duplicate metric names"):
        make_plugin(lambda c, p: iter(()), "x", version="1", metrics=[m, m], description="", params=P)
    with pytest.raises(TypeError, match="must be a dataclass"):
        make_plugin(lambda c, p: iter(()), "x", version="1", metrics=[m], description="", params=dict)
    with pytest.raises(TypeError, match="saebench.services.Needs"):
        make_plugin(lambda c, p: iter(()), "x", version="1", metrics=[m], description="", params=P, needs=("judge",))
