"""Paths of the plugin's resources (icons, QML styles, shipped model and sample)."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESOURCES = ROOT / "resources"
ICON_PATH = RESOURCES / "icons" / "csbsr.svg"
STYLES = RESOURCES / "styles"
SAMPLE_ORTHO = RESOURCES / "sample" / "sample_ortho.tif"


def style_path(name: str) -> Path:
    """Return ``resources/styles/<name>.qml``."""
    return STYLES / f"{name}.qml"
