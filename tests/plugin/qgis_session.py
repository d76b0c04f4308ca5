"""Runs INSIDE the real QGIS desktop (``qgis --code tests/plugin/qgis_session.py``), started by
``test_in_qgis.py``: N inspections in one QGIS process, alternating the dock and the
Processing dialog's path (``QgsProcessingAlgRunnerTask`` + Processing's result handling), while
recording every attempt to import an engine package in QGIS's Python.

Configuration comes from the JSON file named by ``CSBSR_SESSION``: ``ortho``, ``model``,
``out``, ``runs``, ``result`` (where the findings are written).
"""
import importlib.abc
import json
import os
import sys
import time
import traceback

WATCH = ("torch", "pyproj", "rasterio", "shapely", "pyogrio", "skimage", "skan", "safetensors")
ATTEMPTS = []
BEFORE = sorted(m for m in WATCH if m in sys.modules)


class _Recorder(importlib.abc.MetaPathFinder):
    """Records (and lets pass) any import of an engine package in QGIS's Python."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in WATCH:
            ATTEMPTS.append(name)
        return None


sys.meta_path.insert(0, _Recorder())

CONFIG = json.loads(open(os.environ["CSBSR_SESSION"], encoding="utf-8").read())
REPORT = {"runs": [], "errors": []}


def _python_errors(message, tag, level):
    """Python errors QGIS shows in a dialog (an exception in a slot, in unload...)."""
    if tag == "Python error":
        REPORT["errors"].append(message)


def _watch_python_errors():
    from qgis.core import QgsApplication

    QgsApplication.messageLog().messageReceived.connect(_python_errors)


def _pump(done, timeout_s=240.0):
    from qgis.core import QgsApplication

    end = time.monotonic() + timeout_s
    while not done and time.monotonic() < end:
        QgsApplication.processEvents()
        time.sleep(0.02)
    for _ in range(10):
        QgsApplication.processEvents()


def _dock_run(dock, layer, folder):
    dock.raster_combo.setLayer(layer)
    dock.model_widget.setFilePath(CONFIG["model"])
    dock.out_widget.setFilePath(folder)
    dock.report_check.setChecked(False)
    dock.advanced = {"PRECISION": 1, "TILE_PX": 256}
    done = []
    dock.runFinished.connect(done.append)
    if not dock.run():
        raise RuntimeError(f"dock did not start: {dock.status_label.text()}")
    _pump(done)
    dock.runFinished.disconnect(done.append)
    return bool(done and done[0]), dock.status_label.text()


def _processing_run(layer, folder, index):
    """What the Processing dialog does: a runner task, then Processing's result handling."""
    from processing.gui.Postprocessing import handleAlgorithmResults
    from processing.tools import dataobjects
    from qgis.core import (
        QgsApplication,
        QgsProcessingAlgRunnerTask,
        QgsProcessingFeedback,
        QgsProcessingOutputLayerDefinition,
        QgsProject,
    )

    alg = QgsApplication.processingRegistry().createAlgorithmById("csbsr:inspectcracks")
    params = {"INPUT": layer.source(), "MODEL": CONFIG["model"], "PRECISION": 1,
              "TILE_PX": 256, "OUTPUT_FOLDER": f"{folder}/run{index}",
              "OUTPUT_LINES": QgsProcessingOutputLayerDefinition(
                  f"{folder}/run{index}/lines.gpkg", QgsProject.instance()),
              "OUTPUT_NODES": QgsProcessingOutputLayerDefinition(
                  "TEMPORARY_OUTPUT", QgsProject.instance())}
    feedback = QgsProcessingFeedback()
    context = dataobjects.createContext(feedback)
    done = []

    def finished(ok, results):
        if ok:
            handleAlgorithmResults(alg, context, feedback, False, params)
        done.append(ok)

    task = QgsProcessingAlgRunnerTask(alg, params, context, feedback)
    task.executed.connect(finished)
    QgsApplication.taskManager().addTask(task)
    _pump(done)
    return bool(done and done[0]), feedback.textLog()[-400:]


def main():
    import qgis.utils
    from csbsr.csbsr_plugin.results import RUN_KEY
    from qgis.core import QgsProject, QgsRasterLayer
    from qgis.utils import iface

    assert qgis.utils.loadPlugin("csbsr") and qgis.utils.startPlugin("csbsr")
    plugin = qgis.utils.plugins["csbsr"]
    plugin.toggle_dock(True)
    dock = plugin.dock
    layer = QgsRasterLayer(CONFIG["ortho"], "ortho", "gdal")
    QgsProject.instance().addMapLayer(layer)
    iface.mapCanvas().setExtent(layer.extent())
    for i in range(int(CONFIG["runs"])):
        t0 = time.monotonic()
        how = "dock" if i % 2 == 0 else "processing"
        if how == "dock":
            ok, text = _dock_run(dock, layer, CONFIG["out"])
        else:
            ok, text = _processing_run(layer, CONFIG["out"], i)
        REPORT["runs"].append({"how": how, "ok": ok, "seconds": time.monotonic() - t0,
                               "text": text if not ok else ""})
    root = QgsProject.instance().layerTreeRoot()
    groups = [g for g in root.findGroups() if g.customProperty(RUN_KEY)]
    REPORT["groups"] = [{"name": g.name(), "visible": g.itemVisibilityChecked(),
                         "layers": [n.name() for n in g.findLayers()]} for g in groups]
    REPORT["top_group"] = root.children()[0].name() if root.children() else ""


def _write():
    REPORT["attempts"] = sorted(set(ATTEMPTS))
    REPORT["loaded_before"] = BEFORE
    REPORT["loaded_after"] = sorted(m for m in WATCH if m in sys.modules)
    with open(CONFIG["result"], "w", encoding="utf-8") as fh:
        json.dump(REPORT, fh, indent=1)


def _quit():
    """Leave QGIS the way a user does (File > Exit: plugins unloaded, project closed)."""
    from qgis.core import QgsProject
    from qgis.utils import iface

    QgsProject.instance().clear()
    QgsProject.instance().setDirty(False)
    iface.actionExit().trigger()


def _stuck():
    """Exit still not done (a dialog?): say so, and end with a code the test reports."""
    REPORT["errors"].append("QGIS did not exit within 60 s of File > Exit")
    _write()
    os._exit(3)


_watch_python_errors()
try:
    main()
except Exception:  # reported to the test, which fails on it
    REPORT["errors"].append(traceback.format_exc())
_write()

from qgis.PyQt.QtCore import QTimer  # noqa: E402

QTimer.singleShot(0, _quit)
QTimer.singleShot(60_000, _stuck)
