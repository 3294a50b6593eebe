"""Write the static leaderboard: index.html, one page per SAE, static SVG plots, validity.html.

index.html is a shell (header, notices, empty table and explorer) with the board's data embedded as JSON
(`payload.py`) and the page's own script (`static/app.js`, inlined) that renders it; every page links the one
`style.css` at the site root, so the folder works opened from disk and served, with no server, no CDN and no
network. Every string from a result
file reaches HTML through `html.escape` (server side) or as JSON data set with textContent (page side).
"""

from __future__ import annotations

import json
import logging
import shutil
from datetime import datetime, timezone
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd

import saebench
from saebench.leaderboard.annotations import installed_versions, report_folders
from saebench.leaderboard.data import Board, Column, fmt, load_board, page_name
from saebench.leaderboard.payload import build_payload, embed
from saebench.leaderboard.plots import density_histogram, metric_vs_l0
from saebench.progress import progress

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"


def e(value) -> str:
    """Escaped text for HTML (also safe inside double-quoted attributes)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return escape(str(value), quote=True)


def _page(title: str, body: str, script: str = "", root: str = "") -> str:
    """A page linking the site's one stylesheet (`style.css` at the site root; `root` is the way up to it)."""
    js = f"<script>\n{script}\n</script>" if script else ""
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{e(title)}</title><link rel="stylesheet" href="{root}style.css"></head>\n'
            f"<body>\n{body}\n{js}\n</body></html>\n")


def _num_cell(value, stderr=None, setting=None) -> str:
    v = "" if value is None or (isinstance(value, float) and np.isnan(value)) else repr(float(value))
    tag = (f' <sup class="setting" title="computed with setting {e(setting)} of this task">{e(setting)}</sup>'
           if setting and v else "")
    return f'<td class="num" data-value="{e(v)}">{e(fmt(value, stderr))}{tag}</td>'


CONTROLS = """
<section id="filters" aria-label="filters"></section>
<section id="view-controls"><details id="column-chooser"><summary>Columns</summary><div id="column-list"></div>
</details><span class="meta">showing <b id="shown">…</b> of <span id="total">…</span> SAEs
<span id="page-note"></span></span> <button type="button" id="share">Copy link to this view</button>
<button type="button" id="download-csv">Download the shown SAEs (CSV)</button></section>
<div class="scroll" id="table-scroll"><table id="board"><thead></thead><tbody></tbody></table></div>
<p><button type="button" id="more" hidden>Show more rows</button></p>
<section id="compare" hidden><h2>Compare selected SAEs <button type="button" id="compare-clear">clear</button>
</h2><div class="scroll" id="compare-table"></div></section>
<h2 id="explore">Explore</h2>
<section id="plot-controls"></section>
<p class="meta" id="plot-legend"></p>
<section id="plots" class="plots"></section>
<div id="tooltip" role="tooltip" hidden></div>
"""


def _index(board: Board, title: str, sources: list[str], payload: dict, static_plots: dict[str, str],
           validity_link: bool) -> str:
    saes = board.saes
    validity = (' <a href="validity.html">Validity report</a>: which metrics separate trained SAEs from controls.'
                if validity_link else "")
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    figures = "".join(f'<figure><a href="{e(path)}"><img loading="lazy" src="{e(path)}" alt="{e(caption)}">'
                      f'</a><figcaption class="meta">{e(caption)} (<a href="{e(path)}" download>SVG</a>)'
                      f"</figcaption></figure>" for caption, path in static_plots.items())
    static = (f"<details id=\"static-plots\"><summary>Static plots ({len(static_plots)} SVG files, for papers): "
              f"each metric against L0 per model and hook, one series per architecture with its Pareto frontier, "
              f"baselines as reference lines, standard-error bars</summary>"
              f"<section class=\"plots\">{figures}</section></details>"
              if static_plots else "")
    reports = payload["reports"]
    checked = (f" Validity verdicts (✓ separates trained SAEs from controls, ✗ does not, ~ mixed, · not established) "
               f"come from {e(', '.join(reports))}." if reports else
               " No validity report was given, so no column carries a verdict (· not established).")
    body = (f"<header><h1>{e(title)}</h1><p class=\"meta\">{len(saes)} SAEs from {e(', '.join(sources))}; "
            f"generated {generated} by saebench {e(saebench.__version__)}. ↑ higher is better, ↓ lower is better; "
            f"± is a standard error where the results carry one. Green cells are indistinguishable from the best "
            f"shown SAE of their model, hook and setting (within 2σ, σ = the larger of the standard error and the "
            f"measured noise floor); the best is bold. Click a column to sort; the URL keeps the view."
            f"{checked}{validity}</p>"
            f"<noscript><p class=\"warn\">The table and plots need JavaScript; without it, read "
            f"<a href=\"leaderboard.json\">leaderboard.json</a> and the static plots below.</p></noscript>"
            f"</header>{_settings_warning(board)}{CONTROLS}{static}"
            f'<script type="application/json" id="board-data">{embed(payload)}</script>')
    return _page(title, body, (STATIC / "app.js").read_text())


