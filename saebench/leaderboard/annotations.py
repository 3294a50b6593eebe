"""What the leaderboard says about a headline column besides its values: the validity verdict of the model-organism
reports, the measured noise floor, parity with SAEBench / SAE Lens, and contested or superseded status.

Everything here is read from result folders and their `report/` (written by `saebench validity`) or from tables
kept next to the parity tests' own docstrings; nothing is inferred from the values shown."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from saebench.leaderboard.data import Column
from saebench.results import read_many

log = logging.getLogger(__name__)

MEANINGFUL = ("separates", "does not separate", "wrong direction")

# Parity with the tool whose name a metric carries (tests/parity); anything not listed is saebench's own metric.
_CORE_EQUAL = ("ce_loss_score", "ce_loss_with_ablation", "ce_loss_with_sae", "ce_loss_without_sae", "kl_div_score",
               "kl_div_with_ablation", "kl_div_with_sae", "explained_variance", "mse", "cossim", "l2_norm_in",
               "l2_norm_out", "l2_ratio", "relative_reconstruction_bias", "l0", "l1")   # test_core_parity.COMPARED
PARITY: dict[tuple[str, str], tuple[str, str]] = {
    **{("core", m): ("equal", "SAEBench 0.6.0's core definition, equal value by value on identical inputs "
                              "(tests/parity/test_core_parity.py; core >= 2.0.0)") for m in _CORE_EQUAL},
    ("sparse_probing", "sae_top_k_accuracy"): (
        "setting", "SAEBench's top-k probe; equal within SAEBench's seed spread with val_fraction=0 "
        "(tests/parity/test_sparse_probing_parity.py); the default val_fraction trains on fewer rows"),
    ("sparse_probing", "llm_top_k_accuracy"): (
        "setting", "SAEBench's top-k probe on the LM's activations; equal within its seed spread with "
        "val_fraction=0 (tests/parity/test_sparse_probing_parity.py)"),
    ("scr", "scr"): ("within seeds", "SAEBench's SCR metric; within SAEBench's seed spread in 9 of 10 parity "
                                     "fields (tests/parity/test_scr_parity.py); undefined scores are null, not 0"),
    ("tpp", "tpp"): ("within seeds", "SAEBench's TPP total metric; within its seed spread "
                                     "(tests/parity/test_tpp_parity.py)"),
    **{("absorption", m): ("within seeds", "SAEBench's absorption definition (absorption >= 2.0.0); within its "
                                           "seed spread (tests/parity/test_absorption_parity.py)")
       for m in ("mean_absorption_fraction_score", "mean_full_absorption_score", "mean_num_split_features")},
    **{("ravel", m): ("within seeds", "SAEBench's RAVEL with the `saebench` definition; within its seed spread "
                                      "(tests/parity/test_ravel_parity.py)")
       for m in ("disentanglement_score", "cause_score", "isolation_score")},
    ("unlearning", "unlearning_score"): (
        "components", "SAEBench's score; every step with identical inputs equal (selection, clamp, score: "
        "tests/parity/test_unlearning_parity.py); the end-to-end run needs Gemma-2-it and a gated corpus"),
    **{("ground_truth", m): ("equal", "SAE Lens's sae_lens.synthetic.evals definition, equal field by field "
                                      "(tests/parity/test_ground_truth_parity.py)") for m in ("mcc", "f1")},
}
OWN = ("own", "saebench's own metric (no SAEBench field of this name); its definition is in the plugin README")

CONTESTED_TASKS = {
    "scr": "Contested: an independent 2026 audit (Chanin, 'Are Sparse Autoencoder Benchmarks Reliable?') found SCR "
           "and TPP unreliable at their canonical settings",
    "tpp": "Contested: an independent 2026 audit (Chanin, 'Are Sparse Autoencoder Benchmarks Reliable?') found SCR "
           "and TPP unreliable at their canonical settings",
}


@dataclass(frozen=True)
class Verdict:
    """One model-organism report's verdict on one headline column."""

    report: str
    verdict: str
    sigma: float | None
    n_trained: int


def _key(task: str, metric: str, k) -> str:
    missing = k is None or (isinstance(k, float) and math.isnan(k))
    return f"{task}/{metric}" + ("" if missing else f"@{int(k)}")


def report_folders(results: list[str], extra: list[str] | None = None) -> list[Path]:
    """Validity report folders: each result folder's own `report/` plus the ones named (a report folder or a
    result folder holding one). A named folder without `validity.parquet` is an error naming it."""
    found = [Path(r) / "report" for r in results if (Path(r) / "report" / "validity.parquet").is_file()]
    for name in extra or []:
        path = Path(name)
        folder = path if (path / "validity.parquet").is_file() else path / "report"
        if not (folder / "validity.parquet").is_file():
            from saebench.errors import DataError

            raise DataError(f"--validity {name}: no validity.parquet in it or in its report/ (write one with "
                            "`saebench validity RESULTS`)")
        if folder.resolve() not in {f.resolve() for f in found}:
            found.append(folder)
    return found


