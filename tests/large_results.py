"""A schema-exact results folder of a large sweep (default 10,000 SAEs: 2 models x 5 hooks x 4 widths x 5
architectures x 50 L0s), written as one Parquet part per task so it takes seconds, for the site's scale test."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from saebench.metrics.api import MetricValue
from tests.results_fixture import catalogue_of, stamp

MODELS = ("gemma-2-2b", "pythia-160m")
HOOKS = tuple(f"blocks.{layer}.hook_resid_post" for layer in (3, 6, 9, 12, 15))
WIDTHS = (4096, 16384, 65536, 131072)
ARCHS = {"relu": 1.0, "topk": 0.8, "jumprelu": 0.7, "batchtopk": 0.75, "matryoshka_batchtopk": 0.78}


def write_large_results(root: str | Path, n_l0: int = 50) -> int:
    """Write core and sparse_probing rows for len(MODELS) * len(HOOKS) * len(WIDTHS) * len(ARCHS) * n_l0 SAEs;
    returns how many. Values are smooth in L0 and width, with seeded noise, so frontiers and best marks are real."""
    from saebench.results.writer import metrics_table

    rng = np.random.default_rng(0)
    core_cat, sp_cat = catalogue_of("core"), catalogue_of("sparse_probing")
    core_parts, sp_parts = [], []
    l0s = np.geomspace(10, 400, n_l0)
    count = 0
    for model, hook, width, arch, l0 in itertools.product(MODELS, HOOKS, WIDTHS, ARCHS, l0s):
        sae_id = f"{model}/{hook.split('.')[1]}/{arch}/w{width}/l0_{l0:.1f}"
        fvu = ARCHS[arch] * (4096 / width) ** 0.15 * (10 / l0) ** 0.5 * 0.4 + rng.normal(0, 0.002)
        s = replace(stamp(sae_id, "core", arch, width), model=model, hook=hook)
        core_parts.append(metrics_table(s, [
            MetricValue(metric="fvu", value=float(fvu)), MetricValue(metric="l0", value=float(l0)),
            MetricValue(metric="ce_loss_score", value=float(1 - fvu / 3), stderr=0.002),
            MetricValue(metric="ce_loss_increase", value=float(fvu / 2), stderr=0.004),
            MetricValue(metric="kl_div_score", value=float(1 - fvu / 3.5), stderr=0.002)], 1.0, core_cat))
        sp = replace(stamp(sae_id, "sparse_probing", arch, width), model=model, hook=hook)
        acc = 0.7 + 0.05 * math.log10(l0) + rng.normal(0, 0.01)
        sp_parts.append(metrics_table(sp, [MetricValue(metric="sae_top_k_accuracy", value=float(acc), stderr=0.01,
                                                       k=1)], 1.0, sp_cat))
        count += 1
    for task, parts in (("core", core_parts), ("sparse_probing", sp_parts)):
        folder = Path(root) / "metrics" / f"task={task}"
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.concat_tables(parts), folder / "part-large.parquet")
    return count
