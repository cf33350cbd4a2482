"""Progress lines (done/total, rate, ETA) for long downloads and normalization passes.

Engines report through a plain callable so the CLI prints and Dagster logs the same lines."""
from __future__ import annotations

import logging
import time
from typing import Callable

Log = Callable[[str], None]

_logger = logging.getLogger("spatialmix")


def default_log(message: str) -> None:
    _logger.info(message)


def _human(n: float, unit: str) -> str:
    if unit != "B":
        return f"{n:,.0f} {unit}"
    for suffix in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or suffix == "TiB":
            return f"{n:,.1f} {suffix}"
        n /= 1024
    raise AssertionError("unreachable")


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """Throttled reporter: at most one line per `every` seconds, plus a final line on `close()`."""

    def __init__(self, label: str, total: float | None, unit: str, log: Log = default_log,
                 every: float = 5.0, start: float = 0.0) -> None:
        self.label, self.total, self.unit, self.log, self.every = label, total, unit, log, every
        self.done = start
        self._start_done = start
        self._t0 = time.monotonic()
        self._last = self._t0

    def advance(self, n: float) -> None:
        self.done += n
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            self.log(self.line(now))

    def line(self, now: float | None = None) -> str:
        elapsed = max((now or time.monotonic()) - self._t0, 1e-9)
        rate = (self.done - self._start_done) / elapsed
        rate_text = f"{_human(rate, self.unit)}/s"
        if self.total:
            pct = 100.0 * self.done / self.total
            eta = (self.total - self.done) / rate if rate > 0 else float("inf")
            eta_text = _duration(eta) if eta != float("inf") else "?"
            return (f"{self.label}: {_human(self.done, self.unit)} / {_human(self.total, self.unit)} "
                    f"({pct:.1f}%), {rate_text}, ETA {eta_text}")
        return f"{self.label}: {_human(self.done, self.unit)}, {rate_text}"

    def close(self) -> None:
        self.log(self.line() + f", done in {_duration(time.monotonic() - self._t0)}")
