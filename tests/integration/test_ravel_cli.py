"""RAVEL through `saebench run` on the bundled organism (small budgets): rows per attribute, class and overall
for both definitions, the organism's SAE beating the permuted-decoder control, the SAEBench-JSON export, a
resumed run reading what is there; and a model that knows none of the world is a skipped row with the
numbers."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from saebench.leaderboard.data import page_name
from saebench.paths import asset

pytestmark = pytest.mark.integration
SMALL = ["task.ravel.classes={city:[Country,Continent]}", "task.ravel.n_pairs_per_attribute=96",
         "task.ravel.lr=0.05", "task.ravel.seeds=[0]",
         "task.ravel.batch_size=16", "~task.core"]


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "saebench.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=900)


def test_ravel_on_the_organism_and_its_export(tmp_path):
    args = ["run", "sae=orgllama_ravel", "suite=ravel_organism", *SMALL, "output_dir=out",
            f"cache_dir={tmp_path / 'c'}"]
    run = cli(*args, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    rows = pd.concat(pd.read_parquet(p) for p in (tmp_path / "out" / "metrics").rglob("*.parquet"))
    overall = rows[rows.subset.isna()].set_index(["sae_id", "metric"])["value"]
    for metric in ("disentanglement_score_heldout", "cause_score_heldout", "disentanglement_score", "n_known_prompts"):
        assert ("orgllama/l0_topk_512", metric) in overall.index, metric
    subsets = set(rows[rows.metric == "cause_score_heldout"].subset.dropna())
    assert subsets == {"city", "city/Country", "city/Continent"}
    trained = overall[("orgllama/l0_topk_512", "disentanglement_score_heldout")]
    assert trained > overall[("control/permuted_l0_topk_512", "disentanglement_score_heldout")] + 0.1
    assert overall[("control/identity_l0", "cause_score_heldout")] > 0.3

    export = cli("export", "saebench-json", "out", "-o", "json", cwd=tmp_path)
    assert export.returncode == 0, export.stdout + export.stderr
    name = page_name("orgllama/l0_topk_512").replace(".html", "_eval_results.json")
    record = json.loads((tmp_path / "json" / "ravel" / name).read_text())
    assert record["eval_type_id"] == "ravel"
    assert record["eval_result_metrics"]["ravel"]["disentanglement_score"] == pytest.approx(
        overall[("orgllama/l0_topk_512", "disentanglement_score")])
    assert set(record["eval_result_unstructured"]["city_results"]) == {"city_Country", "city_Continent"}

    again = cli(*args, cwd=tmp_path)
    assert again.returncode == 0 and "8 already present" in again.stdout, again.stdout[-2000:]


def small_world(folder: Path) -> Path:
    """The organism's city class cut to 12 entities and its first 3 templates per attribute, in RAVEL's format."""
    src = Path(asset("organisms/orgllama/ravel"))
    read = {part: json.loads((src / f"ravel_city_{part}.json").read_text())
            for part in ("attribute_to_prompts", "entity_attributes", "prompt_to_split", "entity_to_split")}
    entities = sorted(read["entity_attributes"])[:12]
    templates = {a: ts[:3] for a, ts in read["attribute_to_prompts"].items()}
    cut = {"attribute_to_prompts": templates,
           "entity_attributes": {e: read["entity_attributes"][e] for e in entities},
           "prompt_to_split": {t: read["prompt_to_split"][t] for ts in templates.values() for t in ts},
           "entity_to_split": {e: read["entity_to_split"][e] for e in entities}}
    folder.mkdir()
    for part, data in cut.items():
        (folder / f"ravel_city_{part}.json").write_text(json.dumps(data))
    return folder


def test_a_model_that_knows_nothing_of_the_world_is_a_skipped_row(tmp_path):
    world = small_world(tmp_path / "world")
    run = cli("run", "sae=demo_relu", f"+task.ravel={{source: '{world}', classes: {{city: [Country, Continent]}}}}",
              "~task.core", "~task.sparse_probing", "output_dir=out", f"cache_dir={tmp_path / 'c'}", cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "skipped demo/relu / ravel: RAVEL coverage too low for this model" in run.stdout
    manifest = pd.concat(pd.read_parquet(p) for p in (tmp_path / "out" / "manifest").rglob("*.parquet"))
    row = manifest[manifest.task == "ravel"].iloc[0]
    assert row.status == "skipped" and "heldout: city/Country (train splits ['train']): 0 known prompts" in row.reason
