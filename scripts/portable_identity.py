"""Rewrite result folders written before models and bundled SAEs had portable identities (2026-12-05).

    python scripts/portable_identity.py results/baselines/demo_smoke results/validity_unlearning ...

Older runs recorded a local model by its absolute path (`model=/work/main/saebench/assets/stories260K`, no
revision) and a bundled SAE's source by its absolute path. Runs now record a local model as its folder name with
a content digest as the revision, and bundled paths as `saebench-asset:<relative>` (`saebench.models.identity`,
`saebench.paths.portable_path`). This rewrites exactly those columns of every Parquet part (metrics, details,
manifest) of the given folders, in place and atomically; values, params hashes and fingerprints are untouched
(a rerun into the folder recomputes its units, as their keys now differ). A model folder that no longer exists
is left as it is, with a warning.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from saebench.models.identity import local_identity  # noqa: E402
from saebench.paths import ASSETS_DIR, portable_path  # noqa: E402

ASSET_PATH = re.compile(r"(?:/[^\s\"':]+)?/saebench/assets/[^\s\"',}]+")


def _asset_now(path: str) -> Path:
    """Where an old checkout's bundled asset path points in this checkout."""
    return ASSETS_DIR / path.split("/saebench/assets/", 1)[1]


def _portable(text: str) -> str:
    return ASSET_PATH.sub(lambda m: portable_path(str(_asset_now(m.group(0)))), text)


def rewrite_table(table: pa.Table) -> tuple[pa.Table, int]:
    """The table with model identities and bundled paths made portable; the number of cells changed."""
    cols = {name: table.column(name).to_pylist() for name in table.column_names}
    changed = 0
    if "model" in cols:
        revisions = cols.get("model_revision")
        for i, model in enumerate(cols["model"]):
            if isinstance(model, str) and "/saebench/assets/" in model:
                folder = _asset_now(model)
                if not folder.is_dir():
                    print(f"warning: {model} does not exist here; left as it is", file=sys.stderr)
                    continue
                name, digest = local_identity(folder)
                cols["model"][i] = name
                changed += 1
                if revisions is not None:
                    revisions[i] = digest
    for name in ("sae_source", "sae_json", "info_json", "reason"):
        for i, value in enumerate(cols.get(name, [])):
            if isinstance(value, str) and "/saebench/assets/" in value:
                cols[name][i] = _portable(value)
                changed += 1
    arrays = [pa.array(cols[f.name], type=f.type) for f in table.schema]
    return pa.Table.from_arrays(arrays, schema=table.schema), changed


def rewrite_folder(root: Path) -> int:
    total = 0
    for part in sorted(root.rglob("*.parquet")):
        table = pq.read_table(part, partitioning=None)
        new, changed = rewrite_table(table)
        if changed:
            tmp = part.with_suffix(".parquet.tmp")
            pq.write_table(new, tmp)
            os.replace(tmp, part)
            total += changed
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    args = parser.parse_args()
    for folder in args.folders:
        print(f"{folder}: {rewrite_folder(folder)} cells rewritten")


if __name__ == "__main__":
    main()
