"""Parity tier, RAVEL: saebench's `saebench` definition against SAEBench 0.6.0's RAVEL, run unmodified on the
model organism (tokenizer made to add BOS, as Gemma's does: parity/ravel_inputs.py) with the organism's TopK
SAE on blocks.0 (fixture: parity/ravel_saebench.py).

- Knowledge filter: the same prompts kept, with the same first generated token and entity position, exactly.
- Scores: SAEBench draws its pairs from unseeded global generators, so pairs differ between the tools; per
  attribute, cause and isolation are compared over the seeds with the two-sample bound
  |mean_saebench - mean_SAEBench| <= Z * sqrt(sd_SAEBench^2 / n + sd_saebench^2 / n)."""

from __future__ import annotations

import gzip
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from saebench.metrics import EvalContext, discover
from saebench.metrics.ravel.plugin import knowledge
from saebench.models import load_language_model
from saebench.saes import load_sae
from saebench.services import Services
from tests.parity import DEVICE, common

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "parity"))
from ravel_inputs import ATTRIBUTES, CLASS, ORGANISM, SAE, bos_organism  # noqa: E402

FOLDER = Path(__file__).parent / "fixtures" / "ravel"
FIXTURE = json.loads((FOLDER / "saebench_ravel.json").read_text())
Z = 3.0


@pytest.fixture(scope="module")
def organism(tmp_path_factory):
    """The BOS organism, its TopK SAE and one evaluation context (the knowledge filter runs once for both tests)."""
    lm = load_language_model(str(bos_organism(tmp_path_factory.mktemp("ravel") / "model")), device=DEVICE)
    sae = load_sae({"id": "orgllama/l0_topk_512", "path": str(SAE)}, device=DEVICE)
    ctx = EvalContext(lm=lm, hook=sae.metadata.hook, saes=[sae], space=lm.activation_space(False), device=lm.device,
                      services=Services.for_model(lm))
    return ctx, params()


def params():
    s = FIXTURE["settings"]
    return discover().get("ravel").make_params({
        "source": str(ORGANISM / "ravel"), "classes": {CLASS: ATTRIBUTES}, "definitions": ["saebench"],
        "seeds": s["seeds"], "n_pairs_per_attribute": s["pairs"], "batch_size": s["batch_size"],
        "micro_batch_size": s["batch_size"], "lr": s["lr"], "epochs": s["epochs"],
        "n_generated_tokens": s["n_generated_tokens"], "top_n_entities": s["top_n_entities"],
        "train_fraction": s["train_test_split"]})


def test_the_knowledge_filter_keeps_exactly_saebenchs_prompts(organism):
    ctx, p = organism
    known = knowledge(ctx, p, CLASS, ATTRIBUTES, "saebench")
    ours = sorted([k.prompt.text, k.first_token, k.entity_pos - len(k.ids), k.prompt.attribute] for k in known.known)
    with gzip.open(FOLDER / "saebench_known.json.gz", "rt") as f:
        theirs = [list(x) for x in json.load(f)]
    assert len(ours) == len(theirs) and ours == theirs


def run_ours(ctx, p) -> dict[str, dict[str, list[float]]]:
    """attribute -> {cause, isolation} -> saebench's value per fixture seed."""
    (result,) = list(discover().get("ravel").run(ctx, p))
    out: dict[str, dict[str, list[float]]] = {a: {"cause": [], "isolation": []} for a in ATTRIBUTES}
    for m in result.metrics:
        if m.seed is not None and m.subset and "/" in m.subset and m.metric in ("cause_score", "isolation_score"):
            out[m.subset.split("/")[1]][m.metric.removesuffix("_score")].append(m.value)
    return out


def test_cause_and_isolation_agree_within_the_seed_spread(organism):
    ours = run_ours(*organism)
    rows = []
    for attribute in ATTRIBUTES:
        for field, key in (("cause", "cause_score"), ("isolation", "isolation_score")):
            theirs = [FIXTURE["seeds"][s]["per_attribute"][f"{CLASS}_{attribute}"][key] for s in FIXTURE["seeds"]]
            mine = ours[attribute][field]
            limit = common.bound(mine, theirs, Z)
            rows.append((attribute, field, float(np.mean(theirs)), float(np.mean(mine)), limit))
    report = "\n".join(f"{a:10s} {f:9s} SAEBench {t:.3f} saebench {o:.3f} bound {b:.3f}" for a, f, t, o, b in rows)
    print(report)
    assert all(abs(t - o) <= b and math.isfinite(b) for _, _, t, o, b in rows), report
