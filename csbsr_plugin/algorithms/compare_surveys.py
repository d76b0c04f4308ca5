"""``csbsr:comparesurveys``: what changed since an earlier inspection of the same site (dock,
toolbox, batch, models, ``qgis_process``).

Runs ``csbsr compare OLD NEW --out DIR`` in the engine's own process (registration of the two
orthophotos, matching of the crack lines, change classes beyond the measurement uncertainty;
staged, so a cancel or an error leaves nothing), logs the registration figures, and loads the
``crack_change`` layer styled by change class. The engine also writes the change summary (JSON)
and the HTML change report; "Create the PDF report" lays the same content out as a PDF
(``change_report_pdf.py``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

from qgis.core import (
    QgsProcessingException,
    QgsProcessingOutputFile,
    QgsProcessingOutputHtml,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingOutputVectorLayer,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
)

from ...core.compare.content import registration_lines
from ...core.compare.schema import CLASSES
from ...core.layout import ChangeLayout
from ..change_report_pdf import ChangeReportJob
from ..compare_results import change_source, load_changes_on_completion
from .base import CsbsrAlgorithm

OLD = "OLD"
NEW = "NEW"
REGISTRATION = "REGISTRATION"
REGISTRATION_ERROR_CM = "REGISTRATION_ERROR_CM"
OLD_ORTHO = "OLD_ORTHO"
NEW_ORTHO = "NEW_ORTHO"
COVERAGE = "COVERAGE"
EVIDENCE_RATIO = "EVIDENCE_RATIO"
CREATE_REPORT = "CREATE_REPORT"
LOAD_LAYERS = "LOAD_LAYERS"
OVERWRITE = "OVERWRITE"
OUTPUT_FOLDER = "OUTPUT_FOLDER"
CHANGES = "CHANGES"
SUMMARY_JSON = "SUMMARY_JSON"
REPORT_HTML = "REPORT_HTML"
REPORT_PDF = "REPORT_PDF"
REGISTRATION_TEXT = "REGISTRATION_TEXT"
SHIFT_CM = "SHIFT_CM"
ROTATION_DEG = "ROTATION_DEG"
RESIDUAL_MM = "RESIDUAL_MM"
N_INLIERS = "N_INLIERS"
GROWTH_M = "GROWTH_M"
#: one output per change class: N_NEW, N_EXTENDED, N_WIDENED, N_UNCHANGED, N_GONE
CLASS_OUTPUTS = {c: f"N_{c.upper()}" for c in CLASSES}

#: registration choices: engine value, label
REGISTRATIONS = (
    ("auto", "Automatic: the simplest transform the tie points support"),
    ("translation", "Shift only (translation)"),
    ("similarity", "Shift, rotation and scale (similarity)"),
    ("affine", "Affine"),
    ("none", "None: the two are already aligned (RTK, same georeferencing)"),
)


def _advanced(p: Any) -> Any:
    p.setFlags(p.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
    return p


class CompareSurveysAlgorithm(CsbsrAlgorithm):
    """Two inspections of one site -> the crack_change layer, change summary, reports."""

    help_anchor = "compare-surveys"

    def name(self) -> str:
        return "comparesurveys"

    def displayName(self) -> str:
        return self.tr("Compare two inspections (what changed)")

    def shortHelpString(self) -> str:
        return self.tr(
            "What changed since an earlier inspection of the same site: each crack line of the "
            "later inspection is classed as new, extended (longer; the added piece is its own "
            "feature), widened or unchanged, and each earlier line not found again as gone "
            "(repaired, sealed or missed). A change counts only when it is larger than the "
            "measurement uncertainty (from the two resolutions and the registration residual); "
            "smaller ones are unchanged. The two orthophotos are first registered to each "
            "other (shift, rotation, scale; the figures are in the log); choose 'None' for "
            "data that are already aligned. Inputs are output folders of 'Inspect cracks' "
            "(run folders) or of csbsr survey. Writes change.gpkg (layer crack_change, styled "
            "by change class), change_summary.json and change_report.html in the output "
            "folder (and change_report.pdf with 'Create the PDF report'):\n"
            "qgis_process run csbsr:comparesurveys -- OLD=runs/site_2021 NEW=runs/site_2024 "
            "OUTPUT_FOLDER=changes")

    def initAlgorithm(self, config: Optional[Dict[str, Any]] = None) -> None:
        folder = QgsProcessingParameterFile.Folder
        self.addParameter(QgsProcessingParameterFile(
            OLD, self.tr("Earlier inspection (run or survey folder)"), behavior=folder))
        self.addParameter(QgsProcessingParameterFile(
            NEW, self.tr("Later inspection (run or survey folder)"), behavior=folder))
        self.addParameter(QgsProcessingParameterEnum(
            REGISTRATION, self.tr("Registration of the two orthophotos"),
            options=[label for _, label in REGISTRATIONS], defaultValue=0))
        self.addParameter(_advanced(QgsProcessingParameterNumber(
            REGISTRATION_ERROR_CM, self.tr("With registration 'None': misregistration to "
                                           "assume, cm (empty = one pixel of the coarser "
                                           "orthophoto)"),
            type=QgsProcessingParameterNumber.Double, optional=True, minValue=0.0)))
        tif = "Rasters (*.tif *.tiff *.vrt);;All files (*)"
        self.addParameter(_advanced(QgsProcessingParameterFile(
            OLD_ORTHO, self.tr("Earlier orthophoto, if it moved since its inspection"),
            optional=True, fileFilter=tif)))
        self.addParameter(_advanced(QgsProcessingParameterFile(
            NEW_ORTHO, self.tr("Later orthophoto, if it moved since its inspection"),
            optional=True, fileFilter=tif)))
        self.addParameter(_advanced(QgsProcessingParameterNumber(
            COVERAGE, self.tr("Coverage factor k of the uncertainties (2 = about 95 %)"),
            type=QgsProcessingParameterNumber.Double, defaultValue=2.0, minValue=0.5,
            maxValue=5.0)))
        self.addParameter(_advanced(QgsProcessingParameterNumber(
            EVIDENCE_RATIO, self.tr("A line missing from the other inspection is no change "
                                    "when its crack probability there reaches this share of "
                                    "the threshold (0 = lines only)"),
            type=QgsProcessingParameterNumber.Double, defaultValue=0.5, minValue=0.0,
            maxValue=1.0)))
        self.addParameter(QgsProcessingParameterBoolean(
            CREATE_REPORT, self.tr("Create the PDF report (the HTML report is always "
                                   "written)"), defaultValue=False))
        self.addParameter(QgsProcessingParameterBoolean(
            LOAD_LAYERS, self.tr("Open the change layer when done"), defaultValue=True))
        self.addParameter(QgsProcessingParameterBoolean(
            OVERWRITE, self.tr("Replace existing outputs"), defaultValue=False))
        self.addParameter(QgsProcessingParameterFolderDestination(
            OUTPUT_FOLDER, self.tr("Output folder (change.gpkg, change_summary.json, "
                                   "change_report.html)")))
        self.addOutput(QgsProcessingOutputVectorLayer(
            CHANGES, self.tr("Crack changes (crack_change)")))
        self.addOutput(QgsProcessingOutputFile(SUMMARY_JSON, self.tr("Change summary (JSON)")))
        self.addOutput(QgsProcessingOutputHtml(REPORT_HTML, self.tr("HTML change report")))
        self.addOutput(QgsProcessingOutputFile(REPORT_PDF, self.tr("PDF change report")))
        self.addOutput(QgsProcessingOutputString(
            REGISTRATION_TEXT, self.tr("Registration figures")))
        for name, label in ((SHIFT_CM, "Registration shift (cm)"),
                            (ROTATION_DEG, "Registration rotation (degrees)"),
                            (RESIDUAL_MM, "Registration residual RMSE (mm)"),
                            (N_INLIERS, "Registration tie points (inliers)"),
                            (GROWTH_M, "Crack growth (m)")):
            self.addOutput(QgsProcessingOutputNumber(name, self.tr(label)))
        for c, name in CLASS_OUTPUTS.items():
            self.addOutput(QgsProcessingOutputNumber(name, self.tr(f"Lines {c}")))

    def engine_arguments(self, parameters: Dict[str, Any], context: Any,
                         feedback: Any) -> List[str]:
        """``csbsr compare`` arguments of the parameters (OLD, NEW and --out excluded)."""
        args: List[str] = []
        reg = REGISTRATIONS[self.parameterAsEnum(parameters, REGISTRATION, context)][0]
        error_given = parameters.get(REGISTRATION_ERROR_CM) not in (None, "")
        if reg == "none":
            args.append("--no-registration")
            if error_given:
                cm = self.parameterAsDouble(parameters, REGISTRATION_ERROR_CM, context)
                args += ["--registration-error", repr(cm)]
        else:
            args += ["--transform", reg]
            if error_given:
                feedback.pushWarning(self.tr("The assumed misregistration is used only with "
                                             "registration 'None': ignored"))
        for name, flag in ((OLD_ORTHO, "--old-ortho"), (NEW_ORTHO, "--new-ortho")):
            path = self.parameterAsFile(parameters, name, context)
            if path:
                args += [flag, path]
        if parameters.get(COVERAGE) not in (None, ""):
            args += ["--k", repr(self.parameterAsDouble(parameters, COVERAGE, context))]
        if parameters.get(EVIDENCE_RATIO) not in (None, ""):
            args += ["--evidence-ratio",
                     repr(self.parameterAsDouble(parameters, EVIDENCE_RATIO, context))]
        if self.parameterAsBool(parameters, OVERWRITE, context):
            args.append("--overwrite")
        return args

    def processAlgorithm(self, parameters: Dict[str, Any], context: Any,
                         feedback: Any) -> Dict[str, Any]:
        self.job: Optional[ChangeReportJob] = None
        old = self.parameterAsFile(parameters, OLD, context)
        new = self.parameterAsFile(parameters, NEW, context)
        for label, path in (("earlier", old), ("later", new)):
            if not path or not Path(path).is_dir():
                raise QgsProcessingException(
                    f"the {label} inspection {path or '(empty)'} is not a folder: choose the "
                    "output folder of 'Inspect cracks' (a run folder) or of csbsr survey")
        out_dir = self.parameterAsString(parameters, OUTPUT_FOLDER, context)
        report = self.parameterAsBool(parameters, CREATE_REPORT, context)
        args = ["compare", old, new, "--out", out_dir,
                *self.engine_arguments(parameters, context, feedback)]
        res = self.call_engine(args, feedback, out_dir, span=(0.0, 85.0 if report else 99.0))
        if res is None:
            return {}
        summary = res.summary
        layout = ChangeLayout(Path(out_dir))
        for line in registration_lines(summary):
            feedback.pushInfo(line)
        results = self.summary_results(summary)
        results.update({OUTPUT_FOLDER: out_dir, CHANGES: change_source(out_dir),
                        SUMMARY_JSON: str(layout.path("summary"))})
        if layout.path("report").is_file():
            results[REPORT_HTML] = str(layout.path("report"))
        totals = summary.get("totals", {})
        feedback.pushInfo(", ".join(f"{c} {totals.get(c, {}).get('n', 0)}" for c in CLASSES) +
                          f"; crack growth {results[GROWTH_M]:.2f} m; folder {out_dir}")
        if self.parameterAsBool(parameters, LOAD_LAYERS, context):
            load_changes_on_completion(context, out_dir, CHANGES)
        if report:
            self.job = ChangeReportJob(out_dir)
            if not self.job.prepare(feedback):
                self.job = None
                return {}
            feedback.setProgress(99.0)
        self.results = results
        return results

    @staticmethod
    def summary_results(summary: Dict[str, Any]) -> Dict[str, Any]:
        """The number outputs of a change summary (registration of the largest pair)."""
        totals = summary.get("totals", {})
        out: Dict[str, Any] = {name: int(totals.get(c, {}).get("n", 0))
                               for c, name in CLASS_OUTPUTS.items()}
        out[GROWTH_M] = float((summary.get("growth") or {}).get("total_m") or 0.0)
        out[REGISTRATION_TEXT] = "\n".join(registration_lines(summary))
        pairs = summary.get("pairs") or []
        if pairs:
            r = pairs[0]["registration"]
            out.update({SHIFT_CM: float(r["shift_total_cm"]),
                        ROTATION_DEG: float(r["rotation_deg"]),
                        RESIDUAL_MM: float(r["rmse_mm"]), N_INLIERS: int(r["n_inliers"])})
        return out

    def postProcessAlgorithm(self, context: Any, feedback: Any) -> Dict[str, Any]:
        job = getattr(self, "job", None)
        if job is None:
            return {}
        pdf = job.write()
        feedback.pushInfo(f"PDF change report: {pdf} ({job.pages} pages)")
        return {**self.results, REPORT_PDF: str(pdf)}
