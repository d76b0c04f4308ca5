"""The dock's device line: which device a run would use, asked of the engine."""
from __future__ import annotations

import html
from typing import Any, Optional

from qgis.core import QgsApplication


def check_device(label: Any, spec: str, wait: bool = False) -> Optional[Any]:
    """Ask the engine which device a run with ``spec`` ("auto", "cpu", "cuda") would use and
    show it in ``label``; in the background unless ``wait``.

    Returns:
        The background ``QgsTask`` (keep a reference while it runs), or None.
    """
    from . import engine

    exe = engine.find_engine()
    if exe is None:
        label.setText("device: unknown until an engine is set up")
        return None

    def probe(_task: Any = None) -> str:
        return engine.probe_engine(exe, spec).get("device", "unknown")

    def show(exception: Any, device: Optional[str] = None) -> None:
        if device:
            device = device.split(" \u2014 ")[0]  # the description; Diagnostics has the reason
        try:
            label.setText(f"will run on <b>{html.escape(device)}</b>" if device
                          else f"<span style='color:#b00'>{exception}</span>")
        except RuntimeError:  # the panel was closed meanwhile
            pass

    label.setText("checking the device...")
    if wait:
        try:
            show(None, probe())
        except Exception as exc:  # shown in the panel: the engine's own words
            show(exc)
        return None
    from qgis.core import QgsTask

    task = QgsTask.fromFunction("CSBSR device check", probe, on_finished=show)
    QgsApplication.taskManager().addTask(task)
    return task
