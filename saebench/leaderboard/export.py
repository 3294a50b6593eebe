"""`saebench export saebench-json`: SAEBench-schema JSON per SAE and eval, from result folders.

Each file follows SAEBench's BaseEvalOutput (`eval_type_id, eval_config, eval_id,
datetime_epoch_millis, eval_result_metrics, eval_result_details, sae_bench_commit_hash, sae_lens_id,
sae_lens_release_id, sae_lens_version, sae_cfg_dict, eval_result_unstructured`) with SAEBench's
metric names and categories where a saebench metric has a SAEBench counterpart. Values are saebench's
(see each plugin's README for where the definitions deliberately differ); `eval_config` is saebench's
task parameters. Tasks SAEBench does not have are exported under their own name.

A SAEBench field holds a value only when saebench computes it with SAEBench's definition; every other
field is null and its reason is in `eval_result_unstructured.null_fields`. Core (v2) is proven equal by
tests/parity; `explained_variance_legacy` (not computed) and core v1 values (other definitions) are null.
Sparse probing: the top-k accuracies share SAEBench's definition (trained on the training rows minus
saebench's validation split; `notes` says so), the full-width accuracies do not (C chosen on validation,
SAEBench early-stops on the test set) and are null. SCR shares SAEBench's definitions (an undefined SCR
score is null where SAEBench writes 0). TPP: the total metric is parity-tested within SAEBench's seed
spread; the intended / unintended drops are null (SAEBench's are inflated by its test-set epoch
selection; saebench's corrected ones are under `saebench.metrics`). Absorption (plugin >= 2.0.0): the
SAEBench-named metrics are computed with SAEBench's definition (parity-tested within its seed spread);
rows of absorption 1.x (definition v1) export as null. RAVEL: SAEBench's fields hold the `saebench`
definition's values (its pair split and bucketing); without that definition they are null.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from saebench.leaderboard.data import page_name
from saebench.results import (
    ids_on_several_models,
    qualify_detail_ids,
    qualify_ids,
    read_details,
    read_many,
    representative,
)

CORE_CATEGORIES = {
    "model_behavior_preservation": ["kl_div_score", "kl_div_with_ablation", "kl_div_with_sae"],
    "model_performance_preservation": ["ce_loss_score", "ce_loss_with_ablation", "ce_loss_with_sae",
                                       "ce_loss_without_sae"],
    "reconstruction_quality": ["explained_variance", "explained_variance_legacy", "mse", "cossim"],
    "shrinkage": ["l2_norm_in", "l2_norm_out", "l2_ratio", "relative_reconstruction_bias"],
    "sparsity": ["l0", "l1"],
    "misc_metrics": ["freq_over_1_percent", "freq_over_10_percent", "normalized_freq_over_1_percent",
                     "normalized_freq_over_10_percent", "average_max_encoder_cosine_sim",
                     "average_max_decoder_cosine_sim", "frac_alive"],
}
NOT_COMPUTED = {
    "explained_variance_legacy": "SAEBench's 'old, incorrect' per-token ratio; saebench does not compute it "
                                 "(see fvu / explained_variance_centred)",
    "normalized_freq_over_1_percent": "not computed by saebench",
    "normalized_freq_over_10_percent": "not computed by saebench",
    "average_max_encoder_cosine_sim": "not computed by saebench",
    "average_max_decoder_cosine_sim": "not computed by saebench",
}
# Fields whose saebench definition differed from SAEBench's before core 2.0.0.
CORE_V1_DIFFERENT = {
    "explained_variance": "core v1 stored the centred explained variance under this name",
    "mse": "core v1 stored the per-element MSE under this name",
    "l1": "core v1 stored the sum of |f| under this name",
    "relative_reconstruction_bias": "core v1 stored a ratio of sums over all tokens, not SAEBench's per-batch mean",
    **{m: "core v1 kept BOS in the zero-ablation baseline and keyed CE on input and target" for m in
       ("ce_loss_score", "ce_loss_with_ablation", "ce_loss_with_sae", "ce_loss_without_sae", "kl_div_score",
        "kl_div_with_ablation")},
}
EVAL_TYPE = {"absorption": "absorption_first_letter"}


def _clean(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return float(v)


def _overall(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[rows["subset"].isna()]


def _value(rows: pd.DataFrame, metric: str, k=None, subset=None):
    sel = rows[(rows["metric"] == metric) & (rows["k"].isna() if k is None else rows["k"] == k)
               & (rows["subset"].isna() if subset is None else rows["subset"] == subset)]
    return _clean(sel["value"].iloc[0]) if len(sel) else None


def _core(rows, details):
    version = str(rows["task_version"].iloc[0]) if len(rows) else ""
    v1 = version.split(".")[0] in ("0", "1")
    null_fields = dict(NOT_COMPUTED)
    if v1:
        null_fields.update(CORE_V1_DIFFERENT)
    metrics = {cat: {m: None if m in null_fields else _value(rows, m) for m in names}
               for cat, names in CORE_CATEGORIES.items()}
    latent = details[(details["table"] == "latent") & (details["field"] == "density")].sort_values("item")
    per_latent = [{"index": int(i), "feature_density": _clean(v)} for i, v in zip(latent["item"], latent["value"],
                                                                                     strict=True)]
    return metrics, per_latent, {"null_fields": null_fields}


FULL_PROBE_DIFFERENT = ("saebench's full-width probe chooses C on a validation split; SAEBench's trains a torch "
                        "probe with early stopping on the test set (its [BUG?]), a different definition")
TOPK_NOTE = ("top-k probes as SAEBench defines them (k features by |mean difference|, L2 logistic regression, "
             "C=1), trained on the training rows minus saebench's validation split (val_fraction={}); "
             "SAEBench trains on every training row: val_fraction=0 is the SAEBench-compatible setting, "
             "parity-tested within SAEBench's seed spread (tests/parity)")


def _sparse_probing(rows, details):
    ks = sorted({int(k) for k in rows["k"].dropna()})
    null_fields = {"llm_test_accuracy": FULL_PROBE_DIFFERENT, "sae_test_accuracy": FULL_PROBE_DIFFERENT}
    metrics = {"llm": {"llm_test_accuracy": None,
                       **{f"llm_top_{k}_test_accuracy": _value(rows, "llm_top_k_accuracy", k) for k in ks}},
               "sae": {"sae_test_accuracy": None,
                       **{f"sae_top_{k}_test_accuracy": _value(rows, "sae_top_k_accuracy", k) for k in ks}}}
    per_dataset = []
    for dataset in sorted(rows["subset"].dropna().unique()):
        entry = {"dataset_name": f"{dataset}_results", "llm_test_accuracy": None, "sae_test_accuracy": None}
        for k in ks:
            entry[f"llm_top_{k}_test_accuracy"] = _value(rows, "llm_top_k_accuracy", k, dataset)
            entry[f"sae_top_{k}_test_accuracy"] = _value(rows, "sae_top_k_accuracy", k, dataset)
        per_dataset.append(entry)
    params = json.loads(rows["params_json"].iloc[0]) if len(rows) and rows["params_json"].iloc[0] else {}
    return metrics, per_dataset, {"null_fields": null_fields,
                                  "notes": {"top_k": TOPK_NOTE.format(params.get("val_fraction", "?"))}}


SCR_NOTE = ("saebench keeps each probe's epoch on a validation split (SAEBench: on the test set, which makes its "
            "oracle accuracies 0.05-0.06 optimistic on the parity fixture) and writes null where SAEBench writes 0 "
            "for an undefined score; scores agree with SAEBench's within its seed spread in 9 of 10 parity fields "
            "(tests/parity/test_scr_parity.py)")


def _scr(rows, details):
    ns = sorted({int(k) for k in rows["k"].dropna()})
    names = {"scr_dir1": "scr_dir1_threshold_{}", "scr": "scr_metric_threshold_{}", "scr_dir2": "scr_dir2_threshold_{}"}

    def block(subset):
        return {fmt.format(n): _value(rows, m, n, subset) for n in ns for m, fmt in names.items()}

    pairs = sorted(rows["subset"].dropna().unique())
    return ({"scr_metrics": block(None)}, [{"dataset_name": f"{p}_results", **block(p)} for p in pairs],
            {"notes": {"scr": SCR_NOTE}})


TPP_DROPS_DIFFERENT = ("SAEBench keeps each probe's best epoch on the test set and measures ablated accuracy on "
                       "redrawn negatives, which inflates its clean accuracy and both drops (by 0.004-0.018 on the "
                       "parity fixture); saebench's corrected drops are tpp_intended / tpp_unintended in "
                       "saebench.metrics. The total metric, where the bias cancels, is parity-tested.")


def _tpp(rows, details):
    ns = sorted({int(k) for k in rows["k"].dropna()})
    names = {"tpp": "tpp_threshold_{}_total_metric", "tpp_intended": "tpp_threshold_{}_intended_diff_only",
             "tpp_unintended": "tpp_threshold_{}_unintended_diff_only"}

    def block(subset):
        return {fmt.format(n): _value(rows, m, n, subset) if m == "tpp" else None
                for n in ns for m, fmt in names.items()}

    null_fields = {fmt.format(n): TPP_DROPS_DIFFERENT for n in ns for m, fmt in names.items() if m != "tpp"}
    datasets = sorted(rows["subset"].dropna().unique())
    return ({"tpp_metrics": block(None)}, [{"dataset_name": f"{d}_tpp_results", **block(d)} for d in datasets],
            {"null_fields": null_fields})


ABSORPTION_V1 = ("absorption v1.x rows hold saebench's definition v1 (main latents by class-mean difference, exact "
                 "L2 ground-truth probe, the probe's own prompts), not SAEBench's: values 10-100x apart on planted "
                 "models; saebench's values are in saebench.metrics")
ABSORPTION_FIELDS = ("mean_absorption_fraction_score", "mean_full_absorption_score", "mean_num_split_features",
                     "std_dev_absorption_fraction_score", "std_dev_full_absorption_score",
                     "std_dev_num_split_features")
ABSORPTION_DETAIL_FIELDS = {"mean_absorption_fraction": "mean_absorption_fraction",
                            "full_absorption_rate": "full_absorption_rate",
                            "num_full_absorption": "num_full_absorption",
                            "num_probe_true_positives": "n_true_positives",
                            "num_split_features": "num_split_features"}
ABSORPTION_TOO_FEW = ("fewer than min_letters letters passed SAEBench's ground-truth probe gate; SAEBench computes "
                      "no absorption for this model and hook")


def _absorption(rows, details):
    """From absorption >= 2.0.0 the SAEBench-named metrics hold SAEBench's definition (parity-tested);
    per-letter details are the evaluated letters' values, averaged over seeds when there are several."""
    version = str(rows["task_version"].iloc[0]) if len(rows) else ""
    if version.split(".")[0] in ("0", "1"):
        metrics = {"mean": dict.fromkeys(ABSORPTION_FIELDS)}
        return metrics, [], {"null_fields": dict.fromkeys(ABSORPTION_FIELDS, ABSORPTION_V1)}
    metrics = {"mean": {f: _value(rows, f) for f in ABSORPTION_FIELDS}}
    null_fields = {f: ABSORPTION_TOO_FEW for f, v in metrics["mean"].items() if v is None}
    table = details[details["table"] == "per_letter"]
    per_letter = []
    if len(table):
        wide = table.pivot_table(index=["label", "item"], columns="field", values="value").reset_index()
        wide = wide[wide["included"] == 1]
        for letter, group in wide.groupby("label", sort=True):
            entry = {"first_letter": str(letter).lower()}
            for field, column in ABSORPTION_DETAIL_FIELDS.items():
                entry[field] = _clean(group[column].mean())
            per_letter.append(entry)
    return metrics, per_letter, {"null_fields": null_fields} if null_fields else None