def _settings_warning(board: Board) -> str:
    """A notice naming every task whose SAEs were evaluated with different parameters."""
    if not board.settings:
        return ""
    parts = []
    for task, labels in board.settings.items():
        shown = "; ".join(f"{lab}: {n} SAE{'s' if n != 1 else ''}, params {h[:8]}" for lab, h, n in labels)
        parts.append(f"<b>{e(task)}</b> ({e(shown)})")
    return ('<p class="warn" id="mixed-settings">Different settings in one column: ' + ", ".join(parts)
            + ". Values computed with different parameters are not comparable; each value carries its setting's "
            "letter, and the filters keep one setting.</p>")


def _table(frame: pd.DataFrame, numeric: set[str]) -> str:
    return _rows_table(list(frame.columns), frame.itertuples(index=False), numeric)


def _rows_table(columns: list[str], rows, numeric: set[str]) -> str:
    """An HTML table of `rows` (sequences in the order of `columns`); numeric columns right-aligned."""
    head = "".join(f"<th>{e(c)}</th>" for c in columns)
    out = []
    for r in rows:
        cells = [_num_cell(v) if c in numeric else f"<td>{e(v)}</td>" for c, v in zip(columns, r, strict=True)]
        out.append(f"<tr>{''.join(cells)}</tr>")
    return f"<div class=\"scroll\"><table><thead><tr>{head}</tr></thead><tbody>{''.join(out)}</tbody></table></div>"


def _details_html(details: pd.DataFrame) -> str:
    parts = []
    for (task, table), group in details.groupby(["task", "table"], sort=True):
        if task == "core" and table == "latent":
            density = group[group["field"] == "density"].sort_values("item")["value"].to_numpy(dtype=float)
            if len(density):
                parts.append(f"<h3>{e(task)} / per-latent density</h3><figure>{density_histogram(density)}</figure>")
            continue
        # one row per (item, label) present (a pivot with dropna=False would build their product: blank rows)
        wide = group.groupby(["item", "label", "field"], dropna=False, sort=True)["value"].mean().unstack("field")
        wide = wide.reset_index().drop(columns="item")
        if wide["label"].isna().all():
            wide = wide.drop(columns="label")
        shown = wide.head(200)
        note = f" (first 200 of {len(wide)})" if len(wide) > 200 else ""
        numeric = {c for c in shown.columns if c != "label"}
        parts.append(f"<h3>{e(task)} / {e(table)}{e(note)}</h3>{_table(shown, numeric)}")
    return "".join(parts) or NO_DETAILS


NO_DETAILS = "<p class=\"meta\">No details tables.</p>"
METRIC_FIELDS = ["task", "metric", "subset", "k", "seed", "value", "stderr", "n"]
PROVENANCE = ("task_version", "run_id", "created_at", "saebench_version", "git_sha", "model_revision", "dtype",
              "device", "duration_s", "params_hash")


def _sae_page(sae: dict, rows: list[dict], details: pd.DataFrame, columns: list[Column]) -> str:
    """One SAE's page from its own metric rows (dicts, sorted by task, metric, subset, k) and details rows."""
    facts = [("model", sae["model"]), ("hook", sae["hook"]), ("architecture", sae["architecture"]),
             ("d_in", sae["d_in"]), ("d_sae", sae["d_sae"]), ("source", sae["sae_source"])]
    head = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in facts)
    headline = "".join(f"<tr><th>{e(c.task)}/{e(c.label)} {c.arrow}</th>"
                       f"{_num_cell(sae.get(c.key), sae.get(c.key + ':se'))}</tr>" for c in columns)
    metrics = _rows_table(METRIC_FIELDS, ([r[f] for f in METRIC_FIELDS] for r in rows),
                          {"k", "seed", "value", "stderr", "n"})
    runs: dict[tuple, dict] = {}
    for r in rows:
        runs.setdefault((r["task"], r["run_id"]), r)
    prov = []
    for (task, _run), first in sorted(runs.items()):
        params = json.dumps(json.loads(first["params_json"]), indent=1, sort_keys=True) if first["params_json"] else ""
        prov.append(f"<h3>{e(task)}</h3><table>"
                    + "".join(f"<tr><th>{e(k)}</th><td>{e(first[k])}</td></tr>" for k in PROVENANCE)
                    + f"</table><details><summary>params</summary><pre>{e(params)}</pre></details>")
    sae_json = [r["sae_json"] for r in sorted(rows, key=lambda r: r["created_at"]) if r["sae_json"]]
    described = json.dumps(json.loads(sae_json[-1]), indent=1, sort_keys=True) if sae_json else ""
    body = (f'<p><a href="../index.html">← leaderboard</a></p><h1>{e(sae["sae_id"])}</h1>'
            f"<table>{head}</table><h2>Headline metrics</h2><table>{headline}</table>"
            f"<h2>All metrics</h2>{metrics}"
            f"<h2>Provenance</h2>{''.join(prov)}<details><summary>SAE description</summary><pre>{e(described)}</pre>"
            f"</details><h2>Details</h2>{_details_html(details) if len(details) else NO_DETAILS}"
            f'<p><a href="../index.html">← leaderboard</a></p>')
    return _page(f"{sae['sae_id']} — saebench", body, root="../")


