"""``csbsr diagnose``: versions, GPU availability and the device a run would use.

:func:`collect` is shared with the QGIS plugin's diagnostics action (which adds QGIS's own
versions), so a bug report from either front-end has the same lines.
"""
from __future__ import annotations

import argparse
import importlib
import platform
import sys
from typing import Any, List, Tuple

from . import result, say

#: import names of distributions whose name differs (the rest import as their name)
IMPORT_NAMES = {"opencv-python-headless": "cv2", "scikit-image": "skimage"}
#: used when the package metadata cannot be read (a source checkout without installation)
FALLBACK = ("numpy", "torch", "safetensors", "rasterio", "shapely", "pyogrio", "pyproj", "cv2",
            "skimage", "skan", "scipy", "matplotlib", "attrs", "dask", "distributed")


def required_modules() -> List[str]:
    """Import names of the engine's run-time dependencies: the ``[project] dependencies`` of
    ``pyproject.toml`` as installed (the one dependency list)."""
    import re
    from importlib import metadata

    try:
        reqs = metadata.requires("csbsr") or []
    except metadata.PackageNotFoundError:
        return list(FALLBACK)
    names = []
    for r in reqs:
        if "extra ==" in r:
            continue
        dist = re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0].strip().lower()
        names.append(IMPORT_NAMES.get(dist, dist.replace("-", "_")))
    return names


def _version(name: str) -> str:
    try:
        mod = importlib.import_module(name)
    except ImportError as exc:
        return f"MISSING ({exc})"
    extra = ""
    if name == "rasterio":
        extra = f" (GDAL {getattr(mod, '__gdal_version__', '?')})"
    elif name == "shapely":
        extra = f" (GEOS {getattr(mod, 'geos_version_string', '?')})"
    elif name == "pyproj":
        extra = f" (PROJ {getattr(mod, 'proj_version_str', '?')})"
    return f"{getattr(mod, '__version__', '?')}{extra}"


def collect(device: str = "auto", model: Any = None) -> List[Tuple[str, str]]:
    """Return (label, value) lines: platform, package versions, GPU, chosen device, model.

    Never raises for a missing package or device: the problem becomes the value.
    """
    from .. import __version__
    from ..errors import CsbsrError

    lines: List[Tuple[str, str]] = [
        ("csbsr", __version__),
        ("python", f"{sys.version.split()[0]} ({sys.executable})"),
        ("platform", f"{platform.system()} {platform.release()} {platform.machine()}"),
    ]
    lines += [(name, _version(name)) for name in required_modules()]
    try:
        from ..device import cuda_summary, resolve_device

        lines.append(("gpu", cuda_summary()))
        choice = resolve_device(device)
        lines.append(("device", f"{choice.description} — {choice.reason}"))
    except ImportError as exc:
        lines.append(("device", f"unavailable: {exc}"))
    except CsbsrError as exc:
        lines.append(("device", f"error: {exc}"))
    try:
        from ..model.card import default_model_path, read_card

        path = model or default_model_path()
        card = read_card(path)
        gsd = f"{card.input_gsd_m * 1000:.3g} mm/px" if card.input_gsd_m else "unknown GSD"
        lines.append(("model", f"{path}: x{card.scale}, input {gsd}, "
                               f"threshold {card.recommended_threshold:.2f}"))
    except CsbsrError as exc:
        lines.append(("model", f"error: {exc}"))
    return lines


def format_lines(lines: List[Tuple[str, str]]) -> str:
    """Align (label, value) lines as text."""
    width = max(len(k) for k, _ in lines)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in lines)


def register(sub: Any) -> None:
    """Add the ``diagnose`` sub-command."""
    p = sub.add_parser("diagnose", help="versions, GPU and the device a run would use",
                       description="Print package versions, the GPU torch sees and the device "
                       "a run would use; paste it into bug reports.")
    p.add_argument("--device", default="auto", help="device to resolve (default auto)")
    p.add_argument("--model", default=None, help="model whose card to read (default: shipped)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace, progress: Any) -> int:
    lines = collect(args.device, args.model)
    say(progress, format_lines(lines))
    result(progress, diagnostics=dict(lines))
    return 0
