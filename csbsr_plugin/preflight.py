"""What the dock can say before Run: an orthophoto, an output folder or a model card that the
engine would refuse, in the engine's words, so that Run stays disabled and nothing starts.

The engine remains the owner of every rule and checks them all again when it runs (CRS that
cannot measure, bands, GSD, card schema...); these are the early notices for the common faults
that the dock can see from QGIS's own view of the layer without loading the engine.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from ..core.raster.rules import mercator, no_crs


def layer_problem(layer: Any) -> Optional[str]:
    """Why the engine would refuse this raster layer, or None.

    Args:
        layer: a ``QgsRasterLayer`` (the dock's current orthophoto).
    """
    name = layer.name()
    if not layer.isValid():
        return f"'{name}' cannot be read: check the file or load it again"
    if layer.providerType() != "gdal":
        return f"'{name}' is a {layer.providerType()} layer, not a file: export it to GeoTIFF first"
    path = layer.source().split("|")[0]
    if not Path(path).is_file():
        return f"'{name}' is not a file on disk: export it to GeoTIFF first"
    crs = layer.crs()
    if not crs.isValid():
        return no_crs(f"'{name}'")
    if f"{crs.toProj()} ".find("+proj=merc ") >= 0:
        return mercator(f"'{name}'", crs.description() or crs.authid())
    if layer.bandCount() < 3:
        return (f"'{name}' has {layer.bandCount()} band(s): the model needs 3 bands (R, G, B); "
                "choose an RGB orthophoto")
    return None


def output_problem(folder: str) -> Optional[str]:
    """Why ``folder`` cannot hold the run folders, or None (an empty text is the default)."""
    if not folder:
        return None
    path = Path(folder)
    if path.exists() and not path.is_dir():
        return f"the output folder {path} is a file: choose a folder"
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                return f"the output folder {path} lies under the file {parent}: choose a folder"
            break
    return None
