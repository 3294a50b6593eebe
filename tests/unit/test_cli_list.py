"""`saebench list [what] --json`: every section is present, complete and machine-readable."""

import json
import subprocess
import sys

import pytest

from saebench.cli import CONFIG_GROUPS, main
from saebench.metrics import discover
from saebench.paths import config_options
from saebench.saes import ARCHITECTURES, FORMATS

EXPECTED = {"tasks": ["tasks"], "saes": ["saes"], "datasets": ["datasets", "unlearning_tasks"],
            "formats": ["formats", "architectures"], "configs": [f"{g}_configs" for g in CONFIG_GROUPS]}


def listed(capsys, *args) -> dict:
    assert main(["list", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("what", sorted(EXPECTED))
def test_each_list_section_as_json(capsys, what):
    data = listed(capsys, what)
    assert sorted(data) == sorted(EXPECTED[what])
    if what == "tasks":
        assert [t["name"] for t in data["tasks"]] == discover().names()
        core = next(t for t in data["tasks"] if t["name"] == "core")
        scr = next(t for t in data["tasks"] if t["name"] == "scr")
        assert core["needs"] == ["corpus"] and core["applies_to"] is None
        assert scr["needs"] == ["datasets", "activations"] and "affine" in scr["applies_to"]
        assert {"name": "fvu", "higher_is_better": False} .items() <= next(
            m for m in core["metrics"] if m["name"] == "fvu").items()
    if what == "formats":
        assert data["formats"] == FORMATS.names() and data["architectures"] == ARCHITECTURES.names()
    if what == "configs":
        for group in CONFIG_GROUPS:
            assert data[f"{group}_configs"] == config_options(group)
    if what == "saes":
        assert {s["name"] for s in data["saes"]} == set(config_options("sae"))
    if what == "datasets":
        formats = {t["name"]: t["format"] for t in data["unlearning_tasks"]}
        assert formats == {"orgllama_alchemy": "cloze", "wmdp_bio": "letter_chat", "wmdp_cyber": "letter_chat"}


def test_list_all_json_is_the_union(capsys):
    data = listed(capsys)
    assert sorted(data) == sorted(k for keys in EXPECTED.values() for k in keys)


def test_reading_results_imports_no_torch():
    code = ("import saebench.results, saebench.gate, saebench.summary, saebench.leaderboard, sys; "
            "import saebench.leaderboard.export; "
            "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)[:5]")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
