"""The user guide ships with the plugin and opens from Help: rendered to HTML with the anchors
the dock and the algorithms link to, its screenshots present, every column an inspector sees
explained."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.qgis

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "user-guide.md"


def test_guide_covers_the_topics_and_columns() -> None:
    from csbsr.core.records import FIELDS, VALUE_MAPS

    text = GUIDE.read_text(encoding="utf-8")
    for heading in ("## Install", "## Set up the engine", "## First inspection on the sample",
                    "## Reading the results", "## Batch", "## Reports", "## Troubleshooting"):
        assert heading in text, heading
    for f in FIELDS:
        if not f.technical and f.name not in ("w_mean_mm", "w_max_mm", "crack_id"):
            assert f.alias in text, f.alias
    for words in VALUE_MAPS["ctype"].values():
        assert words in text
    for image in re.findall(r"\]\((screenshots/[^)]+)\)", text):
        assert (GUIDE.parent / image).is_file(), image


def test_help_opens_the_rendered_guide_at_the_right_place(qgis_app, provider,
                                                          tmp_path: Path) -> None:
    from csbsr.csbsr_plugin.help import render_guide, slug
    from qgis.core import QgsApplication

    html = render_guide(tmp_path / "guide.html").read_text(encoding="utf-8")
    anchors = set(re.findall(r'<a name="([^"]+)"', html))
    registry = QgsApplication.processingRegistry()
    wanted = {"the-dock-panel", "set-up-the-engine"}
    for alg in registry.providerById("csbsr").algorithms():
        url = alg.helpUrl()
        assert url.startswith("file://") and "#" in url
        wanted.add(url.split("#", 1)[1])
    assert wanted <= anchors, wanted - anchors
    assert slug("Set up the engine") == "set-up-the-engine"
    # screenshots resolve from wherever the rendered guide is written
    for src in re.findall(r'<img src="([^"]+)"', html):
        assert src.startswith("file://") and Path(src[len("file://"):]).is_file(), src
