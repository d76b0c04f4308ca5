"""Progress protocol: sub-ranges, cancellation, console bar."""
from __future__ import annotations

import io

import pytest
from csbsr.core.errors import Cancelled
from csbsr.core.progress import (
    ConsoleProgress,
    NullProgress,
    Progress,
    RecordingProgress,
    check_cancelled,
    format_eta,
    sub_progress,
)


def test_implementations_satisfy_the_protocol() -> None:
    for p in (NullProgress(), RecordingProgress(), ConsoleProgress(io.StringIO())):
        assert isinstance(p, Progress)


def test_sub_progress_maps_onto_its_range() -> None:
    rec = RecordingProgress()
    sub = sub_progress(rec, 40, 60)
    sub.set_progress(0)
    sub.set_progress(50)
    sub.set_progress(100)
    sub.set_progress(150)  # clamped
    assert rec.percents == [40, 50, 60, 60]
    sub.warn("w")
    assert rec.warnings == ["w"]


def test_cancellation_raises() -> None:
    rec = RecordingProgress(cancel_at_percent=50)
    check_cancelled(rec)
    rec.set_progress(49)
    check_cancelled(rec)
    rec.set_progress(50)
    with pytest.raises(Cancelled):
        check_cancelled(sub_progress(rec, 0, 10))


def test_console_progress_draws_a_bar() -> None:
    buf = io.StringIO()
    p = ConsoleProgress(buf)
    p.set_status("3.0 tiles/s")
    p.set_progress(100)
    p.finish()
    assert "100.0%" in buf.getvalue() and "tiles/s" in buf.getvalue()


def test_format_eta() -> None:
    assert format_eta(65) == "1:05"
    assert format_eta(3725) == "1:02:05"
    assert format_eta(float("nan")) == "?"
