"""The words of the orthophoto rules that every front end shares (one owner).

Whoever refuses a raster for one of these reasons says why and how to fix it in these
words: the engine (:mod:`core.raster.io`, :mod:`core.vectorize.measure`) with the file name,
the dock before Run (``csbsr_plugin.preflight``) with the layer name. Plain strings only:
the plugin imports this module inside QGIS's process, where the engine's packages are absent.
"""
from __future__ import annotations


def no_crs(name: str) -> str:
    """``name`` (a file, a layer, "the raster") has no coordinate reference system."""
    return (f"{name} has no CRS, so lengths and widths cannot be measured in metres: assign "
            "its projected CRS in QGIS (Layer Properties > Source > Assigned CRS, then save) "
            "or with gdal_edit.py -a_srs EPSG:xxxx")


def mercator(name: str, crs: str) -> str:
    """``name`` is in the (Web) Mercator CRS ``crs`` (its name), which cannot measure."""
    return (f"{name} is in {crs}, a (Web) Mercator projection, which inflates lengths and "
            "widths by 1/cos(latitude) (x1.56 at 50 deg N): reproject it to a local projected "
            "CRS such as its UTM zone (QGIS Raster > Projections > Warp, or gdalwarp -t_srs "
            "EPSG:326xx in.tif out.tif) and run again")