RAVEL_FIELDS = ("disentanglement_score", "cause_score", "isolation_score")
RAVEL_NOT_RUN = ("this run computed only saebench's held-out definition (task.ravel.definitions); add 'saebench' "
                 "to fill SAEBench's fields. The held-out values are under saebench.metrics")


def _ravel(rows, details):
    """SAEBench's fields from the `saebench` definition's rows (RAVEL README); per entity class and attribute
    in eval_result_unstructured as SAEBench writes them."""
    metrics = {"ravel": {f: _value(rows, f) for f in RAVEL_FIELDS}}
    if all(v is None for v in metrics["ravel"].values()):
        return metrics, [], {"null_fields": dict.fromkeys(RAVEL_FIELDS, RAVEL_NOT_RUN)}
    unstructured: dict[str, dict] = {}
    for subset in sorted(s for s in rows["subset"].dropna().unique() if "/" in s):
        cls, attribute = subset.split("/", 1)
        unstructured.setdefault(f"{cls}_results", {})[f"{cls}_{attribute}"] = {
            "cause_score": _value(rows, "cause_score", subset=subset),
            "isolation_score": _value(rows, "isolation_score", subset=subset),
            "disentangle_score": _value(rows, "disentanglement_score", subset=subset)}
    return metrics, [], unstructured


