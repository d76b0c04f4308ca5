"""Keep the engine's pip wheels on their own GEOS/GDAL/PROJ inside a QGIS executable.

The ``qgis`` and ``qgis_process`` executables link QGIS's own GEOS, GDAL and PROJ into the
process's *global* symbol scope. Wheels such as shapely, rasterio and pyproj bundle newer
copies under hash-renamed file names, but their symbols (``GEOSGeom_destroy_r``,
``GDALOpenEx``...) have the same names, so without precautions the dynamic linker binds part
of a wheel to QGIS's older library and part to its own: shapely then fails ("WKB output
dimension must be 2 or 3") or corrupts the heap ("double free or corruption"). In a plain
Python process (pytest, the CLI) QGIS is loaded locally and nothing clashes.

:func:`isolate` imports every compiled module of those packages with ``RTLD_DEEPBIND``
(Linux), so each binds to the libraries it ships first. It must run before anything else
imports them; :func:`check` reports when that was too late.
"""
from __future__ import annotations

import ctypes
import importlib
import importlib.util
import logging
import os
import sys
from pathlib import Path
from typing import List, Optional

log = logging.getLogger(__name__)

PACKAGES = ("shapely", "pyproj", "rasterio")
_done = False
_too_late: List[str] = []


def _extension_modules(package: str) -> List[str]:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return []
    root = Path(next(iter(spec.submodule_search_locations)))
    names = []
    for so in sorted(root.rglob("*.so")):
        rel = so.relative_to(root.parent)
        if any(part.startswith(("test", ".")) for part in rel.parts[1:-1]):
            continue
        mod = ".".join((*rel.parts[:-1], rel.name.split(".", 1)[0]))
        names.append(mod)
    return names


def isolate() -> List[str]:
    """Import the compiled modules of shapely, pyproj and rasterio with RTLD_DEEPBIND.

    Returns the packages that were already imported (too late to isolate). Does nothing
    outside Linux or when already done.
    """
    global _done
    if _done or not sys.platform.startswith("linux") or not hasattr(os, "RTLD_DEEPBIND"):
        return list(_too_late)
    _done = True
    flags = sys.getdlopenflags()
    sys.setdlopenflags(flags | os.RTLD_DEEPBIND)
    try:
        for package in PACKAGES:
            if package in sys.modules:
                _too_late.append(package)
                continue
            for name in _extension_modules(package):
                try:
                    importlib.import_module(name)
                except ImportError as exc:  # optional extensions; the package import decides
                    log.debug("could not pre-load %s: %s", name, exc)
            if importlib.util.find_spec(package) is not None:
                importlib.import_module(package)
    finally:
        sys.setdlopenflags(flags)
    return list(_too_late)


def global_geos_version() -> Optional[str]:
    """GEOS version visible in the process's global symbol scope (QGIS's), or None."""
    try:
        fn = ctypes.CDLL(None).GEOSversion
    except (AttributeError, OSError):
        return None
    fn.restype = ctypes.c_char_p
    return fn().decode("ascii", "replace")


def check() -> str:
    """An error message when shapely was imported before :func:`isolate` next to another
    GEOS (it would crash QGIS), else ""."""
    if "shapely" not in _too_late:
        return ""
    import shapely

    other = global_geos_version()
    own = getattr(shapely, "geos_version_string", "")
    if not other or not own or other.split("-")[0] == own.split("-")[0]:
        return ""
    return (f"another plugin imported shapely (built for GEOS {own}) before CSBSR could "
            f"isolate it from QGIS's GEOS {other}; running now could crash QGIS. Restart QGIS "
            "and run CSBSR before that plugin, or install a shapely built against QGIS's GEOS "
            "(pip install --no-binary shapely shapely)")
