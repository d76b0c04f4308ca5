"""Build dist/csbsr_plugin-<version>.zip for QGIS's "Install from ZIP".

The zip holds ONE top-level folder ``csbsr`` (a clean ASCII name, also the package name the
code is tested under) with metadata.txt, __init__.py, LICENSE, README.md, core/,
csbsr_plugin/, resources/ (styles, icons, the default model and the sample), requirements/
(the engine's pinned dependencies, installed by the panel's "Set up engine") and the user
guide with its screenshots (docs/user-guide.md, docs/screenshots/, opened by Help) — no tests,
caches, virtual environments or statistics side-cars.
"""
from __future__ import annotations

import configparser
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FOLDER = "csbsr"
FILES = ("metadata.txt", "__init__.py", "LICENSE", "README.md", "docs/user-guide.md")
TREES = ("core", "csbsr_plugin", "resources", "requirements", "docs/screenshots")
SKIP_DIRS = {"__pycache__", ".ruff_cache", ".pytest_cache", ".git", ".venv",
             "baselines"}  # the ablation baselines (resources/models/baselines) are for research
SKIP_SUFFIXES = (".pyc", ".pyo", ".aux.xml", ".part", ".tmp")


def plugin_files() -> list:
    """(path on disk, path in the zip) of every packaged file."""
    out = [(REPO / f, f"{FOLDER}/{f}") for f in FILES if (REPO / f).is_file()]
    for tree in TREES:
        for path in sorted((REPO / tree).rglob("*")):
            rel = path.relative_to(REPO)
            if not path.is_file() or SKIP_DIRS & set(rel.parts):
                continue
            if path.name.startswith(".") or path.name.endswith(SKIP_SUFFIXES):
                continue
            out.append((path, f"{FOLDER}/{rel.as_posix()}"))
    return out


def main(argv: list) -> int:
    meta = configparser.ConfigParser()
    meta.read(REPO / "metadata.txt", encoding="utf-8")
    version = meta["general"]["version"]
    dist = REPO / "dist"
    dist.mkdir(exist_ok=True)
    target = dist / f"csbsr_plugin-{version}.zip"
    tmp = target.with_suffix(".zip.part")
    files = plugin_files()
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, arc in files:
            zf.write(path, arc)
    tmp.replace(target)
    size = target.stat().st_size / 2**20
    models = [a for _, a in files if a.endswith(".safetensors")]
    print(f"{target}: {len(files)} files, {size:.1f} MiB; models: {models or 'NONE'}")
    if not models:
        print("warning: no model in resources/models/ (run `make train` first)",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
