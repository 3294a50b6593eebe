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
