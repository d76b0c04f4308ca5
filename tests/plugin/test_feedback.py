"""FeedbackProgress bridges core's Progress protocol to a real QgsProcessingFeedback."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.qgis


def test_progress_status_warnings_and_cancel(qgis_app) -> None:
    from csbsr.core.errors import Cancelled
    from csbsr.core.progress import Progress, check_cancelled, sub_progress
    from csbsr.csbsr_plugin.feedback import FeedbackProgress
    from qgis.core import QgsProcessingFeedback

    feedback = QgsProcessingFeedback()
    progress = FeedbackProgress(feedback, log_every_s=3600)
    assert isinstance(progress, Progress)
    sub_progress(progress, 80.0, 100.0).set_progress(50.0)
    assert feedback.progress() == pytest.approx(90.0)
    progress.set_progress(150.0)
    assert feedback.progress() == 100.0
    progress.set_status("tile 1/4 · 2.00 tiles/s · ETA 0:02 · CPU: 2 threads")
    progress.set_status("tile 2/4 · 2.00 tiles/s · ETA 0:01 · CPU: 2 threads")  # throttled
    progress.set_status("building overviews")
    progress.warn("raster GSD differs from the model's")
    log = feedback.textLog()
    assert "tile 1/4" in log and "tile 2/4" not in log and "building overviews" in log
    assert "GSD differs" in log
    assert not progress.is_cancelled()
    feedback.cancel()
    assert progress.is_cancelled()
    with pytest.raises(Cancelled):
        check_cancelled(progress)


def test_without_feedback_it_is_silent() -> None:
    from csbsr.csbsr_plugin.feedback import FeedbackProgress

    progress = FeedbackProgress(None)
    progress.set_progress(10)
    progress.set_status("x")
    progress.warn("y")
    assert not progress.is_cancelled()
