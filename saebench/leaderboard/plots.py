"""Metric-vs-L0 plots as inline SVG (matplotlib): one series per architecture, error bars, each
architecture's Pareto frontier, and baselines (identity/PCA/random/...) as reference lines."""

from __future__ import annotations

import io
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullFormatter  # noqa: E402

from saebench.frontier import frontier  # noqa: E402
from saebench.leaderboard.data import Column  # noqa: E402


def _svg(fig) -> str:
    """The figure as inline SVG; text stays text (not glyph paths): smaller files, editable labels in papers."""
    buf = io.StringIO()
    with plt.rc_context({"svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]          # drop the XML prolog and doctype: inline SVG


BASELINE_DASHES = ("--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3)), (0, (8, 3)))   # 12 distinct with 2 greys


def plain_log_ticks(ax, l0: np.ndarray) -> None:
    """Log-axis tick labels as plain numbers (8, 10, 20, 100), never 8×10^0; over less than a decade and a half
    the in-between ticks are labelled too."""
    plain = FuncFormatter(lambda v, _pos: f"{v:g}")
    ax.xaxis.set_major_formatter(plain)
    finite = l0[np.isfinite(l0) & (l0 > 0)]
    narrow = len(finite) and finite.max() / finite.min() < 30
    ax.xaxis.set_minor_formatter(plain if narrow else NullFormatter())


def metric_vs_l0(saes: pd.DataFrame, col: Column, title: str | None = None) -> str | None:
    """SVG of `col` against L0, or None when no SAE has both. Over 500 points of a series are drawn as one
    scatter without error bars (an SVG of thousands of error bars is megabytes)."""
    data = saes[saes[col.key].notna() & saes["l0"].notna() & (saes["l0"] > 0)]
    trained = data[~data["is_baseline"]]
    baselines = data[data["is_baseline"]]
    if trained.empty and baselines.empty:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    archs = sorted({str(a) for a in saes.loc[~saes["is_baseline"], "architecture"].dropna()})
    color = {a: palette[i % len(palette)] for i, a in enumerate(archs)}      # the same colour in every plot
    for arch, group in sorted(trained.groupby("architecture"), key=lambda g: str(g[0])):
        c = color[str(arch)]
        se = group[col.key + ":se"].to_numpy(dtype=float)
        if len(group) > 500:
            ax.scatter(group["l0"], group[col.key], s=4, color=c, label=str(arch), alpha=0.6, rasterized=True)
        else:
            ax.errorbar(group["l0"], group[col.key], yerr=np.where(np.isfinite(se), se, 0), fmt="o", color=c,
                        label=str(arch), capsize=3, markersize=5, alpha=0.85)
        if len(group) > 1 and col.higher_is_better is not None:
            xs, ys = frontier(group["l0"].to_numpy(dtype=float), group[col.key].to_numpy(dtype=float),
                              col.higher_is_better)
            ax.step(xs, ys, where="post", color=c, linewidth=1.2, alpha=0.9)
    for j, b in enumerate(baselines.head(12).itertuples()):     # 12 distinct styles; more would repeat
        value = data.loc[b.Index, col.key]
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        ax.axhline(value, color=("0.25", "0.55")[(j // len(BASELINE_DASHES)) % 2],
                   linestyle=BASELINE_DASHES[j % len(BASELINE_DASHES)], linewidth=1, label=f"baseline {b.sae_id}")
    ax.set_xscale("log")
    plain_log_ticks(ax, data["l0"].to_numpy(dtype=float))
    ax.set_xlabel("L0 (active latents per token, log scale)")
    direction = {True: " (higher is better)", False: " (lower is better)", None: ""}[col.higher_is_better]
    ax.set_ylabel(col.label + direction)
    ax.set_title(title or f"{col.task}: {col.label} vs L0", fontsize=9)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)   # beside, not on, data
    return _svg(fig)


def density_histogram(density: np.ndarray) -> str:
    """Histogram of log10 per-latent firing density (dead latents counted apart)."""
    alive = density[density > 0]
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    if len(alive):
        ax.hist(np.log10(alive), bins=40, color="#4472c4")
    ax.set_xlabel("log10 firing density")
    ax.set_ylabel("latents")
    ax.set_title(f"latent density ({int((density <= 0).sum())} dead of {len(density)})")
    return _svg(fig)
