"""Which engine dependencies are missing, and how to install them on the user's platform.

Only ``importlib.util.find_spec`` is used: nothing heavy is imported, so the plugin loads (and
explains itself) in a QGIS whose Python lacks torch. Nothing is ever installed from here: the
user runs the printed command in the right shell (never ``sys.executable``, which is the QGIS
binary on Windows and macOS).
"""
from __future__ import annotations

import importlib.util
import platform
from typing import List, Optional

# (import name, pip name, what it is for)
REQUIRED = (
    ("torch", "torch", "runs the crack network"),
    ("safetensors", "safetensors", "reads model files"),
    ("numpy", "numpy<2", "arrays"),
    ("rasterio", "rasterio", "reads and writes GeoTIFFs"),
    ("shapely", "shapely>=2", "crack geometries"),
    ("scipy", "scipy", "image filters"),
    ("skimage", "scikit-image", "skeletons"),
    ("skan", "skan", "skeleton graphs"),
    ("affine", "affine", "geotransforms"),
)

TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
TORCH_CUDA_INDEX = "https://download.pytorch.org/whl/cu124"


def missing_modules() -> List[str]:
    """Return the import names of required modules that cannot be found (empty = all good)."""
    out = []
    for name, _pip, _why in REQUIRED:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a None entry in sys.modules, a broken package
            found = False
        if not found:
            out.append(name)
    return out


def _pip_names(missing: List[str]) -> List[str]:
    by_name = {name: pip for name, pip, _why in REQUIRED}
    return [by_name[m] for m in missing if m != "torch"]


def install_commands(missing: List[str], system: Optional[str] = None) -> List[str]:
    """Return the shell lines that install ``missing`` into QGIS's own Python.

    Args:
        missing: import names from :func:`missing_modules`.
        system: "Windows", "Darwin" or "Linux" (default: this machine's).
    """
    system = system or platform.system()
    if system == "Windows":
        py = "python -m pip"
    elif system == "Darwin":
        py = "/Applications/QGIS.app/Contents/MacOS/bin/python3 -m pip"
    else:
        py = "python3 -m pip"
    lines = []
    if "torch" in missing:
        lines.append(f"{py} install torch --index-url {TORCH_CPU_INDEX}    # CPU")
        if system != "Darwin":
            lines.append(f"{py} install torch --index-url {TORCH_CUDA_INDEX}   # or: NVIDIA GPU")
    rest = _pip_names(missing)
    if rest:
        lines.append(f"{py} install " + " ".join(f'"{p}"' if "<" in p or ">" in p else p
                                                   for p in rest))
    return lines


def missing_message(missing: Optional[List[str]] = None, system: Optional[str] = None) -> str:
    """Return a user message naming what is missing and exactly how to install it.

    Returns an empty string when nothing is missing.
    """
    missing = missing_modules() if missing is None else missing
    if not missing:
        return ""
    system = system or platform.system()
    why = {name: reason for name, _pip, reason in REQUIRED}
    head = "CSBSR needs Python packages that QGIS's Python does not have: " + ", ".join(
        f"{m} ({why.get(m, '')})" for m in missing) + "."
    if system == "Windows":
        where = ("Close QGIS, open 'OSGeo4W Shell' from the Start menu (as Administrator if "
                 "QGIS is in Program Files) and run:")
    elif system == "Darwin":
        where = ("Close QGIS, open Terminal and run (adjust the path if QGIS is not in "
                 "/Applications):")
    else:
        where = ("Close QGIS and run in a terminal (QGIS uses the system Python; with a "
                 "Debian/Ubuntu QGIS you may need 'pip install --user' or "
                 "'--break-system-packages'):")
    cmds = "\n".join("  " + c for c in install_commands(missing, system))
    tail = ("Then restart QGIS. The GPU build of torch needs an NVIDIA driver; the CPU build "
            "works everywhere. The plugin never installs anything by itself.")
    return f"{head}\n{where}\n{cmds}\n{tail}"
