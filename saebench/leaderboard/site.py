"""Write the static leaderboard: index.html (table, filters, plots) and one page per SAE.

Self-contained: CSS, JavaScript and SVG plots are inlined, so pages work opened from disk and served,
with no server and no CDN. Every string that came from a result file goes through `html.escape`.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd

import saebench
from saebench.leaderboard.data import Board, Column, fmt, load_board
from saebench.leaderboard.plots import density_histogram, metric_vs_l0

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
FILTERS = (("model", "model"), ("hook", "hook"), ("architecture", "architecture"), ("width", "d_sae"))


def e(value) -> str:
    """Escaped text for HTML (also safe inside double-quoted attributes)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return escape(str(value), quote=True)


def _page(title: str, body: str, script: str = "") -> str:
    css = (STATIC / "style.css").read_text()
    js = f"<script>\n{script}\n</script>" if script else ""
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{e(title)}</title><style>\n{css}</style></head>\n<body>\n{body}\n{js}\n</body></html>\n")


def _num_cell(value, stderr=None, setting=None) -> str:
    v = "" if value is None or (isinstance(value, float) and np.isnan(value)) else repr(float(value))
    tag = (f' <sup class="setting" title="computed with setting {e(setting)} of this task">{e(setting)}</sup>'
           if setting and v else "")
    return f'<td class="num" data-value="{e(v)}">{e(fmt(value, stderr))}{tag}</td>'


