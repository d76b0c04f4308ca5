"""The QGIS-free progress/cancel protocol shared by the CLI, the tests and the plugin.

A ``Progress`` has four methods. ``sub_progress`` maps a stage onto its share of 0-100 and
``check_cancelled`` raises :class:`~.errors.Cancelled`. Callbacks may run on a worker thread,
so implementations must not touch a GUI directly.

Stages may also report structured metrics with :func:`report_metrics` (stage name, tiles/s,
ETA, device...); receivers that understand them implement ``set_metrics(**metrics)``.
:class:`JsonLinesProgress` writes everything as JSON lines: it is how the QGIS plugin reads
an engine running in its own process (``csbsr --progress json ...``).
"""
from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any, Dict, Optional, Protocol, TextIO, runtime_checkable

from .errors import Cancelled


@runtime_checkable
class Progress(Protocol):
    """Receiver of progress, status text and warnings; the source of cancellation."""

    def set_progress(self, percent: float) -> None:
        """Report overall progress in percent (0-100)."""

    def set_status(self, text: str) -> None:
        """Report a short human-readable status line (e.g. tiles/s, ETA, device)."""

    def warn(self, text: str) -> None:
        """Report a non-fatal problem the user should read."""

    def is_cancelled(self) -> bool:
        """Return True once the user asked to stop."""


class NullProgress:
    """A progress that records nothing and is never cancelled."""

    def set_progress(self, percent: float) -> None:
        """See :meth:`Progress.set_progress`."""
        pass

    def set_status(self, text: str) -> None:
        """See :meth:`Progress.set_status`."""
        pass

    def warn(self, text: str) -> None:
        """See :meth:`Progress.warn`."""
        pass

    def is_cancelled(self) -> bool:
        """See :meth:`Progress.is_cancelled`."""
        return False


class RecordingProgress(NullProgress):
    """Keeps every call, for tests and for callers that want a log; can cancel at a percent."""

    def __init__(self, cancel_at_percent: float | None = None) -> None:
        self.percents: list[float] = []
        self.statuses: list[str] = []
        self.warnings: list[str] = []
        self.cancel_at_percent = cancel_at_percent

    def set_progress(self, percent: float) -> None:
        """See :meth:`Progress.set_progress`."""
        self.percents.append(float(percent))

    def set_status(self, text: str) -> None:
        """See :meth:`Progress.set_status`."""
        self.statuses.append(text)

    def warn(self, text: str) -> None:
        """See :meth:`Progress.warn`."""
        self.warnings.append(text)

    def is_cancelled(self) -> bool:
        """See :meth:`Progress.is_cancelled`."""
        if self.cancel_at_percent is None:
            return False
        return bool(self.percents) and self.percents[-1] >= self.cancel_at_percent


class ConsoleProgress(NullProgress):
    """A one-line text progress bar on a terminal stream (stderr by default)."""

    def __init__(self, stream: TextIO | None = None, width: int = 30) -> None:
        self.stream = stream if stream is not None else sys.stderr
        #: where warnings go (the bar's stream unless set: ``-q`` discards the bar only)
        self.warn_stream: TextIO | None = None
        self.width = width
        self._percent = 0.0
        self._status = ""
        self._last_draw = 0.0
        self._cancelled = False

    def cancel(self) -> None:
        """Mark the run as cancelled (called from a signal handler)."""
        self._cancelled = True

    def set_progress(self, percent: float) -> None:
        """See :meth:`Progress.set_progress`."""
        self._percent = max(0.0, min(100.0, float(percent)))
        self._draw()

    def set_status(self, text: str) -> None:
        """See :meth:`Progress.set_status`."""
        self._status = text
        self._draw()

    def warn(self, text: str) -> None:
        """See :meth:`Progress.warn`."""
        stream = self.warn_stream if self.warn_stream is not None else self.stream
        stream.write(f"\nwarning: {text}\n")
        stream.flush()

    def is_cancelled(self) -> bool:
        """See :meth:`Progress.is_cancelled`."""
        return self._cancelled

    def finish(self) -> None:
        """End the bar with a newline."""
        self._draw(force=True)
        self.stream.write("\n")
        self.stream.flush()

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_draw < 0.2 and self._percent < 100.0:
            return
        self._last_draw = now
        filled = int(self.width * self._percent / 100.0)
        bar = "#" * filled + "-" * (self.width - filled)
        line = f"\r[{bar}] {self._percent:5.1f}% {self._status}"
        self.stream.write(line[:160].ljust(80))
        self.stream.flush()


