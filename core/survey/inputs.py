"""The orthophotos of a survey: folders, glob patterns and list files, resolved and checked.

Each argument is one of:

- a **folder**: every raster in it (``*.tif``, ``*.tiff``, ``*.jp2``, ``*.vrt``, ``*.img``;
  not recursive);
- a **glob pattern** (``/data/2026/**/*.tif``; ``**`` recurses), quoted so the shell leaves it;
- a **list file** (any other existing file, e.g. ``survey.txt``): one raster path per line,
  relative to the list file's folder; blank lines and lines starting with ``#`` are skipped;
- a **raster** path.

Inputs are deduplicated (same resolved path) and kept in the order given (a folder's or a
glob's matches sorted by name). Their file stems name the run folders, so two inputs may not
share a stem. Nothing is opened here: an unreadable or CRS-less raster is reported by its own
run, while the others go on.
"""
from __future__ import annotations

import glob
from pathlib import Path
from typing import Dict, List, Sequence

from ..errors import InvalidInputError

RASTER_SUFFIXES = (".tif", ".tiff", ".jp2", ".vrt", ".img")
LIST_SUFFIXES = (".txt", ".lst", ".list", ".csv")


def _is_glob(text: str) -> bool:
    return any(c in text for c in "*?[")


def _folder(path: Path) -> List[Path]:
    return sorted(p for p in path.iterdir()
                  if p.is_file() and p.suffix.lower() in RASTER_SUFFIXES
                  and not p.name.startswith("."))


def _list_file(path: Path) -> List[Path]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"cannot read the list file {path} ({exc}): pass a UTF-8 text "
                                "file with one orthophoto path per line") from exc
    out = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        p = Path(line).expanduser()
        out.append(p if p.is_absolute() else path.parent / p)
    return out


def expand(spec: str) -> List[Path]:
    """The orthophotos named by one argument (see the module doc)."""
    path = Path(spec).expanduser()
    if path.is_dir():
        return _folder(path)
    if path.is_file():
        if path.suffix.lower() in LIST_SUFFIXES:
            return _list_file(path)
        return [path]
    if _is_glob(spec):
        return [Path(p) for p in sorted(glob.glob(str(path), recursive=True))
                if Path(p).is_file()]
    raise InvalidInputError(f"{spec} does not exist: pass an orthophoto, a folder of them, a "
                            "quoted glob pattern such as 'data/*.tif', or a list file")


def resolve_inputs(specs: Sequence[str]) -> List[Path]:
    """Every orthophoto of ``specs``, absolute, deduplicated, in order.

    Raises:
        InvalidInputError: an argument that matches nothing, no orthophoto at all, or two
            orthophotos with the same file stem (their run folders would collide).
    """
    seen: Dict[Path, None] = {}
    for spec in specs:
        found = expand(str(spec))
        if not found:
            raise InvalidInputError(
                f"no orthophoto found in {spec} (looked for {', '.join(RASTER_SUFFIXES)}): "
                "check the folder or the pattern")
        for p in found:
            seen.setdefault(p.resolve(), None)
    paths = list(seen)
    if not paths:
        raise InvalidInputError("no orthophoto given: pass files, folders, patterns or a list")
    stems: Dict[str, Path] = {}
    for p in paths:
        other = stems.setdefault(p.stem, p)
        if other != p:
            raise InvalidInputError(
                f"two orthophotos share the name {p.stem!r} ({other} and {p}): their run "
                "folders would collide; rename one or survey them separately")
    return paths
