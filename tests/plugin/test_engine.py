"""The engine runner (``csbsr_plugin/engine.py``) with the real engine as a subprocess: where
the engine is found, progress logged once per stage, cancel by signal (nothing left, reported
as a cancel), the engine's exit-2 message as the algorithm's error, an engine that dies."""
from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

pytestmark = pytest.mark.qgis


def test_the_engine_is_found_from_setting_then_environment(qgis_app, engine: Path,
                                                           tmp_path: Path) -> None:
    from csbsr.csbsr_plugin import engine as runner

    assert runner.find_engine() == str(engine)
    assert runner.engine_source() == "environment variable CSBSR_ENGINE"
    other = tmp_path / "csbsr"
    other.write_text(engine.read_text())
    other.chmod(0o755)
    runner.set_setting(str(other))
    try:
        assert runner.find_engine() == str(other)  # the Processing setting wins
        assert runner.engine_source() == "Processing setting CSBSR_ENGINE"
    finally:
        runner.set_setting("")
    assert runner.find_engine() == str(engine)
    assert runner.engine_command("/x/env/bin/python3") == ["/x/env/bin/python3", "-m",
                                                          "csbsr.core.cli"]


def test_missing_engine_says_how_to_set_one_up(qgis_app, monkeypatch, tmp_path) -> None:
    from csbsr.csbsr_plugin import engine as runner
    from qgis.core import QgsProcessingException

    monkeypatch.setenv("CSBSR_ENGINE", str(tmp_path / "nothing"))
    monkeypatch.setenv("HOME", str(tmp_path))  # no environment made by the plugin either
    assert runner.find_engine() is None
    with pytest.raises(QgsProcessingException, match="Set up engine.*CSBSR_ENGINE"):
        runner.run_engine(["--version"])


def test_progress_is_logged_once_per_stage(qgis_app, tiny_model: Path, real_crop: Path,
                                           tmp_path: Path) -> None:
    from csbsr.csbsr_plugin.engine import run_engine
    from qgis.core import QgsProcessingFeedback

    texts, percents = [], []

    class Recording(QgsProcessingFeedback):
        def setProgressText(self, text: str) -> None:  # the Processing dialog logs these
            super().setProgressText(text)
            texts.append(text)

    feedback = Recording()
    feedback.progressChanged.connect(percents.append)
    res = run_engine(["run", str(real_crop), "--out", str(tmp_path / "o"), "--model",
                      str(tiny_model), "--precision", "fp32", "--no-report"], feedback)
    assert not res.cancelled and Path(res.outputs["cracks"]).is_file()
    assert res.summary["n_segments"] >= 0 and "CPU" in res.data["device"]
    assert texts[:2] == ["Detecting cracks", "Measuring crack lines"]
    assert len(texts) == len(set(texts)) <= 4  # one line per stage, none per tile
    log = feedback.textLog()
    assert "tile " not in log and log.count("Device: CPU") == 1
    assert percents == sorted(percents) and percents[-1] == pytest.approx(100.0)


def test_cancel_stops_the_engine_cleanly(qgis_app, tiny_model: Path, real_crop: Path,
                                         tmp_path: Path) -> None:
    from csbsr.csbsr_plugin.engine import run_engine
    from qgis.core import QgsProcessingFeedback

    feedback = QgsProcessingFeedback()
    feedback.progressChanged.connect(lambda p: feedback.cancel() if p > 1 else None)
    out = tmp_path / "o"
    res = run_engine(["run", str(real_crop), "--out", str(out), "--model", str(tiny_model),
                      "--tile-px", "16", "--precision", "fp32"], feedback)
    assert res.cancelled and res.outputs == {}
    assert [p for p in out.rglob("*")] == []  # not even the staging folder


def test_engine_errors_become_the_algorithm_error(qgis_app, tmp_path: Path) -> None:
    from csbsr.csbsr_plugin.engine import run_engine
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match="does not exist: check the path"):
        run_engine(["detect", str(tmp_path / "missing.tif"), "--out", str(tmp_path / "o")])


def test_a_dying_engine_is_reported_not_fatal(qgis_app, tiny_model: Path, real_crop: Path,
                                              tmp_path: Path) -> None:
    """A crash in the engine (here: SIGKILL) fails the run; QGIS carries on."""
    from csbsr.csbsr_plugin.engine import run_engine
    from qgis.core import QgsProcessingException, QgsProcessingFeedback

    killed = []

    class Killer(QgsProcessingFeedback):
        def setProgress(self, p: float) -> None:
            super().setProgress(p)
            if p > 1 and not killed:
                import psutil

                for child in psutil.Process(os.getpid()).children(recursive=True):
                    if "csbsr.core.cli" in " ".join(child.cmdline()):
                        child.send_signal(signal.SIGKILL)
                        killed.append(child.pid)

    pytest.importorskip("psutil")
    with pytest.raises(QgsProcessingException, match="stopped unexpectedly.*signal 9"):
        run_engine(["run", str(real_crop), "--out", str(tmp_path / "o"), "--model",
                    str(tiny_model), "--tile-px", "16", "--precision", "fp32"], Killer())
    assert killed


def test_flags_in_engine_messages_are_named_as_in_qgis() -> None:
    from csbsr.csbsr_plugin.engine import plain_words

    msg = ("raster GSD 150 mm/px: the raster is 19x too coarse; use imagery of at most 64 "
           "mm/px, or pass --gsd-policy native to run at the raster's own GSD anyway")
    out = plain_words(msg)
    assert "--gsd-policy" not in out and "Keep the orthophoto's own resolution" in out
