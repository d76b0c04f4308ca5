"""Atomic file writes and output transactions.

A single file goes to a temporary file in the destination folder, renamed when complete;
a run's set of files goes through a :class:`Staging` folder, committed all at once.

A reader never sees a half-written file, and a failure or a cancel leaves nothing behind.
(Rasters that are written block by block use ``raster.io``'s writer, which follows the same
rule.)
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, List, Union

from .errors import InvalidInputError

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


class Staging:
    """A transaction of output files: written in a hidden staging folder inside the output
    folder, moved into place only by :meth:`commit` (same file system: each move is an
    atomic rename), thrown away by :meth:`abort`.

    Earlier results survive a failed or cancelled run; a killed run leaves only the staging
    folder, which the next run of the same name removes (``stale`` says whether it did).

    Args:
        final_dir: the output folder.
        staging_dir: the hidden staging folder (inside ``final_dir``).
    """

    def __init__(self, final_dir: PathLike, staging_dir: PathLike) -> None:
        self.final_dir = Path(final_dir)
        self.dir = Path(staging_dir)
        self.stale = self.dir.exists()
        if self.stale:
            shutil.rmtree(self.dir, ignore_errors=True)
        # the folders this run creates, removed again if it fails (no empty folder is left)
        self.created = [p for p in (self.final_dir, *self.final_dir.parents) if not p.exists()]
        self.final_dir.mkdir(parents=True, exist_ok=True)
        self.dir.mkdir()

    def path(self, final: PathLike) -> Path:
        """Where the file that will end up at ``final`` is written during the run."""
        return self.dir / Path(final).name

    def commit(self, remove: Iterable[PathLike] = ()) -> List[Path]:
        """Move every staged file into the output folder; delete the files of ``remove`` that
        this run did not produce (stale results of an earlier run). Returns the final paths."""
        moved: List[Path] = []
        staged = sorted(p for p in self.dir.iterdir() if p.is_file()
                        and not p.name.startswith("."))
        names = {p.name for p in staged}
        for p in staged:
            final = self.final_dir / p.name
            os.replace(p, final)
            moved.append(final)
        for old in remove:
            old = Path(old)
            if old.name not in names and old.exists():
                old.unlink()
        shutil.rmtree(self.dir, ignore_errors=True)
        return moved

    def abort(self) -> None:
        """Throw every staged file away, and the folders this run created if still empty."""
        shutil.rmtree(self.dir, ignore_errors=True)
        for folder in self.created:  # deepest first
            try:
                folder.rmdir()
            except OSError:  # not empty (or gone): it is someone else's now
                break

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None:
            self.abort()

def remove_stale_partials(outputs: Iterable[PathLike]) -> List[Path]:
    """Remove the hidden temporary files that a killed earlier write of ``outputs`` left
    beside them (``.NAME.*.partial`` of :func:`write_bytes`, ``.STEM.*.partial.tif`` of the
    raster writer, ``.STEM.*.tmp.gpkg`` and the ``.STEM.xxxxxxxx`` Shapefile folder of the
    layer writer); returns what was removed, for the caller to say so. One run per output
    file at a time is assumed (a concurrent writer's temporary file would look stale)."""
    removed: List[Path] = []
    for out in outputs:
        out = Path(out)
        if not out.parent.is_dir():
            continue
        name, stem = re.escape(out.name), re.escape(out.stem)
        stale = re.compile(rf"^\.{name}\..+\.partial$|^\.{stem}\..+\.partial\.tif$"
                           rf"|^\.{stem}\..+\.tmp\.gpkg(-journal|-wal)?$"
                           rf"|^\.{stem}\.[a-z0-9_]{{8}}$")
        for p in out.parent.iterdir():
            if stale.match(p.name) and p not in removed:
                if p.is_dir():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)
                removed.append(p)
    return removed


def check_output_folder(folder: PathLike, inputs: Iterable[PathLike] = ()) -> Path:
    """Refuse an output folder that is a file, lies under a file, or is one of the inputs
    (one line naming the problem and the fix); returns it as a Path. Nothing is created."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InvalidInputError(f"the output folder {folder} is a file: pass --out a folder")
    for parent in folder.parents:
        if parent.exists() and not parent.is_dir():
            raise InvalidInputError(f"the output folder {folder} lies under the file {parent}: "
                                    "pass --out a folder")
    for src in inputs:
        src = Path(str(src))
        if src.exists() and src.resolve() == folder.resolve():
            raise InvalidInputError(f"--out {folder} is the input {src.name} itself: pass a "
                                    "folder for the results")
    return folder


def check_output_file(path: PathLike, overwrite: bool, inputs: Iterable[PathLike] = ()) -> Path:
    """Refuse an output file whose folder is missing or a file, that is an input, or that
    exists without ``overwrite``; returns it as a Path. Nothing is created."""
    from .errors import OutputExistsError

    path = Path(path)
    parent = path.parent
    if not parent.is_dir():
        raise InvalidInputError(f"the folder of {path} does not exist (or is a file): create "
                                "it first or choose another output")
    for src in inputs:
        src = Path(str(src))
        if src.exists() and src.resolve() == path.resolve():
            raise InvalidInputError(f"the output {path} is the input itself: choose another "
                                    "output name")
    if path.is_dir():
        raise InvalidInputError(f"the output {path} is a folder: give a file name")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} already exists: choose another output name or pass "
                                "--overwrite to replace it")
    return path