def _index(board: Board, title: str, sources: list[str], plots: dict[str, str]) -> str:
    saes = board.saes
    validity = (' <a href="validity.html">Validity report</a>: which metrics separate trained SAEs from controls.'
                if any((Path(src) / "report" / "validity.parquet").is_file() for src in sources) else "")
    filters = []
    for label, field in FILTERS:
        values = sorted({str(v) for v in saes[field].dropna()}, key=lambda s: (len(s), s))
        options = "".join(f'<option value="{e(v)}">{e(v)}</option>' for v in values)
        filters.append(f'<label>{e(label)}<select data-filter="{e(label)}"><option value="">all</option>'
                       f"{options}</select></label>")
    for task, labels in board.settings.items():        # mixed settings: a filter per such task
        options = "".join(f'<option value="{e(lab)}">{e(lab)} ({n} SAEs)</option>' for lab, _h, n in labels)
        filters.append(f'<label>{e(task)} setting<select data-filter="setting-{e(task)}">'
                       f'<option value="">all</option>{options}</select></label>')
    filters.append('<label>SAE id<input id="search" type="search" placeholder="filter by id"></label>')
    head = ['<th data-type="text">SAE</th>', '<th data-type="text">model</th>', '<th data-type="text">hook</th>',
            '<th data-type="text">architecture</th>', '<th data-type="num">width</th>']
    for col in board.columns:
        head.append(f'<th data-type="num" title="{e(col.description)}">{e(col.label)} {col.arrow}'
                    f'<br><span class="meta">{e(col.task)}</span></th>')
    body_rows = []
    for vals in saes.to_dict("records"):
        cls = ' class="baseline"' if vals["is_baseline"] else ""
        attrs = (f' data-sae="{e(vals["sae_id"])}" data-model="{e(vals["model"])}" data-hook="{e(vals["hook"])}"'
                 f' data-architecture="{e(vals["architecture"])}" data-width="{e(vals["d_sae"])}"'
                 + "".join(f' data-setting-{e(t)}="{e(vals.get(t + ":setting"))}"' for t in board.settings))
        cells = [f'<td data-value="{e(vals["sae_id"])}"><a href="sae/{e(vals["page"])}">{e(vals["sae_id"])}</a></td>',
                 f"<td>{e(vals['model'])}</td>", f"<td>{e(vals['hook'])}</td>", f"<td>{e(vals['architecture'])}</td>",
                 _num_cell(vals["d_sae"])]
        cells += [_num_cell(vals.get(c.key), vals.get(c.key + ":se"), vals.get(c.task + ":setting")
                            if c.task in board.settings else None) for c in board.columns]
        body_rows.append(f"<tr{cls}{attrs}>{''.join(cells)}</tr>")
    figures = "".join(f"<figure>{svg}<figcaption class=\"meta\">{e(key)}</figcaption></figure>"
                      for key, svg in plots.items())
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = (f"<header><h1>{e(title)}</h1><p class=\"meta\">{len(saes)} SAEs from {e(', '.join(sources))}; "
            f"generated {generated} by saebench {e(saebench.__version__)}. ↑ higher is better, ↓ lower is better; "
            f"± is a standard error where the results carry one. Click a column to sort.{validity}</p></header>"
            f"{_settings_warning(board)}"
            f"<section id=\"filters\">{''.join(filters)}<span class=\"meta\">showing <b id=\"shown\">"
            f"{len(saes)}</b> of {len(saes)}</span></section>"
            f"<div class=\"scroll\"><table id=\"board\"><thead><tr>{''.join(head)}</tr></thead><tbody>"
            f"{''.join(body_rows)}</tbody></table></div>"
            f"<h2>Metrics against L0</h2><p class=\"meta\">One series per architecture with its Pareto frontier "
            f"(step line); baselines as horizontal reference lines; error bars are standard errors.</p>"
            f"<section class=\"plots\">{figures}</section>")
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
    head = "".join(f"<th>{e(c)}</th>" for c in frame.columns)
    rows = []
    for r in frame.itertuples(index=False):
        cells = []
        for c, v in zip(frame.columns, r, strict=True):
            cells.append(_num_cell(v) if c in numeric else f"<td>{e(v)}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return f"<div class=\"scroll\"><table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"


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
    return "".join(parts) or "<p class=\"meta\">No details tables.</p>"


def _sae_page(board: Board, sae: dict, columns: list[Column]) -> str:
    rows = board.rows[board.rows["sae_id"] == sae["sae_id"]].copy()
    facts = [("model", sae["model"]), ("hook", sae["hook"]), ("architecture", sae["architecture"]),
             ("d_in", sae["d_in"]), ("d_sae", sae["d_sae"]), ("source", sae["sae_source"])]
    head = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in facts)
    headline = "".join(f"<tr><th>{e(c.task)}/{e(c.label)} {c.arrow}</th>"
                       f"{_num_cell(sae.get(c.key), sae.get(c.key + ':se'))}</tr>" for c in columns)
    metrics = rows.sort_values(["task", "metric", "subset", "k"], na_position="first")[
        ["task", "metric", "subset", "k", "seed", "value", "stderr", "n"]]
    prov = []
    for (task, _run), g in rows.groupby(["task", "run_id"], sort=True):
        first = g.iloc[0]
        params = json.dumps(json.loads(first["params_json"]), indent=1, sort_keys=True) if first["params_json"] else ""
        prov.append(f"<h3>{e(task)}</h3><table>"
                    + "".join(f"<tr><th>{e(k)}</th><td>{e(first[k])}</td></tr>" for k in
                              ("task_version", "run_id", "created_at", "saebench_version", "git_sha", "model_revision",
                               "dtype", "device", "duration_s", "params_hash"))
                    + f"</table><details><summary>params</summary><pre>{e(params)}</pre></details>")
    sae_json = rows["sae_json"].dropna()
    described = json.dumps(json.loads(sae_json.iloc[-1]), indent=1, sort_keys=True) if len(sae_json) else ""
    details = board.details[board.details["sae_id"] == sae["sae_id"]] if not board.details.empty else board.details
    body = (f'<p><a href="../index.html">← leaderboard</a></p><h1>{e(sae["sae_id"])}</h1>'
            f"<table>{head}</table><h2>Headline metrics</h2><table>{headline}</table>"
            f"<h2>All metrics</h2>{_table(metrics, {'k', 'seed', 'value', 'stderr', 'n'})}"
            f"<h2>Provenance</h2>{''.join(prov)}<details><summary>SAE description</summary><pre>{e(described)}</pre>"
            f"</details><h2>Details</h2>{_details_html(details)}"
            f'<p><a href="../index.html">← leaderboard</a></p>')
    return _page(f"{sae['sae_id']} — saebench", body)


def build_site(results: list[str], output: str | Path, title: str = "saebench leaderboard") -> Path:
    """Build the site from result folders into `output`; returns the index path."""
    board = load_board([str(r) for r in results])
    out = Path(output)
    (out / "sae").mkdir(parents=True, exist_ok=True)
    plots = {}
    for col in board.columns:
        if col.metric == "l0":
            continue
        svg = metric_vs_l0(board.saes, col)
        if svg is not None:
            plots[col.key] = svg
    index = out / "index.html"
    index.write_text(_index(board, title, [str(r) for r in results], plots), encoding="utf-8")
    for sae in board.saes.to_dict("records"):
        (out / "sae" / sae["page"]).write_text(_sae_page(board, sae, board.columns), encoding="utf-8")
    (out / "leaderboard.json").write_text(board.saes.to_json(orient="records", indent=1), encoding="utf-8")
    reports = [Path(r) / "report" for r in results if (Path(r) / "report" / "validity.parquet").is_file()]
    if reports:
        (out / "validity.html").write_text(_validity_page(reports, title), encoding="utf-8")
    log.info("leaderboard: %d SAEs, %d plots -> %s", len(board.saes), len(plots), index)
    return index


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
