"""The dock's "Compare with an earlier inspection..." entry.

It picks the earlier inspection's folder, takes the current result as the later one (the
panel's last run, else the run group on top of the layer tree, else it asks for that folder
too) and runs ``csbsr:comparesurveys`` as a background ``QgsProcessingAlgRunnerTask`` through
the dock's runner, like an inspection; the styled change layer is added when it ends. No
compute here.
"""
from __future__ import annotations

import html
import time
from pathlib import Path
from typing import Any, Dict, Optional

from qgis.core import QgsProject
from qgis.PyQt.QtCore import QObject, pyqtSignal
from qgis.PyQt.QtWidgets import QFileDialog

from . import settings
from .compare_results import add_changes
from .results import RUN_KEY

ALG_ID = "csbsr:comparesurveys"
BUTTON_TEXT = "Compare with an earlier inspection…"


def current_result(dock: Any) -> Optional[Path]:
    """The folder of the current result: the dock's last run, else the newest run group of
    the project (the dock and the toolbox name them; see ``results.run_group``)."""
    if dock.last_run is not None:
        return Path(dock.last_run.folder)
    for group in QgsProject.instance().layerTreeRoot().findGroups():
        key = group.customProperty(RUN_KEY)
        if key:
            return Path(str(key).split("|", 1)[0])
    return None


class CompareLauncher(QObject):
    """Runs ``csbsr:comparesurveys`` for the dock; ``finished`` fires with the change layer
    (None: failed or cancelled)."""

    finished = pyqtSignal(object)

    def __init__(self, dock: Any) -> None:
        super().__init__(dock)
        self.dock = dock
        self.task: Any = None
        self.feedback: Any = None
        self.context: Any = None
        self.params: Dict[str, Any] = {}
        self.layer: Any = None
        dock.compare_button.clicked.connect(lambda *_: self.start())
        dock.cancel_button.clicked.connect(self.cancel)

    def pick_folder(self, title: str, start: str = "") -> str:
        """A folder from the user ("" when cancelled)."""
        return QFileDialog.getExistingDirectory(self.dock, title, start)

    def output_folder(self, old: Path, new: Path) -> Path:
        """``<output folder>/compare_<old>_<new>_<YYYYmmdd-HHMMSS>`` (never overwrites)."""
        base = self.dock.out_widget.filePath() or str(
            settings.default_output_base(QgsProject.instance()))
        return Path(base) / f"compare_{old.name}_{new.name}_{time.strftime('%Y%m%d-%H%M%S')}"

    def start(self, old: Optional[str] = None, new: Optional[str] = None) -> bool:
        """Ask for the folders that are not given, then start the comparison in the
        background; return True if started."""
        dock = self.dock
        if self.task is not None:
            return False
        later = Path(new) if new else current_result(dock)
        if later is None:
            picked = self.pick_folder("Choose the later inspection (its run folder)")
            if not picked:
                return False
            later = Path(picked)
        earlier = old or self.pick_folder(
            f"Choose the earlier inspection to compare {later.name} with (a run or survey "
            "folder)", str(later.parent))
        if not earlier:
            return False
        self.params = {"OLD": str(earlier), "NEW": str(later), "LOAD_LAYERS": False,
                       "CREATE_REPORT": dock.report_check.isChecked(),
                       "OUTPUT_FOLDER": str(self.output_folder(Path(earlier), later))}
        dock.log_view.clear()
        dock.progress_bar.setValue(0)
        dock.status_label.setText(f"comparing {html.escape(Path(earlier).name)} → "
                                  f"{html.escape(later.name)}...")
        try:
            _alg, self.context, self.feedback, self.task = dock._start(
                ALG_ID, self.params, self._done)
        except ValueError as exc:
            dock.status_label.setText(f"<span style='color:#b00'>{html.escape(str(exc))}"
                                      "</span>")
            return False
        self.feedback.progressChanged.connect(lambda p: dock.progress_bar.setValue(int(p)))
        self.feedback.warned.connect(dock.log_view.appendPlainText)
        dock.compare_button.setEnabled(False)
        dock.cancel_button.setEnabled(True)
        return True

    def cancel(self) -> None:
        """Stop a running comparison (the engine leaves no file)."""
        if self.feedback is not None:
            self.feedback.cancel()

    def _done(self, ok: bool, res: Dict[str, Any]) -> None:
        dock = self.dock
        cancelled = self.feedback is not None and self.feedback.isCanceled()
        self.layer = None
        if ok and res and not cancelled:
            self.layer = add_changes(QgsProject.instance(), self.params["OUTPUT_FOLDER"])
            dock.progress_bar.setValue(100)
            for line in str(res.get("REGISTRATION_TEXT") or "").splitlines():
                dock.log_view.appendPlainText(line)
            text = (f"changes: {res.get('N_NEW', 0)} new, {res.get('N_EXTENDED', 0)} "
                    f"extended, {res.get('N_WIDENED', 0)} widened, {res.get('N_GONE', 0)} "
                    f"gone; growth {float(res.get('GROWTH_M') or 0.0):.2f} m")
            dock._announce_report(res, text)
            if not dock.last_report:
                dock.status_label.setText(html.escape(text))
        elif cancelled:
            dock.status_label.setText("comparison cancelled: nothing was written")
            dock.progress_bar.setValue(0)
        else:
            dock.status_label.setText("<span style='color:#b00'>the comparison failed: see "
                                      "the messages below</span>")
        self.task = self.context = self.feedback = None
        dock.compare_button.setEnabled(True)
        dock.cancel_button.setEnabled(dock.task is not None)
        self.finished.emit(self.layer)
