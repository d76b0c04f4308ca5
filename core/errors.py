"""The exception tree of the engine: one root, each subclass also a built-in.

Every message names the problem *and* the fix, e.g. "raster has no CRS: assign one in QGIS
(Layer Properties > Source) or with gdal_edit.py -a_srs EPSG:xxxx".
"""
from __future__ import annotations


class CsbsrError(Exception):
    """Root of every error the engine raises on purpose."""


class InvalidInputError(CsbsrError, ValueError):
    """Bad user input: unreadable raster, wrong bands, missing CRS, unsupported CRS..."""


class ConfigError(CsbsrError, ValueError):
    """An invalid or inconsistent configuration value."""


class CheckpointError(CsbsrError, RuntimeError):
    """A model file that is missing, corrupt, or incompatible with this version."""


class DeviceError(CsbsrError, RuntimeError):
    """A requested compute device that is not available."""


class OutputExistsError(CsbsrError, FileExistsError):
    """An output would overwrite a file the user owns without being asked to."""


class Cancelled(CsbsrError):
    """The user cancelled the operation; no partial output was left behind."""
