"""``csbsr:vectorizecracks``: probability/mask raster -> measured crack lines and nodes.

Maps its parameters onto ``csbsr vectorize`` (run by the engine in its own process) and copies
the engine's GeoPackage layers into Processing's feature sinks, so the user picks a memory
layer, a GeoPackage or a Shapefile (field names fit in 10 characters).
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional

from qgis.core import (
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingUtils,
    QgsVectorLayer,
    QgsWkbTypes,
)

from ...core.layout import NODE_LAYER, SEGMENT_LAYER
from ..areas import polygons_union, write_wkt
from ..schema import copy_features, line_fields, node_fields
from .base import CsbsrAlgorithm
from .detect_cracks import advanced

INPUT = "INPUT"
AOI = "AOI"
VEC_THRESHOLD = "VEC_THRESHOLD"
STANDARD = "STANDARD"
ROAD_AZIMUTH = "ROAD_AZIMUTH"
MIN_CRACK_LENGTH_CM = "MIN_CRACK_LENGTH_CM"
LENGTHS = "LENGTHS"
MIN_ELONGATION = "MIN_ELONGATION"
SEED_THRESHOLD = "SEED_THRESHOLD"
MIN_AREA_PX = "MIN_AREA_PX"
MIN_LENGTH_PX = "MIN_LENGTH_PX"
SIMPLIFY_PX = "SIMPLIFY_PX"
OUTPUT_LINES = "OUTPUT_LINES"
OUTPUT_NODES = "OUTPUT_NODES"
TOTAL_LENGTH_M = "TOTAL_LENGTH_M"
N_SEGMENTS = "N_SEGMENTS"
N_CRACKS = "N_CRACKS"

STANDARDS = ("d6433", "ltpp")
STANDARD_LABELS = ("ASTM D6433 (low < 10 mm < medium < 75 mm < high)",
                   "FHWA LTPP (low <= 6 mm < medium <= 19 mm < high)")
LENGTH_MODES = ("ellipsoid", "grid")


def add_vectorize_parameters(alg: CsbsrAlgorithm, with_threshold: bool = True) -> None:
    """Add the measurement parameters (threshold, standard, road axis, filters, lengths)."""
    tr = alg.tr
    if with_threshold:
        alg.addParameter(QgsProcessingParameterNumber(
            VEC_THRESHOLD, tr("Probability threshold (ignored for a binary mask)"),
            type=QgsProcessingParameterNumber.Double, defaultValue=0.5, minValue=0.01,
            maxValue=0.99))
    alg.addParameter(QgsProcessingParameterEnum(
        STANDARD, tr("Severity standard (by median crack width)"),
        options=list(STANDARD_LABELS), defaultValue=0))
    alg.addParameter(QgsProcessingParameterNumber(
        ROAD_AZIMUTH, tr("Road / structure axis, degrees clockwise from north (empty = crack "
                         "types stay 'unclassified')"),
        type=QgsProcessingParameterNumber.Double, defaultValue=None, optional=True,
        minValue=0.0, maxValue=180.0))
    alg.addParameter(QgsProcessingParameterNumber(
        MIN_CRACK_LENGTH_CM, tr("Ignore cracks shorter than (cm)"),
        type=QgsProcessingParameterNumber.Double, defaultValue=5.0, minValue=0.0))
    alg.addParameter(QgsProcessingParameterEnum(
        LENGTHS, tr("Lengths"),
        options=[tr("On the ellipsoid of the layer's CRS"),
                 tr("Grid distance in the layer CRS")], defaultValue=0))
    default_seed = "off" if with_threshold else "the model's recommended"
    alg.addParameter(advanced(QgsProcessingParameterNumber(
        SEED_THRESHOLD, tr("Draw a crack only where its probability somewhere reaches "
                           f"(hysteresis; empty = {default_seed}, 0 = off)"),
        type=QgsProcessingParameterNumber.Double, defaultValue=None, optional=True,
        minValue=0.0, maxValue=0.99)))
    alg.addParameter(advanced(QgsProcessingParameterNumber(
        MIN_ELONGATION, tr("Drop blobs less elongated than (skeleton length² / area; 0 keeps "
                           "them)"),
        type=QgsProcessingParameterNumber.Double, defaultValue=5.0, minValue=0.0)))
    alg.addParameter(advanced(QgsProcessingParameterNumber(
        MIN_AREA_PX, tr("Drop crack blobs smaller than (pixels)"),
        type=QgsProcessingParameterNumber.Integer, defaultValue=20, minValue=0)))
    alg.addParameter(advanced(QgsProcessingParameterNumber(
        MIN_LENGTH_PX, tr("Drop isolated fragments shorter than (pixels)"),
        type=QgsProcessingParameterNumber.Double, defaultValue=10.0, minValue=0.0)))
    alg.addParameter(advanced(QgsProcessingParameterNumber(
        SIMPLIFY_PX, tr("Simplify the lines by (pixels, 0 = keep every vertex)"),
        type=QgsProcessingParameterNumber.Double, defaultValue=0.5, minValue=0.0)))


def add_vectorize_outputs(alg: CsbsrAlgorithm, lines_optional: bool = False) -> None:
    """Add the line and node sinks and the summary numbers."""
    tr = alg.tr
    alg.addParameter(QgsProcessingParameterFeatureSink(
        OUTPUT_LINES, tr("Crack lines"), QgsProcessing.TypeVectorLine,
        optional=lines_optional, createByDefault=True))
    alg.addParameter(QgsProcessingParameterFeatureSink(
        OUTPUT_NODES, tr("Crack nodes (tips and junctions)"), QgsProcessing.TypeVectorPoint,
        optional=True, createByDefault=True))
    alg.addOutput(QgsProcessingOutputNumber(TOTAL_LENGTH_M, tr("Total crack length (m)")))
    alg.addOutput(QgsProcessingOutputNumber(N_SEGMENTS, tr("Number of crack segments")))
    alg.addOutput(QgsProcessingOutputNumber(N_CRACKS, tr("Number of crack networks")))


def _set(parameters: Dict[str, Any], name: str) -> bool:
    return parameters.get(name) not in (None, "")


def vectorize_arguments(alg: CsbsrAlgorithm, parameters: Dict[str, Any], context: Any,
                        polygons: Any = None) -> List[str]:
    """The ``csbsr vectorize`` / ``csbsr run`` options of the measurement parameters."""
    args = ["--standard", STANDARDS[alg.parameterAsEnum(parameters, STANDARD, context)]]
    if _set(parameters, ROAD_AZIMUTH):
        args += ["--road-azimuth", repr(alg.parameterAsDouble(parameters, ROAD_AZIMUTH,
                                                              context))]
    mode = 0 if not _set(parameters, LENGTHS) else alg.parameterAsEnum(parameters, LENGTHS,
                                                                       context)
    args += ["--lengths", LENGTH_MODES[mode]]
    for name, flag in ((MIN_CRACK_LENGTH_CM, "--min-crack-length-cm"),
                       (SEED_THRESHOLD, "--seed-threshold"),
                       (MIN_ELONGATION, "--min-elongation"), (MIN_AREA_PX, "--min-area-px"),
                       (MIN_LENGTH_PX, "--min-length-px"), (SIMPLIFY_PX, "--simplify-px")):
        if _set(parameters, name):
            value = alg.parameterAsDouble(parameters, name, context)
            args += [flag, str(int(value)) if name == MIN_AREA_PX else repr(value)]
    if polygons is not None:
        args += ["--aoi-polygon", write_wkt(polygons, QgsProcessingUtils.tempFolder())]
    return args


def write_sinks(alg: CsbsrAlgorithm, parameters: Dict[str, Any], context: Any, feedback: Any,
                gpkg: Path, crs: Any) -> Dict[str, Any]:
    """Copy the engine's crack layers into the line and node sinks; return their ids.

    The sinks are created only now, after the engine succeeded, so a cancelled run leaves
    no file. A sink left unset (optional) is skipped.
    """
    results: Dict[str, Any] = {}
    for name, layer_name, fields, wkb in (
            (OUTPUT_LINES, SEGMENT_LAYER, line_fields(), QgsWkbTypes.LineString),
            (OUTPUT_NODES, NODE_LAYER, node_fields(), QgsWkbTypes.Point)):
        if not _set(parameters, name):
            continue  # an optional sink left unset
        source = QgsVectorLayer(f"{gpkg}|layername={layer_name}", layer_name, "ogr")
        if not source.isValid():
            raise QgsProcessingException(f"the engine's {gpkg.name} has no {layer_name} "
                                         "layer: run the inspection again")
        sink, dest_id = alg.parameterAsSink(parameters, name, context, fields, wkb, crs)
        if sink is None:
            raise QgsProcessingException(alg.invalidSinkError(parameters, name))
        copy_features(source, sink, fields, feedback)
        del sink  # closes the file
        results[name] = dest_id
    return results


def summary_results(summary: Dict[str, Any]) -> Dict[str, Any]:
    """TOTAL_LENGTH_M, N_SEGMENTS, N_CRACKS of a crack summary."""
    return {TOTAL_LENGTH_M: float(summary.get("total_len_m") or 0.0),
            N_SEGMENTS: int(summary.get("n_segments") or 0),
            N_CRACKS: int(summary.get("n_cracks") or 0)}


def model_name_for(raster: str) -> str:
    """The model recorded in the ``<stem>_run.json`` beside a detect output, or ""."""
    import json

    p = Path(raster)
    for suffix in ("_prob", "_mask"):
        if p.stem.endswith(suffix):
            run = p.with_name(p.stem[: -len(suffix)] + "_run.json")
            if run.is_file():
                try:
                    cfg = json.loads(run.read_text(encoding="utf-8")).get("config", {})
                except (OSError, ValueError):
                    return ""
                return Path(str(cfg.get("model_path") or "")).stem
    return ""


class VectorizeCracksAlgorithm(CsbsrAlgorithm):
    """Measured crack centre-lines (length, width, type, severity) and nodes from a raster."""

    help_anchor = "vectorize-and-measure-cracks"

    def name(self) -> str:
        return "vectorizecracks"

    def displayName(self) -> str:
        return self.tr("Vectorize and measure cracks")

    def shortHelpString(self) -> str:
        return self.tr(
            "Turns a crack probability raster (or a binary mask) into crack centre-lines with "
            "length (m), width statistics (mm), orientation, crack type, severity and "
            "provenance, plus tip/junction nodes. Lines crossing tile seams are continuous. "
            "Without a road/structure axis every crack type is 'unclassified'. Field names "
            "fit in 10 characters, so Shapefile output keeps them; GeoPackage is "
            "recommended.")

    def initAlgorithm(self, config: Optional[Dict[str, Any]] = None) -> None:
        self.addParameter(QgsProcessingParameterRasterLayer(
            INPUT, self.tr("Crack probability or mask raster")))
        self.addParameter(QgsProcessingParameterFeatureSource(
            AOI, self.tr("Measure only inside these polygons"),
            [QgsProcessing.TypeVectorPolygon], optional=True))
        add_vectorize_parameters(self)
        add_vectorize_outputs(self)

    def processAlgorithm(self, parameters: Dict[str, Any], context: Any,
                         feedback: Any) -> Dict[str, Any]:
        from .detect_cracks import raster_path

        layer = self.input_raster(parameters, INPUT, context)
        path = raster_path(layer)
        crs = layer.crs()
        polygons = polygons_union(self.parameterAsSource(parameters, AOI, context), crs,
                                  context, feedback)
        work = Path(tempfile.mkdtemp(prefix="csbsr_vec_", dir=QgsProcessingUtils.tempFolder()))
        gpkg = work / f"{Path(path).stem}_cracks.gpkg"
        args = ["vectorize", path, "--out", str(gpkg), "--threshold",
                repr(self.parameterAsDouble(parameters, VEC_THRESHOLD, context)),
                *vectorize_arguments(self, parameters, context, polygons)]
        name = model_name_for(path)
        if name:
            args += ["--model-name", name]
        res = self.call_engine(args, feedback, work)
        if res is None or feedback.isCanceled():
            return {}
        results = write_sinks(self, parameters, context, feedback, gpkg, crs)
        results.update(summary_results(res.summary))
        feedback.pushInfo(f"{results[N_SEGMENTS]} crack segments in {results[N_CRACKS]} "
                          f"networks, total length {results[TOTAL_LENGTH_M]:.2f} m")
        return results
