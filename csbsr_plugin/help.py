"""The user guide shipped with the plugin (``docs/user-guide.md``), opened by the dock's Help
and by each algorithm's Help button.

Browsers show Markdown as plain text, so the guide is rendered once to HTML (Qt's own
Markdown reader, no extra package) in QGIS's settings folder, with an anchor per heading
(``#set-up-the-engine``...) and its screenshots linked from the plugin's ``docs/`` folder.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

from .paths import ROOT

GUIDE = ROOT / "docs" / "user-guide.md"


def slug(text: str) -> str:
    """A heading's anchor: lower case, words joined by '-' (as GitHub does)."""
    text = re.sub(r"[^\w\s-]", "", text.strip().lower())
    return re.sub(r"[\s_]+", "-", text).strip("-")


def _cache_dir() -> Path:
    try:
        from qgis.core import QgsApplication

        base = Path(QgsApplication.qgisSettingsDirPath())
    except ImportError:  # pragma: no cover - outside QGIS
        base = Path.home()
    return base / "csbsr"


def render_guide(out: Optional[Path] = None) -> Path:
    """Render ``docs/user-guide.md`` to HTML (re-rendered when the guide changed)."""
    from qgis.PyQt.QtGui import QTextCharFormat, QTextCursor, QTextDocument

    out = out or _cache_dir() / "user-guide.html"
    if out.is_file() and out.stat().st_mtime >= GUIDE.stat().st_mtime:
        return out
    doc = QTextDocument()
    doc.setMarkdown(GUIDE.read_text(encoding="utf-8"))
    block = doc.begin()
    while block.isValid():
        if block.blockFormat().headingLevel() > 0:
            cursor = QTextCursor(block)
            cursor.select(QTextCursor.BlockUnderCursor)
            fmt = QTextCharFormat()
            fmt.setAnchor(True)
            fmt.setAnchorNames([slug(block.text())])
            cursor.mergeCharFormat(fmt)
        block = block.next()
    html = doc.toHtml()
    base = GUIDE.parent.as_uri() + "/"
    html = re.sub(r'src="(?![a-z]+:)([^"]+)"', lambda m: f'src="{base}{m.group(1)}"', html)
    html = html.replace("<head>", '<head><meta charset="utf-8"><title>CSBSR crack inspection '
                        "- user guide</title>", 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return out


def guide_url(anchor: str = "") -> str:
    """The URL of the rendered guide (``file://...#anchor``); the Markdown file's URL when it
    cannot be rendered."""
    try:
        url = render_guide().as_uri()
    except (OSError, ImportError):
        url = GUIDE.as_uri()
    return f"{url}#{anchor}" if anchor else url


def open_guide(anchor: str = "") -> bool:
    """Open the guide in the system browser."""
    from qgis.PyQt.QtCore import QUrl
    from qgis.PyQt.QtGui import QDesktopServices

    return bool(QDesktopServices.openUrl(QUrl(guide_url(anchor))))