class _SubProgress:
    """Maps 0-100 of a stage onto [start, end] of its parent."""

    def __init__(self, parent: Progress, start: float, end: float) -> None:
        self.parent = parent
        self.start = start
        self.end = end

    def set_progress(self, percent: float) -> None:
        p = max(0.0, min(100.0, float(percent)))
        self.parent.set_progress(self.start + (self.end - self.start) * p / 100.0)

    def set_status(self, text: str) -> None:
        self.parent.set_status(text)

    def warn(self, text: str) -> None:
        self.parent.warn(text)

    def is_cancelled(self) -> bool:
        return self.parent.is_cancelled()

    def set_metrics(self, **metrics: Any) -> None:
        report_metrics(self.parent, **metrics)


def report_metrics(progress: Progress, **metrics: Any) -> None:
    """Pass structured metrics (``stage``, ``tiles_per_s``, ``eta_s``, ``device``...) to
    ``progress`` if it takes them."""
    fn = getattr(progress, "set_metrics", None)
    if fn is not None:
        fn(**metrics)


class JsonLinesProgress(ConsoleProgress):
    """Progress as JSON lines (one object per line, flushed), for a parent process.

    Events: ``{"event": "progress", "percent": 42.0, "stage": "detect", ...metrics}`` (at most
    every ``interval_s`` unless the stage changes), ``{"event": "status", "text": ...}``,
    ``{"event": "warning", "text": ...}``, ``{"event": "metrics", ...}`` and, written by the
    CLI, ``{"event": "result", ...}`` or ``{"event": "error", "message": ..., "exit_code": 2}``.
    """

    def __init__(self, stream: Optional[TextIO] = None, interval_s: float = 0.25) -> None:
        super().__init__(stream if stream is not None else sys.stdout)
        self.interval_s = interval_s
        self._metrics: Dict[str, Any] = {}
        self._last_emit = 0.0
        self._last_status = ""
        self._last_status_t = -1e9
        self._lock = threading.Lock()

    def emit(self, event: str, **fields: Any) -> None:
        """Write one event line."""
        line = json.dumps({"event": event, **fields}, default=str)
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()

    def set_progress(self, percent: float) -> None:
        """See :meth:`Progress.set_progress`."""
        self._percent = max(0.0, min(100.0, float(percent)))
        now = time.monotonic()
        if now - self._last_emit >= self.interval_s or self._percent >= 100.0:
            self._last_emit = now
            self.emit("progress", percent=round(self._percent, 2), **self._metrics)

    def set_status(self, text: str) -> None:
        """Emit a status line when it changed, at most every 2 s within a stage (tile-by-tile
        statuses would flood a log; the progress events carry the numbers)."""
        now = time.monotonic()
        if text != self._last_status and now - self._last_status_t >= 2.0:
            self._last_status, self._last_status_t = text, now
            self.emit("status", text=text, stage=self._metrics.get("stage"))

    def warn(self, text: str) -> None:
        """See :meth:`Progress.warn`."""
        self.emit("warning", text=text)

    def set_metrics(self, **metrics: Any) -> None:
        """Keep the metrics for the next progress event; a new stage is announced at once."""
        new_stage = "stage" in metrics and metrics["stage"] != self._metrics.get("stage")
        if new_stage:  # a stage's rates and ETA end with it; the device stays
            self._metrics = {k: v for k, v in self._metrics.items() if k == "device"}
        self._metrics.update({k: v for k, v in metrics.items() if v is not None})
        if new_stage:
            self._last_status_t = -1e9  # the first status of a stage always shows
            self.emit("metrics", percent=round(self._percent, 2), **self._metrics)

    def finish(self) -> None:
        """Nothing to close (a bar would end its line)."""


def sub_progress(parent: Progress, start: float, end: float) -> Progress:
    """Return a progress whose 0-100 maps onto ``[start, end]`` percent of ``parent``."""
    return _SubProgress(parent, start, end)


def check_cancelled(progress: Progress) -> None:
    """Raise :class:`Cancelled` if the user asked to stop."""
    if progress.is_cancelled():
        raise Cancelled("cancelled by the user; no output was written")


def format_eta(seconds: float) -> str:
    """Format a duration in seconds as ``H:MM:SS`` or ``M:SS``."""
    if seconds != seconds or seconds < 0 or seconds == float("inf"):
        return "?"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"
