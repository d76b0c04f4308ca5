"""Re-inspection: what changed between two inspections of one site (``csbsr compare``).

Modules: :mod:`.config` (settings), :mod:`.io` (run and survey folders, the working frame,
the GeoPackage writer), :mod:`.registration` (orthophoto co-registration),
:mod:`.uncertainty` (what counts as a real change), :mod:`.matching` (line matching and
change classes), :mod:`.schema` (the ``crack_change`` fields), :mod:`.compare` (the
orchestration and outputs) and :mod:`.report` (the HTML page). See ``docs/reinspection.md``.
Importing this package imports neither torch nor GDAL.
"""
from __future__ import annotations

from .config import CompareConfig
from .schema import CHANGE_FIELDS, CLASSES

__all__ = ["CHANGE_FIELDS", "CLASSES", "CompareConfig", "compare_inspections"]


def __getattr__(name: str):  # lazy: keeps `import csbsr.core.compare` light
    if name == "compare_inspections":
        from .compare import compare_inspections

        return compare_inspections
    raise AttributeError(name)