UNLEARNING_POOL = ("n_forget_questions", "n_retain_questions", "low_signal", "unlearning_score_heldout",
                   "forget_accuracy", "retain_accuracy", "n_configs_passing")


def _unlearning(rows, details):
    """SAEBench's one field (`unlearning.unlearning_score`, its definition on the run's task: eval_config.task
    names the data); the known pools, the low-signal flag and the held-out score in eval_result_unstructured."""
    metrics = {"unlearning": {"unlearning_score": _value(rows, "unlearning_score")}}
    unstructured = {name: _value(rows, name) for name in UNLEARNING_POOL}
    grid = details[details["table"] == "grid"] if len(details) else details
    if len(grid):
        wide = grid.pivot_table(index=["label", "item"], columns="field", values="value").reset_index()
        unstructured["grid"] = [{"config": r["label"], **{f: _clean(r[f]) for f in wide.columns
                                                          if f not in ("label", "item")}}
                                for _, r in wide.sort_values("item").iterrows()]
    return metrics, [], unstructured


def _generic(rows, details):
    out = {}
    for r in _overall(rows).itertuples():
        name = r.metric if pd.isna(r.k) else f"{r.metric}_{int(r.k)}"
        out[name] = _clean(r.value)
    return {"metrics": out}, [], None


BUILDERS = {"core": _core, "sparse_probing": _sparse_probing, "scr": _scr, "tpp": _tpp, "absorption": _absorption,
            "ravel": _ravel, "unlearning": _unlearning}


