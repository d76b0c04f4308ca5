"""``FeedbackProgress``: the ``core.progress.Progress`` protocol over a QgsProcessingFeedback.

Core calls it from the Processing worker thread; it only talks to the feedback object, which
is thread-safe (signals are queued to the GUI thread).
"""
from __future__ import annotations

import time
from typing import Any, Optional


class FeedbackProgress:
    """Adapts a ``QgsProcessingFeedback`` (or None) to ``set_progress/set_status/warn``.

    Status lines (tiles/s, ETA, device) go to ``setProgressText`` every time and to the
    log (``pushInfo``) when they change kind or at most every ``log_every_s`` seconds, so a
    long run leaves a readable log instead of one line per tile.
    """

    def __init__(self, feedback: Optional[Any], log_every_s: float = 5.0) -> None:
        self.feedback = feedback
        self.log_every_s = log_every_s
        self._last_log = 0.0
        self._last_kind = ""

    def set_progress(self, percent: float) -> None:
        if self.feedback is not None:
            self.feedback.setProgress(max(0.0, min(100.0, float(percent))))

    def set_status(self, text: str) -> None:
        if self.feedback is None:
            return
        self.feedback.setProgressText(text)
        kind = text.split(" ", 1)[0]
        now = time.monotonic()
        if kind != self._last_kind or now - self._last_log >= self.log_every_s:
            self.feedback.pushInfo(text)
            self._last_log, self._last_kind = now, kind

    def warn(self, text: str) -> None:
        if self.feedback is None:
            return
        push = getattr(self.feedback, "pushWarning", None)  # QGIS >= 3.16.2
        if push is not None:
            push(text)
        else:
            self.feedback.reportError(text, False)

    def is_cancelled(self) -> bool:
        return bool(self.feedback is not None and self.feedback.isCanceled())
