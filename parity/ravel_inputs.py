"""The RAVEL parity inputs both environments build the same way: the model organism with a tokenizer that adds
BOS (as Gemma's does), so SAEBench's position rule lands on the entity's last token and its numbers measure
something (with the organism's own tokenizer, which adds none, SAEBench intervenes on the token after the
entity and every SAE and control scores cause <= 0.012); and the RAVEL files in SAEBench's artefact layout."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ORGANISM = REPO / "saebench" / "assets" / "organisms" / "orgllama"
SAE = ORGANISM / "saes" / "l0_topk_512"
HOOK_LAYER = 0
CLASS, ATTRIBUTES = "city", ["Country", "Continent", "Language"]
MODEL_FILES = ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")


def bos_organism(dest: Path) -> Path:
    """A copy of the organism whose tokenizer adds `<|bos|>` to every encoded text."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in MODEL_FILES:
        shutil.copy(ORGANISM / name, dest / name)
    tok = json.loads((ORGANISM / "tokenizer.json").read_text())
    bos = next(t for t in tok["added_tokens"] if t["content"] == "<|bos|>")
    tok["post_processor"] = {
        "type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": "<|bos|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [{"SpecialToken": {"id": "<|bos|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                 {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {"<|bos|>": {"id": "<|bos|>", "ids": [bos["id"]], "tokens": ["<|bos|>"]}}}
    (dest / "tokenizer.json").write_text(json.dumps(tok))
    return dest


def ravel_files(artifact_dir: Path) -> None:
    """The organism's RAVEL world where SAEBench looks for its downloaded files (`<artifact_dir>/base`)."""
    base = artifact_dir / "base"
    base.mkdir(parents=True, exist_ok=True)
    for path in (ORGANISM / "ravel").glob(f"ravel_{CLASS}_*.json"):
        shutil.copy(path, base / path.name)
