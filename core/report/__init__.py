"""Inspection reports: the run folder read for a report (``runfolder``), the content decided
once (``content`` builds the pure-Python ``model``), the palette and labels (``style``), maps
and charts (``render``) and the HTML layout (``html``). The QGIS plugin lays out the same
content as a PDF.
"""
