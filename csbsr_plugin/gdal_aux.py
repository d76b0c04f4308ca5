"""Nothing written beside the user's orthophoto: GDAL's ``.aux.xml`` files off where the
plugin opens it.

QGIS computes band statistics for the renderer of every raster layer it opens, and GDAL keeps
them in ``ORTHO.tif.aux.xml`` beside the file when the dataset closes (its "PAM" files). When
a user adds a raster to a project that is QGIS's own doing; when an algorithm of this plugin
is given a file path (``qgis_process``, batch, models), the layer is opened for the run, and
the run must not leave a file beside its input. Two places do that:

* :func:`no_aux_files` around the plugin's own openings (Processing's parameter checks and
  ``CsbsrAlgorithm.input_raster``), in the thread that opens the layer;
* ``qgis_process run csbsr:...`` opens the input layers before any algorithm code runs: for
  that one command, :func:`off_for_qgis_process` (called when the provider loads) turns them
  off in its main thread.

GDAL's ``GDAL_PAM_ENABLED`` is set thread-locally; a dataset keeps the choice it was opened
with until it is closed, so other threads and later layers of a QGIS session are not affected.
Limit: a raster whose georeferencing lives only in an ``.aux.xml`` is seen by QGIS without it
for these runs (the engine reads the raster itself, with the file).
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional, Sequence

from osgeo import gdal  # QGIS's own GDAL, never the engine's wheels

KEY = "GDAL_PAM_ENABLED"


@contextmanager
def no_aux_files() -> Iterator[None]:
    """GDAL's ``.aux.xml`` files off in this thread for the rasters opened in the block."""
    before = gdal.GetThreadLocalConfigOption(KEY, None)
    gdal.SetThreadLocalConfigOption(KEY, "NO")
    try:
        yield
    finally:
        gdal.SetThreadLocalConfigOption(KEY, before)


def off_for_qgis_process(arguments: Optional[Sequence[str]] = None) -> bool:
    """Turn ``.aux.xml`` files off in this thread when this process is ``qgis_process``
    running a ``csbsr:`` algorithm (its inputs are opened before the algorithm's code runs).

    Args:
        arguments: the process's command line (default: ``QCoreApplication.arguments()``).

    Returns:
        True when they were turned off.
    """
    if arguments is None:
        from qgis.PyQt.QtCore import QCoreApplication

        arguments = QCoreApplication.arguments()
    args = list(arguments)
    if not args or not Path(args[0]).name.lower().startswith("qgis_process"):
        return False
    if not any(a.startswith("csbsr:") for a in args[1:]):
        return False
    gdal.SetThreadLocalConfigOption(KEY, "NO")
    return True
