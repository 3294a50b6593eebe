"""A synthetic but schema-exact results folder: several architectures, widths, L0s and seeds."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import numpy as np

from saebench.metrics import discover
from saebench.metrics.api import Details, MetricValue
from saebench.results import ResultWriter, UnitStamp

ARCHS = {"relu": 1.0, "topk": 0.8, "jumprelu": 0.7}      # fvu scale: jumprelu best, relu worst
WIDTHS = (1024, 4096)
L0S = (20.0, 50.0, 120.0)
T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)


def fvu_of(arch: str, width: int, l0: float) -> float:
    return round(ARCHS[arch] * (0.5 if width == 4096 else 0.6) * (20.0 / l0) ** 0.5, 6)


def stamp(sae_id: str, task: str, arch: str, width: int, run: str = "run-a", source: str = "fixture",
          minutes: int = 0, params_hash: str = "p1", task_version: str | None = None) -> UnitStamp:
    version = task_version or (discover().get(task).version if task in discover() else "1.0.0")
    return UnitStamp(run_id=run, created_at=T0 + timedelta(minutes=minutes), task=task, task_version=version,
                     sae_id=sae_id, sae_source=source, architecture=arch, d_in=512, d_sae=width,
                     hook="blocks.3.hook_resid_post", model="fixture-model", model_revision=None, dtype="float32",
                     device="cpu", params_json='{"n": 1}', params_hash=params_hash, seed=0, saebench_version="0.1.0",
                     git_sha="abc", sae_json=f'{{"architecture": "{arch}"}}')


def catalogue_of(task: str, with_catalogue: bool = True) -> dict | None:
    """The metric catalogue the real plugin stamps (None: rows as written before schema 5)."""
    return discover().get(task).catalogue if with_catalogue else None


def write_fixture(root, fvu_shift: dict[str, float] | None = None, drop: set[str] | None = None,
                  minutes: int = 0, run: str = "run-a", with_catalogue: bool = True,
                  params_hash: str = "p1") -> dict[str, dict]:
    """Write core (+ sparse_probing with seeds) rows; returns {sae_id: {fvu, l0, ...}}.
    `fvu_shift` adds to one SAE's fvu; `drop` omits metrics by name; `with_catalogue=False` writes rows
    without the metric catalogue (as results older than schema 5)."""
    writer = ResultWriter(root)
    core, sparse = catalogue_of("core", with_catalogue), catalogue_of("sparse_probing", with_catalogue)
    truth = {}
    for arch in ARCHS:
        for width in WIDTHS:
            for l0 in L0S:
                sae_id = f"{arch}/w{width}/l0_{int(l0)}"
                fvu = fvu_of(arch, width, l0) + (fvu_shift or {}).get(sae_id, 0.0)
                ce = 1 - fvu / 4
                metrics = [MetricValue(metric="fvu", value=fvu), MetricValue(metric="l0", value=l0, stderr=0.01),
                           MetricValue(metric="ce_loss_score", value=ce, stderr=0.002),
                           MetricValue(metric="ce_loss_increase", value=fvu / 2, stderr=0.01),
                           MetricValue(metric="kl_div_score", value=1 - fvu / 5)]
                metrics = [m for m in metrics if m.metric not in (drop or set())]
                density = np.linspace(0, 0.05, 16)
                writer.write_unit(stamp(sae_id, "core", arch, width, run, minutes=minutes, params_hash=params_hash),
                                  metrics, [Details("latent", np.arange(16), {"density": density})], 1.0,
                                  catalogue=core)
                accs = [0.7 + 0.1 * math.log10(l0) + s * 0.01 for s in (1, 2)]
                sp = [MetricValue(metric="sae_top_k_accuracy", value=a, k=1, seed=s) for s, a in zip((1, 2), accs,
                                                                                                      strict=True)]
                sp.append(MetricValue(metric="sae_top_k_accuracy", value=float(np.mean(accs)),
                                      stderr=float(np.std(accs, ddof=1) / math.sqrt(2)), n=2, k=1, seed=None))
                writer.write_unit(stamp(sae_id, "sparse_probing", arch, width, run, minutes=minutes,
                                        params_hash=params_hash), sp, [], 1.0, catalogue=sparse)
                truth[sae_id] = {"fvu": fvu, "l0": l0, "arch": arch, "width": width, "sp": float(np.mean(accs))}
    pca = [MetricValue(metric="fvu", value=0.3), MetricValue(metric="l0", value=64.0),
           MetricValue(metric="ce_loss_score", value=0.9)]
    writer.write_unit(stamp("baseline/pca64", "core", "pca", 64, run, source="baseline:pca", minutes=minutes,
                            params_hash=params_hash), pca, [], 1.0, catalogue=core)
    return truth