def read_verdicts(reports: list[Path], names: dict[Path, str]) -> dict[str, list[Verdict]]:
    """Column key -> the verdict of every report that judged it."""
    out: dict[str, list[Verdict]] = {}
    for report in reports:
        for r in _read_report(report).itertuples():
            sigma = None if pd.isna(r.sigma) else float(r.sigma)
            n = 0 if pd.isna(r.n_trained) else int(r.n_trained)
            out.setdefault(_key(r.task, r.metric, r.k), []).append(Verdict(names[report], str(r.verdict), sigma, n))
    return out


def _read_report(report: Path) -> pd.DataFrame:
    """A report's validity table; `k`, `sigma` and `n_trained` may be absent (then missing), the rest may not."""
    table = pd.read_parquet(report / "validity.parquet")
    missing = [c for c in ("task", "metric", "verdict") if c not in table.columns]
    if missing:
        from saebench.errors import DataError

        raise DataError(f"{report / 'validity.parquet'} lacks {missing} (columns: {list(table.columns)}); "
                        "rewrite it with `saebench validity`")
    for optional in ("k", "sigma", "n_trained"):
        if optional not in table.columns:
            table[optional] = None
    return table


def noise_floors(reports: list[Path], names: dict[Path, str]) -> dict[str, dict[str, float]]:
    """Model -> column key -> the seed-noise sigma a report measured for that model's SAEs. A report applies only
    to the model(s) of its own results folder (its parent): noise measured on one model says nothing of another.
    Where two reports measured one model, the larger sigma is kept (the conservative floor)."""
    out: dict[str, dict[str, float]] = {}
    for report in reports:
        parent = report.parent
        if not (parent / "metrics").is_dir():
            log.info("validity report %s: its results folder is not here, so its noise floor applies to no model",
                     names[report])
            continue
        models = sorted(set(read_many([str(parent)])["model"].dropna()))
        for r in _read_report(report).itertuples():
            if pd.isna(r.sigma):
                continue
            for model in models:
                floors = out.setdefault(model, {})
                key = _key(r.task, r.metric, r.k)
                floors[key] = max(floors.get(key, 0.0), float(r.sigma))
    return out


def summarise(verdicts: list[Verdict]) -> tuple[str, str]:
    """(short verdict, explanation) for one column across reports: 'separates' when every report with a verdict
    says so, 'does not separate' when none does, 'mixed' otherwise; 'not established' without any verdict."""
    if not verdicts:
        return "not established", "No validity report judged this metric."
    lines = "; ".join(f"{v.report}: {v.verdict}" + (f" (noise sigma {v.sigma:.3g}, {v.n_trained} trained SAEs)"
                                                    if v.sigma is not None else "") for v in verdicts)
    meaningful = [v.verdict for v in verdicts if v.verdict in MEANINGFUL]
    if not meaningful:
        return "not established", lines
    if all(v == "separates" for v in meaningful):
        return "separates", lines
    if not any(v == "separates" for v in meaningful):
        return "does not separate", lines
    return "mixed", lines


def parity(col: Column, rows: pd.DataFrame) -> tuple[str, str]:
    """(kind, note) on whether this column's values are what SAEBench / SAE Lens compute under the name."""
    kind, note = PARITY.get((col.task, col.metric), OWN)
    if col.task == "core" and kind == "equal":
        old = rows[(rows["task"] == "core") & rows["task_version"].astype(str).str.match(r"^[01]\.")]
        if len(old):
            note += f"; {old['sae_id'].nunique()} SAE(s) here have core 1.x rows, another definition"
    return kind, note


def status(col: Column) -> tuple[str | None, str]:
    """('contested', why) for metrics whose reliability is publicly disputed, else (None, '')."""
    if col.task in CONTESTED_TASKS:
        return "contested", CONTESTED_TASKS[col.task]
    return None, ""


def installed_versions() -> dict[str, str]:
    """Task -> the installed plugin's version (values from an older major version are marked superseded)."""
    from saebench.metrics import PLUGINS, discover

    discover()
    return {name: info.version for name, info in PLUGINS.items()}


def superseded(task_version: str | None, installed: str | None) -> bool:
    """True when a value comes from an older major version of its task than the installed plugin."""
    if not task_version or not installed:
        return False
    try:
        return int(str(task_version).split(".")[0]) < int(str(installed).split(".")[0])
    except ValueError:
        return False
