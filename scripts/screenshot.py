"""Screenshot of QGIS-like main window with the CSBSR dock and a result over the sample.

Run under a real X server (``make screenshot`` uses xvfb-run):
    xvfb-run -a -s "-screen 0 1600x1000x24" env QT_QPA_PLATFORM=xcb \
        .venv/bin/python scripts/screenshot.py docs/screenshot.png [--model M.safetensors]

It builds a main window (layer tree | map canvas | CSBSR dock), loads the sample orthophoto,
starts a run from the dock exactly as a user would (Run button -> QgsProcessingAlgRunnerTask),
waits for it, zooms to the cracks and grabs the window.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv: list) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default=str(REPO / "docs" / "screenshot.png"))
    parser.add_argument("--model", default=None, help="model (default: the shipped one)")
    parser.add_argument("--ortho", default=str(REPO / "resources" / "sample" /
                                               "sample_ortho.tif"))
    args = parser.parse_args(argv)

    from qgis.core import QgsApplication, QgsProject, QgsRasterLayer
    from qgis.gui import QgsLayerTreeMapCanvasBridge, QgsLayerTreeView, QgsMapCanvas
    from qgis.PyQt.QtCore import Qt
    from qgis.PyQt.QtWidgets import QDockWidget, QMainWindow

    app = QgsApplication([], True)
    app.initQgis()
    from qgis.analysis import QgsNativeAlgorithms

    QgsApplication.processingRegistry().addProvider(QgsNativeAlgorithms())
    from csbsr.csbsr_plugin.dock import CsbsrDock
    from csbsr.csbsr_plugin.provider import CsbsrProvider

    provider = CsbsrProvider()
    QgsApplication.processingRegistry().addProvider(provider)

    win = QMainWindow()
    win.setWindowTitle("QGIS 3.22 — CSBSR crack inspection")
    for menu in ("Project", "Edit", "View", "Layer", "Settings", "Plugins", "Vector",
                 "Raster", "Database", "Web", "Mesh", "Processing", "Help"):
        win.menuBar().addMenu(menu)
    canvas = QgsMapCanvas()
    canvas.setCanvasColor(Qt.white)
    win.setCentralWidget(canvas)
    project = QgsProject.instance()
    bridge = QgsLayerTreeMapCanvasBridge(project.layerTreeRoot(), canvas)
    tree = QgsLayerTreeView()
    from qgis.core import QgsLayerTreeModel

    model = QgsLayerTreeModel(project.layerTreeRoot())
    model.setFlag(QgsLayerTreeModel.AllowNodeChangeVisibility)
    model.setFlag(QgsLayerTreeModel.ShowLegendAsTree)
    tree.setModel(model)
    layers_dock = QDockWidget("Layers")
    layers_dock.setWidget(tree)
    win.addDockWidget(Qt.LeftDockWidgetArea, layers_dock)

    tmp = Path(tempfile.mkdtemp(prefix="csbsr_shot_"))
    ortho_src = Path(args.ortho)
    ortho_path = tmp / ortho_src.name
    ortho_path.write_bytes(ortho_src.read_bytes())
    ortho = QgsRasterLayer(str(ortho_path), "sample orthophoto", "gdal")
    if not ortho.isValid():
        print(f"cannot open {ortho_src}", file=sys.stderr)
        return 2
    project.addMapLayer(ortho)
    canvas.setDestinationCrs(ortho.crs())

    class Iface:  # the two things the dock asks the interface for
        def mapCanvas(self):
            return canvas

        def mainWindow(self):
            return win

    dock = CsbsrDock(Iface())
    win.addDockWidget(Qt.RightDockWidgetArea, dock)
    dock.raster_combo.setLayer(ortho)
    if args.model:
        dock.model_widget.setFilePath(args.model)
    dock.out_widget.setFilePath(str(tmp / "results"))
    win.resize(1600, 1000)
    win.show()
    canvas.setExtent(ortho.extent())
    dock.refresh_device()
    app.processEvents()

    try:
        return _run_and_grab(app, dock, canvas, tree, ortho, Path(args.out))
    finally:  # QGIS segfaults at exit if layers outlive the application
        del bridge
        dock.shutdown()
        project.removeAllMapLayers()
        QgsApplication.processingRegistry().removeProvider(provider)


def _run_and_grab(app, dock, canvas, tree, ortho, out: Path) -> int:
    done: list = []
    dock.runFinished.connect(done.append)
    if not dock.run():
        print(f"run did not start: {dock.status_label.text()}", file=sys.stderr)
        return 2
    end = time.monotonic() + 600
    while not done and time.monotonic() < end:
        app.processEvents()
        time.sleep(0.05)
    if done != [True]:
        print(f"run failed: {dock.status_label.text()}\n{dock.log_view.toPlainText()}",
              file=sys.stderr)
        return 2
    lines = next(lyr for lyr in dock.last_layers if lyr.name().endswith("crack lines"))
    extent = lines.extent() if lines.featureCount() else ortho.extent()
    extent.scale(1.15)
    canvas.setExtent(extent)
    canvas.refresh()
    tree.expandAll()
    end = time.monotonic() + 20
    while time.monotonic() < end:
        app.processEvents()
        if not canvas.isDrawing():
            time.sleep(0.3)
            app.processEvents()
            if not canvas.isDrawing():
                break
        time.sleep(0.05)
    out.parent.mkdir(parents=True, exist_ok=True)
    crs = ortho.crs().authid()
    dock.window().statusBar().showMessage(
        f"{crs}   scale 1:{canvas.scale():.0f}   {dock.status_label.text()}")
    app.processEvents()
    dock.window().grab().save(str(out))
    print(f"{out}: {dock.status_label.text()}")
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # skip interpreter teardown: Qt/QGIS objects may crash it after the grab
