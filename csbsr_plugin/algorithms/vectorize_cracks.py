"""``csbsr:vectorizecracks``: probability/mask raster -> measured crack lines and nodes.

An adapter around ``core.vectorize.vectorize_raster``. Features go through feature sinks, so
the user picks a memory layer, a GeoPackage or a Shapefile (field names fit in 10 chars).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from qgis.core import (
    QgsFeatureSink,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsWkbTypes,
)

from ..areas import polygons_union, to_shapely
from ..feedback import FeedbackProgress
from ..schema import line_fields, node_fields, to_features
from ..styling import style_sink_on_completion
from .base import CsbsrAlgorithm

INPUT = "INPUT"
AOI = "AOI"
VEC_THRESHOLD = "VEC_THRESHOLD"
STANDARD = "STANDARD"
ROAD_AZIMUTH = "ROAD_AZIMUTH"
LENGTHS = "LENGTHS"
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


def _advanced(param: QgsProcessingParameterDefinition) -> QgsProcessingParameterDefinition:
    param.setFlags(param.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
    return param


def add_vectorize_parameters(alg: CsbsrAlgorithm, with_threshold: bool = True) -> None:
    """Add the measurement parameters (threshold, standard, road axis, lengths, cleaning)."""
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
        ROAD_AZIMUTH, tr("Road / structure axis, degrees clockwise from north (empty = do not "
                         "classify longitudinal / transverse)"),
        type=QgsProcessingParameterNumber.Double, defaultValue=None, optional=True,
        minValue=0.0, maxValue=180.0))
    alg.addParameter(QgsProcessingParameterEnum(
        LENGTHS, tr("Lengths"),
        options=[tr("On the ellipsoid of the layer's CRS"),
                 tr("Grid distance in the layer CRS")], defaultValue=0))
    alg.addParameter(_advanced(QgsProcessingParameterNumber(
        MIN_AREA_PX, tr("Drop crack blobs smaller than (pixels)"),
        type=QgsProcessingParameterNumber.Integer, defaultValue=20, minValue=0)))
    alg.addParameter(_advanced(QgsProcessingParameterNumber(
        MIN_LENGTH_PX, tr("Drop isolated fragments shorter than (pixels)"),
        type=QgsProcessingParameterNumber.Double, defaultValue=10.0, minValue=0.0)))
    alg.addParameter(_advanced(QgsProcessingParameterNumber(
        SIMPLIFY_PX, tr("Simplify the lines by (pixels, 0 = keep every vertex)"),
        type=QgsProcessingParameterNumber.Double, defaultValue=0.5, minValue=0.0)))


def add_vectorize_outputs(alg: CsbsrAlgorithm) -> None:
    """Add the line and node sinks and the summary numbers."""
    tr = alg.tr
    alg.addParameter(QgsProcessingParameterFeatureSink(
        OUTPUT_LINES, tr("Crack lines"), QgsProcessing.TypeVectorLine))
    alg.addParameter(QgsProcessingParameterFeatureSink(
        OUTPUT_NODES, tr("Crack nodes (tips and junctions)"), QgsProcessing.TypeVectorPoint,
        optional=True, createByDefault=True))
    alg.addOutput(QgsProcessingOutputNumber(TOTAL_LENGTH_M, tr("Total crack length (m)")))
    alg.addOutput(QgsProcessingOutputNumber(N_SEGMENTS, tr("Number of crack segments")))
    alg.addOutput(QgsProcessingOutputNumber(N_CRACKS, tr("Number of crack networks")))


def vectorize_config(alg: CsbsrAlgorithm, parameters: Dict[str, Any], context: Any,
                     threshold: Optional[float] = None) -> Any:
    """Map the parameters onto a ``core.config.VectorizeConfig``."""
    from ...core.errors import ConfigError
    from ...core.vectorize.config import VectorizeConfig

    azimuth = parameters.get(ROAD_AZIMUTH)
    try:
        return VectorizeConfig(
            threshold=threshold if threshold is not None
            else alg.parameterAsDouble(parameters, VEC_THRESHOLD, context),
            standard=STANDARDS[alg.parameterAsEnum(parameters, STANDARD, context)],
            road_azimuth_deg=None if azimuth in (None, "")
            else alg.parameterAsDouble(parameters, ROAD_AZIMUTH, context),
            min_area_px=alg.parameterAsInt(parameters, MIN_AREA_PX, context),
            min_length_px=alg.parameterAsDouble(parameters, MIN_LENGTH_PX, context),
            simplify_px=alg.parameterAsDouble(parameters, SIMPLIFY_PX, context),
            length_mode="ellipsoid" if parameters.get(LENGTHS) is None
            or alg.parameterAsEnum(parameters, LENGTHS, context) == 0 else "grid",
        )
    except ConfigError as exc:
        raise QgsProcessingException(str(exc)) from exc


def write_network(alg: CsbsrAlgorithm, parameters: Dict[str, Any], context: Any, feedback: Any,
                  network: Any, crs: Any) -> Dict[str, Any]:
    """Write a ``CrackNetwork`` through the line and node sinks; return the results.

    The sinks are created only now, after the core call, so a cancelled run leaves no file.
    """
    lines, lines_id = alg.parameterAsSink(parameters, OUTPUT_LINES, context, line_fields(),
                                          QgsWkbTypes.LineString, crs)
    if lines is None:
        raise QgsProcessingException(alg.invalidSinkError(parameters, OUTPUT_LINES))
    feats = to_features(network.segments, line_fields())
    if not lines.addFeatures(feats, QgsFeatureSink.FastInsert):
        raise QgsProcessingException(f"could not write the crack lines: {lines.lastError()}")
    results: Dict[str, Any] = {OUTPUT_LINES: lines_id}
    style_sink_on_completion(context, lines_id, "crack_lines")
    nodes, nodes_id = alg.parameterAsSink(parameters, OUTPUT_NODES, context, node_fields(),
                                          QgsWkbTypes.Point, crs)
    if nodes is not None:
        nodes.addFeatures(to_features(network.nodes, node_fields()), QgsFeatureSink.FastInsert)
        results[OUTPUT_NODES] = nodes_id
        style_sink_on_completion(context, nodes_id, "crack_nodes")
    total = float(network.summary.total_len_m)
    results.update({TOTAL_LENGTH_M: total, N_SEGMENTS: len(network.segments),
                    N_CRACKS: int(network.summary.n_cracks)})
    feedback.pushInfo(f"{len(network.segments)} crack segments in "
                      f"{results[N_CRACKS]} networks, total length {total:.2f} m")
    return results


def aoi_shape(alg: CsbsrAlgorithm, parameters: Dict[str, Any], context: Any, feedback: Any,
              crs: Any) -> Tuple[Any, Any]:
    """(QgsGeometry, shapely geometry) of the AOI polygons in ``crs`` (None, None if unset)."""
    source = alg.parameterAsSource(parameters, AOI, context)
    geom = polygons_union(source, crs, context, feedback)
    return geom, to_shapely(geom)


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

    def name(self) -> str:
        return "vectorizecracks"

    def displayName(self) -> str:
        return self.tr("Vectorize and measure cracks")

    def shortHelpString(self) -> str:
        return self.tr(
            "Turns a crack probability raster (or a binary mask) into crack centre-lines with "
            "length (m), width statistics (mm), orientation, crack type, severity and "
            "provenance, plus tip/junction nodes. Lines crossing tile seams are continuous. "
            "Field names fit in 10 characters, so Shapefile output keeps them; GeoPackage is "
            "recommended. Lengths use the project ellipsoid unless 'grid distance' is chosen.")

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
        self.check_dependencies()
        from ...core.vectorize.api import vectorize_raster
        from .detect_cracks import raster_path

        layer = self.parameterAsRasterLayer(parameters, INPUT, context)
        path = raster_path(layer)
        crs = layer.crs()
        _geom, aoi = aoi_shape(self, parameters, context, feedback, crs)
        cfg = vectorize_config(self, parameters, context)
        network = self.call_core(vectorize_raster, path, cfg, FeedbackProgress(feedback),
                                 model_name=model_name_for(path), aoi=aoi)
        if network is None or feedback.isCanceled():
            feedback.reportError(self.tr("Cancelled: no output was written."), False)
            return {}
        return write_network(self, parameters, context, feedback, network, crs)
