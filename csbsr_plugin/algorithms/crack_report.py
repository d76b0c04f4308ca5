"""``csbsr:crackreport``: the PDF (and HTML) inspection report of any run folder.

Every inspection (dock, toolbox, batch, ``qgis_process``) leaves a complete run folder with
the engine's report content ``<stem>_report.json`` and HTML report. This algorithm turns it
into ``<stem>_report.pdf``: in the worker thread it (re)writes the content with the engine
when asked for another title, table length or zone size (or when an older folder lacks it)
and renders the maps (``report_maps.py``); in ``postProcessAlgorithm``, on the main thread as
print layouts require, it lays the content out (``report_pdf.py``) and exports the PDF, which
takes a fraction of a second, so QGIS does not freeze while a report is written.

:class:`ReportJob` is shared with ``csbsr:inspectcracks`` (its "Create report" option).
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional

from qgis.core import (
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputFile,
    QgsProcessingOutputHtml,
    QgsProcessingOutputNumber,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
    QgsProcessingUtils,
)

from ...core.layout import RunLayout
from ...core.report.model import ReportContent
from ..report_maps import PAGE_MM, render_report_maps
from .base import CsbsrAlgorithm

RUN_DIR = "RUN_DIR"
STEM = "STEM"
TITLE = "TITLE"
PAGE_SIZE = "PAGE_SIZE"
ZONE_CELL = "ZONE_CELL"
ZONES = "ZONES"
ZONE_FIELD = "ZONE_FIELD"
TOP_N = "TOP_N"
OUTPUT = "OUTPUT"
REPORT_PDF = "REPORT_PDF"
REPORT_HTML = "REPORT_HTML"
PAGES = "PAGES"
N_ZONES = "N_ZONES"

PAGE_SIZES = tuple(PAGE_MM)


def find_run(run_dir: str, stem: Optional[str] = None) -> RunLayout:
    """The run of ``stem`` (or the only run) in ``run_dir``.

    Raises:
        QgsProcessingException: no complete run there, or several and no stem.
    """
    try:
        layout = RunLayout.find(run_dir, stem or None)
    except (FileNotFoundError, LookupError) as exc:
        raise QgsProcessingException(
            f"{exc}. A run folder is the output folder of 'Inspect cracks' (dock, toolbox, "
            "batch) or of csbsr run; when it holds several orthophotos, give the name of one "
            "in 'Orthophoto name'") from exc
    if not layout.path("cracks").is_file():
        raise QgsProcessingException(
            f"{run_dir} holds no crack lines of {layout.stem} ({layout.path('cracks').name}): "
            "only the rasters were made (Detect cracks); run 'Inspect cracks' to measure "
            "the cracks and make the folder a complete run")
    return layout


class ReportJob:
    """One PDF report: prepared in the worker thread, written on the main thread."""

    def __init__(self, layout: RunLayout, out_pdf: Path, page_size: str = "A4") -> None:
        self.layout, self.out_pdf, self.page_size = layout, Path(out_pdf), page_size
        self.content: Optional[ReportContent] = None
        self.maps: Dict[str, Any] = {}
        self.pages = 0

    def prepare(self, alg: CsbsrAlgorithm, feedback: Any, engine_args: List[str],
                span: tuple = (0.0, 100.0)) -> bool:
        """Write the content with the engine if ``engine_args`` ask for it (or it is
        missing), then render the maps. Returns False when the user cancelled."""
        lo, hi = span
        content_path = self.layout.path("report_content")
        if engine_args or not content_path.is_file():
            args = ["report", str(self.layout.folder), "--stem", self.layout.stem,
                    "--out", str(self.layout.path("report")), "--content-json",
                    str(content_path), "--overwrite", *engine_args]
            if alg.call_engine(args, feedback, span=(lo, lo + (hi - lo) * 0.5)) is None:
                return False
        try:
            data = json.loads(content_path.read_text(encoding="utf-8"))
            self.content = ReportContent.from_dict(data)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise QgsProcessingException(
                f"cannot read the report content {content_path} ({exc}): run the report "
                "again with another title to rewrite it") from exc
        feedback.setProgressText(alg.tr("Drawing the report maps"))
        work = Path(tempfile.mkdtemp(prefix="csbsr_report_",
                                     dir=QgsProcessingUtils.tempFolder()))
        self.maps = render_report_maps(self.content, self.layout, work, self.page_size)
        feedback.setProgress(hi)
        return not feedback.isCanceled()

    def write(self) -> Path:
        """Lay out and export the PDF (main thread)."""
        from ..report_pdf import build_layout, export_pdf

        if self.content is None:
            raise QgsProcessingException("internal: the report was not prepared")
        layout = build_layout(self.content, self.maps, self.page_size)
        self.pages = layout.pageCollection().pageCount()
        return export_pdf(layout, self.out_pdf)


class CrackReportAlgorithm(CsbsrAlgorithm):
    """PDF inspection report of a finished run (plus the HTML report of the same content)."""

    help_anchor = "reports"

    def name(self) -> str:
        return "crackreport"

    def displayName(self) -> str:
        return self.tr("Crack inspection report (PDF and HTML)")

    def shortHelpString(self) -> str:
        return self.tr(
            "Writes the PDF inspection report of a run folder (the output folder of 'Inspect "
            "cracks' from the dock, the toolbox, a batch or csbsr run): title block "
            "(orthophoto, date, model in plain words, device, resolution, severity standard), "
            "key figures, overview map with the cracks by severity, legend with the width "
            "limits, length by type and severity, the longest and widest cracks with their ids "
            "and coordinates, and one page per zone: a grid of square zones, or your own "
            "polygons (spans, lanes, bays; any CRS, named by a text field) with the crack "
            "length of each, cracks or none. The HTML report beside it shows the same "
            "content. A folder holding several orthophotos' runs needs the orthophoto name.")

    def initAlgorithm(self, config: Optional[Dict[str, Any]] = None) -> None:
        self.addParameter(QgsProcessingParameterFile(
            RUN_DIR, self.tr("Run folder"), behavior=QgsProcessingParameterFile.Folder))
        self.addParameter(QgsProcessingParameterString(
            STEM, self.tr("Orthophoto name (when the folder holds several runs)"),
            optional=True))
        self.addParameter(QgsProcessingParameterString(
            TITLE, self.tr("Project name (title)"), optional=True))
        self.addParameter(QgsProcessingParameterEnum(
            PAGE_SIZE, self.tr("Page size"), options=list(PAGE_SIZES), defaultValue=0))
        self.addParameter(QgsProcessingParameterNumber(
            ZONE_CELL, self.tr("Zone grid cell size (map units; empty = 3 cells on the long "
                               "side)"), type=QgsProcessingParameterNumber.Double,
            optional=True, minValue=0.0))
        self.addParameter(QgsProcessingParameterFeatureSource(
            ZONES, self.tr("Your zones: spans, lanes, bays (polygons; empty = a grid)"),
            [QgsProcessing.TypeVectorPolygon], optional=True))
        self.addParameter(QgsProcessingParameterField(
            ZONE_FIELD, self.tr("Zone name field (empty = name, zone, label or id)"),
            parentLayerParameterName=ZONES, type=QgsProcessingParameterField.String,
            optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            TOP_N, self.tr("Rows in the longest / widest crack tables (empty = 10)"),
            type=QgsProcessingParameterNumber.Integer, optional=True, minValue=1,
            maxValue=40))
        self.addParameter(QgsProcessingParameterFileDestination(
            OUTPUT, self.tr("PDF report (empty = <name>_report.pdf in the run folder)"),
            fileFilter="PDF files (*.pdf)", optional=True, createByDefault=False))
        self.addOutput(QgsProcessingOutputFile(REPORT_PDF, self.tr("PDF report")))
        self.addOutput(QgsProcessingOutputHtml(REPORT_HTML, self.tr("HTML report")))
        self.addOutput(QgsProcessingOutputNumber(PAGES, self.tr("Number of pages")))
        self.addOutput(QgsProcessingOutputNumber(N_ZONES, self.tr("Number of zone pages")))

    def processAlgorithm(self, parameters: Dict[str, Any], context: Any,
                         feedback: Any) -> Dict[str, Any]:
        layout = find_run(self.parameterAsFile(parameters, RUN_DIR, context),
                          self.parameterAsString(parameters, STEM, context).strip())
        out = self.parameterAsFileOutput(parameters, OUTPUT, context) if parameters.get(
            OUTPUT) not in (None, "") else ""
        out_pdf = Path(out) if out else layout.path("report_pdf")
        if out_pdf.suffix.lower() != ".pdf":
            raise QgsProcessingException(f"the PDF report {out_pdf} must end in .pdf")
        args: List[str] = []
        title = self.parameterAsString(parameters, TITLE, context).strip()
        if title:
            args += ["--title", title]
        if parameters.get(TOP_N) not in (None, ""):
            args += ["--top", str(self.parameterAsInt(parameters, TOP_N, context))]
        if parameters.get(ZONE_CELL) not in (None, "") and \
                self.parameterAsDouble(parameters, ZONE_CELL, context) > 0:
            args += ["--zone-size", repr(self.parameterAsDouble(parameters, ZONE_CELL, context))]
        if parameters.get(ZONES) not in (None, ""):
            if "--zone-size" in args:
                raise QgsProcessingException(
                    "give either a zone grid cell size or your zone polygons, not both")
            zones = self.parameterAsCompatibleSourceLayerPath(
                parameters, ZONES, context, ["gpkg", "shp", "geojson"], "gpkg", feedback)
            args += ["--zones", zones]
            field = self.parameterAsString(parameters, ZONE_FIELD, context).strip()
            if field:
                args += ["--zone-field", field]
        page = PAGE_SIZES[self.parameterAsEnum(parameters, PAGE_SIZE, context)]
        self.job = ReportJob(layout, out_pdf, page)
        if not self.job.prepare(self, feedback, args):
            self.job = None
            return {}
        return {REPORT_PDF: str(out_pdf), REPORT_HTML: str(layout.path("report"))}

    def postProcessAlgorithm(self, context: Any, feedback: Any) -> Dict[str, Any]:
        job = getattr(self, "job", None)
        if job is None:
            return {}
        pdf = job.write()
        zones = len([k for k in job.maps if k.startswith("zone:")])
        feedback.pushInfo(f"PDF report: {pdf} ({job.pages} pages)")
        return {REPORT_PDF: str(pdf), REPORT_HTML: str(job.layout.path("report")),
                PAGES: job.pages, N_ZONES: zones}
