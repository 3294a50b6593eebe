"""Known-answer SAEs on the bundled organism (built by surgery, scripts/build_organism.py --stages surgery):
the headline absorption definition (v1) recovers the planted absorption per letter; sparse probing finds
the latent that encodes gender exactly, and SCR cannot see it on this task (README)."""

import json
from pathlib import Path

import pytest

import saebench
import saebench.results
from saebench.models import load_language_model
from saebench.organisms.recovery import absorption_context, absorption_task, recovery_table
from saebench.paths import asset
from saebench.saes import load_sae

pytestmark = pytest.mark.integration
ORGANISM = Path(asset("organisms/orgllama"))
HOOK = "blocks.2.hook_resid_post"
# measured by scripts/absorption_recovery.py (3 seeds): the README's table; the bounds leave room for one seed
ABSORPTION_MAE_BOUND = 0.02      # measured per seed: 0.0002 / 0.0037 / 0.0002
ABSORPTION_MAX_ERROR_BOUND = 0.1  # measured per seed: 0.0014 / 0.083 / 0.0010


def test_the_headline_absorption_definition_v1_recovers_the_planted_rate():
    lm = load_language_model(ORGANISM)
    folder = ORGANISM / "saes" / "surgery_absorption"
    sae = load_sae({"id": "surgery_absorption", "format": "sae_lens", "path": str(folder)})
    planted = json.loads((folder / "planted.json").read_text())
    ctx = absorption_context(lm, HOOK)
    task, params = absorption_task(ctx, 42)
    table = recovery_table(ctx, task, params, sae, planted)
    nominal = (table["planted_rate"] * 4).round() / 4                 # the construction's rates 0 .. 0.75
    assert len(table) >= 20 and set(nominal) == {0.0, 0.25, 0.5, 0.75}
    # the truth on the scored rows rises with the planted rate (lower: a word latent stays silent on some of
    # its word's prompts, and those rows are not absorbed)
    by_rate = table.groupby(nominal)["truth_v1_rows"].mean()
    assert by_rate.is_monotonic_increasing and by_rate.iloc[0] < 0.02 and by_rate.iloc[-1] > 0.2, by_rate
    err = (table["absorption_v1"] - table["truth_v1_rows"]).abs()
    assert err.mean() <= ABSORPTION_MAE_BOUND and err.max() <= ABSORPTION_MAX_ERROR_BOUND, table.to_string()
    assert table["letter_latent_is_main_v1"].all()
    # SAEBench's definition does not recover it (absorption README): its main latents are mostly not the
    # planted letter latent, which then counts as absorbing. If this changes, the README's table must.
    sb_err = (table["absorption_saebench"] - table["truth_saebench_rows"]).abs()
    assert sb_err.mean() > 0.2 and table["letter_latent_is_main_saebench"].mean() < 0.5


def test_planted_gender_latent_sparse_probing_finds_it_and_scr_cannot_see_it(tmp_path):
    saes = {name: {"format": "sae_lens", "path": str(ORGANISM / "saes" / name)}
            for name in ("relu_2048", "surgery_gender")}
    df = saebench.evaluate(
        saes=saes, model=str(ORGANISM), corpus=str(ORGANISM / "corpus.jsonl"), device="cpu",
        output_dir=str(tmp_path / "r"), cache_dir=str(tmp_path / "cache"),
        tasks={"scr": {"datasets": ["orgllama_topic_gender_scr"], "train_size": 400, "test_size": 200,
                       "n_values": [1, 20], "seeds": [0]},
               "sparse_probing": {"datasets": ["orgllama_gender"], "train_size": 400, "test_size": 200,
                                  "k_values": [1], "full_probe": False, "seeds": [0]}})
    overall = df[df["subset"].isna()].set_index(["task", "metric", "sae_id", "k"])["value"]
    # sparse probing: the one planted latent is a perfect gender probe
    assert overall[("sparse_probing", "sae_top_k_accuracy", "surgery_gender", 1)] >= 0.99
    # SCR (README, validity): the biased probe reads gender alone here (chance on class-balanced data), so
    # ablating even a latent that removes gender exactly cannot recover the class: SCR ~ 0, as for the base
    pairs = saebench.results.read_details(str(tmp_path / "r"))
    pairs = pairs[(pairs["task"] == "scr") & (pairs["sae_id"] == "surgery_gender")]
    biased_on_class = pairs[pairs["field"] == "biased_on_class"]["value"]
    assert len(biased_on_class) == 3 and (biased_on_class <= 0.55).all()
    for sae in saes:
        assert abs(overall[("scr", "scr", sae, 1)]) < 0.05 and abs(overall[("scr", "scr", sae, 20)]) < 0.05
