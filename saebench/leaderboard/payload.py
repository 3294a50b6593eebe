"""The data the leaderboard page's script renders: one JSON object embedded in index.html (so the page works from
disk), holding every SAE's facts and headline values, each column's annotations, the noise floors and presets."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from saebench.leaderboard import annotations
from saebench.leaderboard.data import Board

FACTS = ("model", "hook", "architecture", "width")


def _num(value):
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def width_label(width) -> str:
    """16384 -> '16k'; widths that are not multiples of 1024 stay as they are."""
    w = _num(width)
    if w is None:
        return "?"
    w = int(w)
    return f"{w // 1024}k" if w >= 1024 and w % 1024 == 0 else str(w)


def presets(saes: pd.DataFrame) -> list[dict]:
    """Views a reader asks for by name: each model; each model and hook; each model, hook and width (as
    Neuronpedia's 'Gemma-2-2B 16k / 65k' presets). Only groups of at least two SAEs that differ from their parent."""
    out = []
    trained = saes[~saes["is_baseline"]]
    for model, by_model in trained.groupby("model", sort=True):
        out.append({"label": f"{model}", "filters": {"model": str(model)}, "n": int(len(by_model))})
        hooks = by_model.groupby("hook", sort=True)
        for hook, by_hook in hooks:
            if len(by_hook) < 2:
                continue
            if hooks.ngroups > 1:
                out.append({"label": f"{model} · {hook}", "filters": {"model": str(model), "hook": str(hook)},
                            "n": int(len(by_hook))})
            widths = by_hook.groupby("d_sae", sort=True)
            if widths.ngroups < 2:
                continue
            for width, by_width in widths:
                if len(by_width) >= 2:
                    out.append({"label": f"{model} · {hook} · {width_label(width)}",
                                "filters": {"model": str(model), "hook": str(hook), "width": str(int(width))},
                                "n": int(len(by_width))})
    return out


def build_payload(board: Board, reports: list[Path], installed: dict[str, str]) -> dict:
    """Everything the page needs, JSON-ready. `reports`: validity report folders; `installed`: task -> the
    installed plugin version (values from an older major version are marked superseded)."""
    names = {r: str(r.parent) for r in reports}
    verdicts = annotations.read_verdicts(reports, names)
    floors = annotations.noise_floors(reports, names)
    columns = []
    for col in board.columns:
        verdict, verdict_text = annotations.summarise(verdicts.get(col.key, []))
        parity_kind, parity_text = annotations.parity(col, board.rows)
        state, state_text = annotations.status(col)
        columns.append({"key": col.key, "task": col.task, "label": col.label, "arrow": col.arrow,
                        "higher": col.higher_is_better, "description": col.description,
                        "verdict": verdict, "verdict_text": verdict_text, "parity": parity_kind,
                        "parity_text": parity_text, "status": state, "status_text": state_text,
                        "installed": installed.get(col.task)})
    saes = []
    tasks = sorted({c.task for c in board.columns})
    for r in board.saes.to_dict("records"):
        values = []
        for col in board.columns:
            values += [_num(r.get(col.key)), _num(r.get(col.key + ":se"))]
        entry = {"id": str(r["sae_id"]), "page": r["page"], "model": str(r["model"]), "hook": str(r["hook"]),
                 "architecture": str(r["architecture"]), "width": None if _num(r["d_sae"]) is None else int(r["d_sae"]),
                 "l0": _num(r.get("l0")), "baseline": bool(r["is_baseline"]), "v": values}
        setting = {t: r.get(f"{t}:setting") for t in board.settings if isinstance(r.get(f"{t}:setting"), str)}
        if setting:
            entry["setting"] = setting
        old = {t: str(r.get(f"{t}:version")) for t in tasks
               if annotations.superseded(r.get(f"{t}:version"), installed.get(t))}
        if old:
            entry["superseded"] = old
        saes.append(entry)
    return {"columns": columns, "saes": saes, "noise": floors, "presets": presets(board.saes),
            "settings": {t: [list(x) for x in labels] for t, labels in board.settings.items()},
            "reports": sorted(names.values())}


def embed(payload: dict) -> str:
    """The payload as the text of a `<script type="application/json">`: `<`, `>` and `&` escaped as JSON
    unicode escapes, so no string from a result file can close the element or open a comment."""
    text = json.dumps(payload, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
