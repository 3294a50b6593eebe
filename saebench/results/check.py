"""`saebench results check [--repair]`: find result parts that cannot be read, and move them aside.

A part can be unreadable after a disk filled up, a copy was cut short or a file was edited by hand. Readers
already skip such parts (and say so); `check` lists them, with partial units and leftover temp files, and
`repair` moves each bad part to `<root>/quarantine/` together with its unit's other part (metrics <->
details), so the unit no longer looks complete and the next run recomputes it.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

log = logging.getLogger(__name__)
FOLDERS = ("metrics", "details", "manifest")


@dataclass
class CheckReport:
    root: Path
    n_parts: int = 0
    bad: list[tuple[Path, str]] = field(default_factory=list)     # (part, error)
    partial: list[Path] = field(default_factory=list)              # metrics parts of partial units
    temp_files: list[Path] = field(default_factory=list)           # leftovers of killed writers
    moved: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.bad


def check_results(root: str | Path) -> CheckReport:
    """Read every part under `root` in full; report those that fail, partial units and temp files."""
    root = Path(root)
    report = CheckReport(root)
    for folder in FOLDERS:
        for f in sorted((root / folder).rglob("*")) if (root / folder).exists() else []:
            if not f.is_file():
                continue
            if f.name.startswith(".") and f.name.endswith(".tmp"):
                report.temp_files.append(f)
                continue
            if f.suffix != ".parquet":
                continue
            report.n_parts += 1
            try:
                table = pq.read_table(f)
            except Exception as e:   # noqa: BLE001  (whatever makes a part unreadable is reported)
                report.bad.append((f, f"{type(e).__name__}: {e}"))
                continue
            if folder == "metrics" and "unit_status" in table.column_names and \
                    "partial" in set(table.column("unit_status").to_pylist()):
                report.partial.append(f)
    return report


def repair(report: CheckReport) -> CheckReport:
    """Move every bad part (and its unit's twin part) to `<root>/quarantine/`, and delete temp files."""
    root = report.root
    to_move: set[Path] = set()
    for f, _ in report.bad:
        to_move.add(f)
        rel = f.relative_to(root)
        if rel.parts[0] in ("metrics", "details"):        # the unit's other part: recompute it whole
            twin = root / ("details" if rel.parts[0] == "metrics" else "metrics") / Path(*rel.parts[1:])
            if twin.exists():
                to_move.add(twin)
    for f in sorted(to_move):
        target = root / "quarantine" / f.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(f), str(target))
        report.moved.append(target)
        log.info("moved %s -> %s", f, target)
    for f in report.temp_files:
        f.unlink(missing_ok=True)
    return report