def export_saebench_json(results: list[str], output: str | Path) -> list[Path]:
    """Write `<output>/<eval_type_id>/<sae>_eval_results.json` for every (SAE, task); returns the paths."""
    raw = read_many([str(r) for r in results])
    clashing = ids_on_several_models(raw)          # one id on two models: two SAEs, two files
    rows = representative(qualify_ids(raw, clashing))
    if rows.empty:
        from saebench.errors import DataError

        raise DataError(f"No metric rows under {list(map(str, results))}; nothing to export (run `saebench run` "
                        "first, or name the folder it wrote).")
    details = qualify_detail_ids(pd.concat([read_details(r) for r in results], ignore_index=True), raw, clashing)
    out = Path(output)
    written = []
    for (sae_id, task), group in rows.groupby(["sae_id", "task"], sort=True):
        group = group[group["seed"].isna()] if group["seed"].isna().any() else group
        mine = details[(details["sae_id"] == sae_id) & (details["task"] == task)]
        mine = mine[mine["params_hash"] == group["params_hash"].iloc[0]] if len(mine) else mine
        metrics, per_item, unstructured = BUILDERS.get(task, _generic)(group, mine)
        first = group.sort_values("created_at").iloc[-1]
        record = {
            "eval_type_id": EVAL_TYPE.get(task, task),
            "eval_config": json.loads(first["params_json"]) if first["params_json"] else {},
            "eval_id": first["run_id"],
            "datetime_epoch_millis": int(pd.Timestamp(first["created_at"]).timestamp() * 1000),
            "eval_result_metrics": metrics,
            "eval_result_details": per_item,
            "sae_bench_commit_hash": first["git_sha"] or "Unknown",
            "sae_lens_id": sae_id,
            "sae_lens_release_id": first["sae_source"],
            "sae_lens_version": None,
            "sae_cfg_dict": json.loads(first["sae_json"]) if first["sae_json"] else None,
            "eval_result_unstructured": unstructured,
            "saebench": {"task": task, "task_version": first["task_version"], "version": first["saebench_version"],
                         "model": first["model"], "hook": first["hook"], "dtype": first["dtype"],
                         "metrics": {(r.metric if pd.isna(r.k) else f"{r.metric}@{int(r.k)}"): _clean(r.value)
                                     for r in _overall(group).itertuples()}},
        }
        path = out / record["eval_type_id"] / page_name(sae_id).replace(".html", "_eval_results.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=1, default=str))
        written.append(path)
    return written
