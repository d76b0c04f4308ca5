"""Screenshots of the plugin in the real QGIS desktop, for the user guide (``make screenshot``).

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python scripts/screenshot.py docs/screenshots

Run by an ordinary Python, this script starts ``qgis --code scripts/screenshot.py`` on a
throw-away profile (the plugin linked in, ``CSBSR_ENGINE`` = this checkout's engine, default
``.venv/bin/csbsr``). Inside QGIS it does what a user does: Plugins > CSBSR > Load sample
orthophoto, sets the inspector's options in the dock, clicks Run with "Create report" ticked,
and grabs:

- ``dock.png``: QGIS with the dock (GSD line, options), the result layers in their group;
- ``attribute-table.png``: the crack lines' attribute table (aliases, words, precision);
- ``report-link.png``: the message bar and the dock linking the PDF and HTML reports.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

JOB = "CSBSR_SCREENSHOT_JOB"
try:
    REPO = Path(__file__).resolve().parents[1]
except NameError:  # inside QGIS, run by --code (no __file__ there)
    REPO = Path(os.environ.get(JOB, ".")).parent


def launch(out_dir: Path, engine: str) -> int:
    """Start QGIS on a throw-away profile with this script as ``--code``."""
    tmp = Path(tempfile.mkdtemp(prefix="csbsr_shot_"))
    (tmp / "plugins").mkdir()
    (tmp / "plugins" / "csbsr").symlink_to(REPO, target_is_directory=True)
    (tmp / "home").mkdir()
    job = tmp / "job.json"
    job.write_text(json.dumps({"out": str(out_dir.resolve()), "status": str(tmp / "status")}))
    (tmp / "status").unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items()
           if k not in ("QGIS_CUSTOM_CONFIG_PATH", "PYTHONPATH", "QT_QPA_PLATFORM")}
    env.update(HOME=str(tmp / "home"), QGIS_PLUGINPATH=str(tmp / "plugins"),
               CSBSR_ENGINE=engine, **{JOB: str(job)})
    code = subprocess.call(["qgis", "--profiles-path", str(tmp / "profiles"), "--nologo",
                            "--noversioncheck", "--code", str(Path(__file__).resolve())],
                           env=env, timeout=900)
    status = (tmp / "status").read_text() if (tmp / "status").exists() else "no status"
    print(status)
    return 0 if code == 0 and status.startswith("ok") else 2


def _pump(seconds: float, until=lambda: False) -> None:
    from qgis.core import QgsApplication

    end = time.monotonic() + seconds
    while time.monotonic() < end and not until():
        QgsApplication.processEvents()
        time.sleep(0.03)


def _settle(canvas) -> None:
    canvas.refresh()
    _pump(1.0)
    _pump(30.0, lambda: not canvas.isDrawing())
    _pump(0.5)


def shoot(job: dict) -> str:
    """Inside QGIS: the user's steps and the three grabs."""
    import qgis.utils
    from qgis.utils import iface

    out = Path(job["out"])
    out.mkdir(parents=True, exist_ok=True)
    win = iface.mainWindow()
    win.resize(1600, 1000)
    win.move(0, 0)
    assert qgis.utils.loadPlugin("csbsr") and qgis.utils.startPlugin("csbsr")
    plugin = qgis.utils.plugins["csbsr"]
    layer = plugin.load_sample()  # the menu action
    dock = plugin.dock
    from qgis.PyQt.QtCore import Qt
    from qgis.PyQt.QtWidgets import QDockWidget

    for other in win.findChildren(QDockWidget):  # room for the layer tree's legend
        if other.objectName() == "Browser":
            other.hide()
    layers = next(d for d in win.findChildren(QDockWidget) if d.objectName() == "Layers")
    win.resizeDocks([dock, layers], [480, 330], Qt.Horizontal)
    dock.standard_combo.setCurrentIndex(0)
    dock.axis_check.setChecked(True)
    dock.axis_spin.setValue(90.0)
    dock.min_len_spin.setValue(5.0)
    dock.report_check.setChecked(True)
    dock.refresh_device(wait=True)
    _pump(1.0)
    done: list = []
    dock.runFinished.connect(done.append)
    if not dock.run():
        return f"run did not start: {dock.status_label.text()}"
    _pump(600.0, lambda: bool(done))
    if done != [True]:
        return f"run failed: {dock.status_label.text()} {dock.log_view.toPlainText()}"
    canvas = iface.mapCanvas()
    lines = next(x for x in dock.last_layers if x.name().endswith("crack lines"))
    iface.layerTreeView().setCurrentLayer(lines)
    extent = layer.extent()
    extent.scale(0.55)
    canvas.setExtent(extent)
    _settle(canvas)
    bar = iface.messageBar()
    for item in list(bar.items()):  # QGIS's own "Task complete" notes: keep CSBSR's link
        if item is not getattr(dock, "_bar_item", None):
            bar.popWidget(item)
    scroll = dock.widget().verticalScrollBar()
    scroll.setValue(scroll.maximum())
    _pump(1.0)
    win.grab().save(str(out / "report-link.png"))
    scroll.setValue(0)
    _pump(1.0)
    win.grab().save(str(out / "dock.png"))
    table = iface.showAttributeTable(lines)
    table.resize(1240, 420)
    table.move(40, 200)
    _pump(2.0)
    table.grab().save(str(out / "attribute-table.png"))
    table.close()
    return f"ok: {dock.status_label.text()}"


def _inside_qgis() -> None:
    import traceback

    from qgis.core import QgsProject
    from qgis.PyQt.QtCore import QTimer
    from qgis.utils import iface

    job = json.loads(Path(os.environ[JOB]).read_text())
    try:
        status = shoot(job)
    except Exception:  # written for the launcher, which fails on it
        status = traceback.format_exc()
    Path(job["status"]).write_text(status)
    QgsProject.instance().clear()
    QgsProject.instance().setDirty(False)
    QTimer.singleShot(0, iface.actionExit().trigger)
    QTimer.singleShot(60_000, lambda: os._exit(3))


if JOB in os.environ:
    _inside_qgis()
elif __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else REPO / "docs" / "screenshots")
    default = REPO / ".venv" / "bin" / "csbsr"
    sys.exit(launch(target, os.environ.get("CSBSR_ENGINE") or str(default)))