def _rows_by_sae(rows: pd.DataFrame) -> dict[str, list[dict]]:
    """Metric rows as dicts per SAE, each SAE's sorted by task, metric, subset, k (missing first)."""
    ordered = rows.sort_values(["sae_id", "task", "metric", "subset", "k"], na_position="first", kind="stable")
    out: dict[str, list[dict]] = {}
    for r in ordered[METRIC_FIELDS + ["sae_id", *PROVENANCE, "params_json", "sae_json"]].to_dict("records"):
        out.setdefault(r["sae_id"], []).append({k: (None if isinstance(v, float) and np.isnan(v) else v)
                                               for k, v in r.items()})
    return out


def build_site(results: list[str], output: str | Path, title: str = "saebench leaderboard",
               validity: list[str] | None = None, static_plots: bool = True) -> Path:
    """Build the site from result folders into `output`; returns the index path. `validity`: more validity report
    folders (each result folder's own `report/` is always used); `static_plots=False` skips the SVG files."""
    board = load_board([str(r) for r in results])
    reports = report_folders([str(r) for r in results], validity)
    out = Path(output)
    (out / "sae").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(STATIC / "style.css", out / "style.css")        # one stylesheet for every page
    plots = _static_plots(board, out) if static_plots else {}
    payload = build_payload(board, reports, installed_versions())
    index = out / "index.html"
    index.write_text(_index(board, title, [str(r) for r in results], payload, plots, bool(reports)),
                     encoding="utf-8")
    rows_of = _rows_by_sae(board.rows)
    details_of = dict(tuple(board.details.groupby("sae_id", sort=False))) if not board.details.empty else {}
    for sae in progress(board.saes.to_dict("records"), desc="SAE pages", unit="page"):
        page = _sae_page(sae, rows_of[sae["sae_id"]], details_of.get(sae["sae_id"], board.details.iloc[0:0]),
                         board.columns)
        (out / "sae" / sae["page"]).write_text(page, encoding="utf-8")
    (out / "leaderboard.json").write_text(board.saes.to_json(orient="records", indent=1), encoding="utf-8")
    if reports:
        (out / "validity.html").write_text(_validity_page(reports, title), encoding="utf-8")
    log.info("leaderboard: %d SAEs, %d static plots -> %s", len(board.saes), len(plots), index)
    return index


def _static_plots(board: Board, out: Path) -> dict[str, str]:
    """One SVG file per (model, hook, headline metric) under plots/: caption -> path relative to the site."""
    folder = out / "plots"
    folder.mkdir(exist_ok=True)
    for old in folder.glob("*.svg"):
        old.unlink()
    plots = {}
    panels = list(board.saes.groupby(["model", "hook"], sort=True))
    for (model, hook), saes in progress(panels, desc="static plots", unit="panel"):
        for col in board.columns:
            if col.metric == "l0":
                continue
            svg = metric_vs_l0(saes, col, title=f"{model} · {hook} — {col.task}: {col.label} vs L0")
            if svg is None:
                continue
            name = page_name(f"{model}/{hook}/{col.key}").replace(".html", ".svg")
            (folder / name).write_text(svg, encoding="utf-8")
            plots[f"{model} · {hook}: {col.key}"] = f"plots/{name}"
    return plots


def _validity_page(reports: list[Path], title: str) -> str:
    """The validity report(s) of the result folders (`saebench validity`): per metric, trained SAEs vs
    controls in noise units and the verdict; known-answer SAEs beside their base."""
    parts = [f"<header><h1>{e(title)}: validity</h1><p class=\"meta\"><a href=\"index.html\">leaderboard</a>. "
             "Does each metric separate trained SAEs from diagnostic controls by more than its measured noise? "
             "Separations (sep:) in noise sigma, positive = the trained SAEs are better; a verdict needs >= 3 "
             "sigma from every sparsity-matched random and permuted-decoder control.</p></header>"]
    for report in reports:
        table = pd.read_parquet(report / "validity.parquet").drop(columns=["trained_min", "trained_max"],
                                                                  errors="ignore")
        numeric = {c for c in table.columns if pd.api.types.is_float_dtype(table[c])}
        parts.append(f"<h2>{e(str(report.parent))}</h2>{_table(table, numeric)}")
        known = report / "known_answers.parquet"
        if known.is_file():
            k = pd.read_parquet(known)
            parts.append("<h3>Known-answer SAEs beside their base</h3>"
                         + _table(k, {c for c in k.columns if pd.api.types.is_float_dtype(k[c])}))
    return _page(f"{title}: validity", "".join(parts))
