"""``csbsr:inspectcracks``: the whole job on one orthophoto (dock, toolbox, batch, models,
``qgis_process``).

Runs ``csbsr run`` (detection, measurement, summary, HTML report; staged, so a cancel or an
error leaves nothing) in the engine's own process, then copies the crack lines and nodes into
the chosen sinks. The output folder is a complete run folder (``core/layout.py``): the PDF
report can be made from it at any time (``csbsr:crackreport``), or at once with "Create the
PDF report".
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional

from qgis.core import (
    QgsProcessingOutputFile,
    QgsProcessingOutputHtml,
    QgsProcessingParameterBoolean,
)

from ...core.layout import RunLayout
from ..results import style_sink_on_completion
from . import detect_cracks as dc
from . import vectorize_cracks as vc
from .base import CsbsrAlgorithm
from .crack_report import REPORT_HTML, REPORT_PDF, ReportJob

CREATE_REPORT = "CREATE_REPORT"
SUMMARY_JSON = "SUMMARY_JSON"


class InspectCracksAlgorithm(CsbsrAlgorithm):
    """Orthophoto -> crack rasters + measured crack lines and nodes + report."""

    help_anchor = "inspect-cracks"

    def name(self) -> str:
        return "inspectcracks"

    def displayName(self) -> str:
        return self.tr("Inspect cracks (detect + measure + report)")

    def shortHelpString(self) -> str:
        return self.tr(
            "The whole job on one orthophoto: detects the cracks (probability and mask rasters, "
            "optional super-resolved image), measures them as lines (length, width, type, "
            "severity) and nodes, and writes a summary and an HTML report, all in one run "
            "folder (a PDF report too with 'Create the PDF report'). Each orthophoto's outputs "
            "load as styled layers in one group named after it. Use the batch interface over "
            "many orthophotos, models, or the command line:\n"
            "qgis_process run csbsr:inspectcracks -- INPUT=ortho.tif OUTPUT_FOLDER=out "
            "OUTPUT_LINES=out/cracks.gpkg")

    def initAlgorithm(self, config: Optional[Dict[str, Any]] = None) -> None:
        dc.add_detect_parameters(self)
        vc.add_vectorize_parameters(self, with_threshold=False)
        self.addParameter(QgsProcessingParameterBoolean(
            CREATE_REPORT, self.tr("Create the PDF report (the HTML report is always "
                                   "written)"), defaultValue=False))
        dc.add_detect_outputs(self)
        vc.add_vectorize_outputs(self, lines_optional=True)
        self.addOutput(QgsProcessingOutputHtml(REPORT_HTML, self.tr("HTML report")))
        self.addOutput(QgsProcessingOutputFile(REPORT_PDF, self.tr("PDF report")))
        self.addOutput(QgsProcessingOutputFile(SUMMARY_JSON, self.tr("Summary (JSON)")))

    def processAlgorithm(self, parameters: Dict[str, Any], context: Any,
                         feedback: Any) -> Dict[str, Any]:
        self.job: Optional[ReportJob] = None
        layer = self.input_raster(parameters, dc.INPUT, context)
        path = dc.raster_path(layer)
        crs = layer.crs()  # read now: the user may remove the layer while the engine runs
        box, polygons = dc.resolve_area(self, parameters, context, feedback, layer)
        out_dir = self.parameterAsString(parameters, dc.OUTPUT_FOLDER, context)
        report = self.parameterAsBool(parameters, CREATE_REPORT, context)
        args = ["run", path, "--out", out_dir,
                *dc.detect_arguments(self, parameters, context, box),
                *vc.vectorize_arguments(self, parameters, context, polygons)]
        res = self.call_engine(args, feedback, out_dir, span=(0.0, 90.0 if report else 99.0))
        if res is None:
            return {}
        layout = RunLayout.for_input(path, out_dir)
        results: Dict[str, Any] = {dc.OUTPUT_FOLDER: out_dir}
        results.update(vc.write_sinks(self, parameters, context, feedback,
                                      layout.path("cracks"), crs))
        results.update(dc.detect_results(layout, str(res.data.get("device", ""))))
        results.update(vc.summary_results(res.summary))
        results[SUMMARY_JSON] = str(layout.path("summary"))
        if layout.path("report").is_file():
            results[REPORT_HTML] = str(layout.path("report"))
        feedback.pushInfo(
            f"{results[vc.N_SEGMENTS]} crack segments, {results[vc.TOTAL_LENGTH_M]:.2f} m in "
            f"total, on {results[dc.DEVICE_USED]}; run folder {out_dir}")
        lines = results.get(vc.OUTPUT_LINES)
        if context.project() is not None and lines and context.willLoadLayerOnCompletion(lines):
            # the rasters follow the "load layers" choice of the lines (batch honours it)
            style_sink_on_completion(context, lines, layout, "cracks")
            style_sink_on_completion(context, results.get(vc.OUTPUT_NODES, ""), layout,
                                     "nodes")
            dc.load_rasters(context, layout)
        if report:
            self.job = ReportJob(layout, layout.path("report_pdf"))
            if not self.job.prepare(self, feedback, [], span=(90.0, 99.0)):
                self.job = None
                return {}
        self.results = results
        return results

    def postProcessAlgorithm(self, context: Any, feedback: Any) -> Dict[str, Any]:
        job = getattr(self, "job", None)
        if job is None:
            return {}
        pdf = job.write()
        feedback.pushInfo(f"PDF report: {pdf}")
        return {**self.results, REPORT_PDF: str(Path(pdf))}
