"""Per-project settings of the dock panel (stored in the .qgz through project entries), and the
default output folder."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

from qgis.core import QgsProject

SCOPE = "csbsr"
DEFAULTS: Dict[str, Any] = {
    "raster_layer": "", "area": 0, "aoi_layer": "", "model": "", "device": 0,
    "threshold": 0.0, "seed": 0.0, "out_dir": "", "save_sr": False, "gsd_policy": 0, "standard": 0,
    "use_axis": False, "axis_deg": 0.0, "min_len_cm": 5.0, "create_report": True,
}
RESULTS_DIR = "csbsr_results"


def default_output_base(project: QgsProject) -> Path:
    """Where runs go when no folder is chosen: ``csbsr_results`` in the project's folder, or
    in the user's home for an unsaved project (never beside the orthophoto: the sample lives
    in the plugin folder, which QGIS replaces on upgrade)."""
    home = project.absolutePath() if project is not None else ""
    return Path(home) / RESULTS_DIR if home else Path.home() / RESULTS_DIR


def load(project: QgsProject) -> Dict[str, Any]:
    """Read the dock settings of ``project`` (defaults where unset)."""
    out: Dict[str, Any] = {}
    for key, default in DEFAULTS.items():
        if isinstance(default, bool):
            value, _ok = project.readBoolEntry(SCOPE, key, default)
        elif isinstance(default, int):
            value, _ok = project.readNumEntry(SCOPE, key, default)
        elif isinstance(default, float):
            value, _ok = project.readDoubleEntry(SCOPE, key, default)
        else:
            value, _ok = project.readEntry(SCOPE, key, default)
        out[key] = value
    return out


def save(project: QgsProject, values: Dict[str, Any]) -> None:
    """Write the dock settings into ``project`` (marks it dirty only on a change)."""
    current = load(project)
    for key, value in values.items():
        if key in DEFAULTS and current.get(key) != value:
            if isinstance(DEFAULTS[key], bool):
                project.writeEntryBool(SCOPE, key, bool(value))
            elif isinstance(DEFAULTS[key], float):
                project.writeEntryDouble(SCOPE, key, float(value))
            else:
                project.writeEntry(SCOPE, key, value)
