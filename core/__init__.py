"""CSBSR engine: blind super-resolution + crack segmentation, tiled inference, vectorization.

This package never imports QGIS or Qt, and importing it does not import torch: the heavy
modules (``model``, ``infer``, ``train``...) are imported where they are used.
"""
from __future__ import annotations

from .errors import (
    Cancelled,
    CheckpointError,
    ConfigError,
    CsbsrError,
    DeviceError,
    InvalidInputError,
)
from .progress import NullProgress, Progress, check_cancelled, sub_progress

__version__ = "0.1.0"

__all__ = [
    "Cancelled",
    "CheckpointError",
    "ConfigError",
    "CsbsrError",
    "DeviceError",
    "InvalidInputError",
    "NullProgress",
    "Progress",
    "__version__",
    "check_cancelled",
    "sub_progress",
]
