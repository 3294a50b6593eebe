"""One progress policy for every long loop: a tqdm bar on a terminal; elsewhere (CI logs, files, pipes) a
one-line INFO log message every `SAEBENCH_PROGRESS_INTERVAL` seconds (default 30) and one when a loop that
logged finishes — never silence for minutes, never a bar redrawn into one endless line."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterable, Iterator

log = logging.getLogger("saebench.progress")
DEFAULT_INTERVAL_S = 30.0


def on_terminal() -> bool:
    """Whether progress is shown as bars (stderr is a terminal)."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def interval_s() -> float:
    raw = os.environ.get("SAEBENCH_PROGRESS_INTERVAL", "")
    try:
        return max(0.0, float(raw)) if raw else DEFAULT_INTERVAL_S
    except ValueError:
        return DEFAULT_INTERVAL_S


class LogProgress:
    """tqdm's small interface (iterate, `update`, `close`, context manager) as periodic log lines."""

    def __init__(self, iterable: Iterable | None = None, total: int | None = None, desc: str = "",
                 unit: str = "it", every_s: float | None = None) -> None:
        self.iterable, self.desc, self.unit = iterable, desc, unit
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)   # type: ignore[arg-type]
        self.total, self.n = total, 0
        self.every_s = interval_s() if every_s is None else every_s
        self.start = self.last = time.monotonic()
        self.logged = False

    def __iter__(self) -> Iterator:
        for item in self.iterable or ():
            yield item
            self.update(1)
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self.last >= self.every_s:
            self.last = now
            self._log(now)

    def _log(self, now: float, done: bool = False) -> None:
        self.logged = True
        of = f"/{self.total}" if self.total else ""
        pct = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        log.info("%s: %s%d%s %s%s, %.0f s", self.desc, "done, " if done else "", self.n, of, self.unit, pct,
                 now - self.start)

    def close(self) -> None:
        if self.logged:              # a loop that reported progress also reports its end
            self.logged = False
            self._log(time.monotonic(), done=True)

    def set_postfix_str(self, *_args, **_kwargs) -> None:
        pass

    def __enter__(self) -> LogProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def progress(iterable: Iterable | None = None, *, total: int | None = None, desc: str = "", unit: str = "it"):
    """A progress reporter for a loop (see the module docstring): iterate over it, or `update(n)` it."""
    if on_terminal():
        from tqdm.auto import tqdm

        return tqdm(iterable, total=total, desc=desc, unit=unit, leave=False)
    return LogProgress(iterable, total, desc, unit)


def quiet_library_bars() -> None:
    """Off a terminal, the bars of transformers, datasets and huggingface_hub are switched off too (they
    would otherwise write one carriage-returned line per update into the log)."""
    if on_terminal():
        return
    for module, name in (("transformers.utils.logging", "disable_progress_bar"),
                         ("datasets.utils.logging", "disable_progress_bar"),
                         ("huggingface_hub.utils", "disable_progress_bars")):
        try:
            getattr(__import__(module, fromlist=[name]), name)()
        except (ImportError, AttributeError):
            continue
