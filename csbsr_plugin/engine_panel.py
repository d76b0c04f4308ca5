"""The dock's "Engine" box: which engine the runs use, and the buttons that set one up (a new
environment, with the user's consent, progress and a log) or choose an existing one."""
from __future__ import annotations

import html
from pathlib import Path
from typing import Any, Optional

from qgis.core import QgsApplication
from qgis.PyQt.QtCore import pyqtSignal
from qgis.PyQt.QtWidgets import (
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
)

from . import engine, engine_setup


class EnginePanel(QGroupBox):
    """Shows the engine in use; ``changed`` fires when it changes."""

    changed = pyqtSignal()

    def __init__(self, parent: Any = None) -> None:
        super().__init__("Engine", parent)
        self.task: Optional[engine_setup.EngineSetupTask] = None
        layout = QVBoxLayout(self)
        self.label = QLabel()
        self.label.setWordWrap(True)
        layout.addWidget(self.label)
        row = QHBoxLayout()
        self.setup_button = QPushButton("Set up engine...")
        self.setup_button.setToolTip("Create the engine's own Python environment and install "
                                     "its pinned packages (asks first)")
        self.choose_button = QPushButton("Choose...")
        self.choose_button.setToolTip("Use the csbsr executable of an existing environment")
        row.addWidget(self.setup_button)
        row.addWidget(self.choose_button)
        row.addStretch(1)
        layout.addLayout(row)
        self.bar = QProgressBar()
        self.bar.setRange(0, 100)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumHeight(100)
        for w in (self.bar, self.log):
            w.setVisible(False)
            layout.addWidget(w)
        self.setup_button.clicked.connect(self.ask_and_set_up)
        self.choose_button.clicked.connect(self.choose)
        self.refresh()

    def engine(self) -> Optional[str]:
        """The engine the runs will use (None: none set up)."""
        return engine.find_engine()

    def refresh(self) -> None:
        """Show the engine in use."""
        exe = self.engine()
        if exe is None:
            self.label.setText("<span style='color:#b00'><b>No engine is set up.</b></span> "
                               "CSBSR runs its model in a Python environment of its own: "
                               "click <i>Set up engine</i> (downloads about 1-3 GB once) or "
                               "<i>Choose</i> an existing <tt>csbsr</tt> executable.")
        else:
            self.label.setText(f"Runs use <tt>{html.escape(exe)}</tt> "
                               f"<span style='color:#666'>({engine.engine_source()})</span>")
        self.setup_button.setText("Set up engine..." if exe is None else "Set up again...")
        self.changed.emit()

    def choose(self) -> None:
        """Pick an existing engine executable and store it in the Processing setting."""
        path, _filter = QFileDialog.getOpenFileName(self, "The csbsr executable of the engine's "
                                                    "environment", str(Path.home()))
        if path:
            engine.set_setting(path)
            self.refresh()

    def ask_and_set_up(self) -> bool:
        """Ask, then create the environment in the background; True when started."""
        env_dir = engine.default_engine_dir()
        answer = QMessageBox.question(self, "Set up the CSBSR engine",
                                      engine_setup.plan(env_dir),
                                      QMessageBox.Yes | QMessageBox.No, QMessageBox.No)
        if answer != QMessageBox.Yes:
            return False
        return self.set_up(env_dir)

    def set_up(self, env_dir: Path, lock: Path = engine_setup.LOCK_FILE) -> bool:
        """Create the environment in ``env_dir`` from ``lock`` in a background task."""
        if self.task is not None:
            return False
        self.task = engine_setup.EngineSetupTask(env_dir, lock)
        self.task.line.connect(self.log.appendPlainText)
        self.task.progressChanged.connect(lambda p: self.bar.setValue(int(p)))
        self.task.taskCompleted.connect(self._finished)
        self.task.taskTerminated.connect(self._finished)
        for w in (self.bar, self.log):
            w.setVisible(True)
        self.log.clear()
        self.setup_button.setEnabled(False)
        self.label.setText(f"Setting up the engine in <tt>{html.escape(str(env_dir))}</tt>...")
        QgsApplication.taskManager().addTask(self.task)
        return True

    def _finished(self) -> None:
        task, self.task = self.task, None
        self.setup_button.setEnabled(True)
        if task is not None and task.engine:
            engine.set_setting(task.engine)
            self.bar.setValue(100)
        self.refresh()
        if task is not None and not task.engine:
            self.label.setText(self.label.text() + "<br><span style='color:#b00'>Set-up failed: "
                               f"{html.escape(task.error or 'cancelled')}</span>")
