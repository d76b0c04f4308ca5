"""Atomic file writes: a temporary file in the destination folder, renamed when complete.

A reader never sees a half-written file, and a failure or a cancel leaves nothing behind.
(Rasters that are written block by block use ``raster_io``'s writer, which follows the same
rule.)
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Union

PathLike = Union[str, Path]


def write_bytes(path: PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically, with the usual (umask) permissions."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=str(path.parent))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def write_text(path: PathLike, text: str) -> Path:
    """Write ``text`` as UTF-8 (newlines kept as given) to ``path`` atomically."""
    return write_bytes(path, text.encode("utf-8"))
