"""Unit locks: one run computes a unit at a time, even when many runs share one output folder.

A lock is an exclusive `flock` on `<root>/locks/<unit hash>.lock`, held by the run's process until it
releases it or exits (a killed run frees its locks at once: the kernel drops them with the process). The
file holds the owner's pid, host and run id, so a second run can say who is computing the unit. flock
works on local file systems and on NFSv4 (emulated with byte-range locks); on file systems without it,
concurrent runs into one folder are not protected (each still writes whole parts atomically).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from pathlib import Path

from saebench.results.writer import unit_hash


class UnitLocks:
    """Locks held by this run under `root`."""

    def __init__(self, root: str | Path, run_id: str) -> None:
        self.folder = Path(root) / "locks"
        self.run_id = run_id
        self._held: dict[tuple, int] = {}

    def acquire(self, key: tuple) -> str | None:
        """Lock a unit without waiting: None when this run now holds it, else who holds it (a sentence)."""
        if key in self._held:
            return None
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{unit_hash(key)}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _read_owner(fd)
            os.close(fd)
            return (f"being computed by run {owner.get('run_id', '?')} (pid {owner.get('pid', '?')} on "
                    f"{owner.get('host', '?')}); rerun when it has finished")
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"run_id": self.run_id, "pid": os.getpid(), "host": socket.gethostname()}).encode(),
                  0)
        self._held[key] = fd
        return None

    def release(self, key: tuple) -> None:
        fd = self._held.pop(key, None)
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def release_all(self) -> None:
        for key in list(self._held):
            self.release(key)

    @property
    def held(self) -> int:
        return len(self._held)


def _read_owner(fd: int) -> dict:
    try:
        return json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return {}
