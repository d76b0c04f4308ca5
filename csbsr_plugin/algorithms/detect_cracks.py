"""``csbsr:detectcracks``: crack probability, mask (and SR) rasters of an orthophoto.

Maps its parameters onto ``csbsr detect`` (run by the engine in its own process, see
``csbsr_plugin/engine.py``); the parameter helpers are shared with ``inspectcracks``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from qgis.core import (
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputFile,
    QgsProcessingOutputNumber,
    QgsProcessingOutputRasterLayer,
    QgsProcessingOutputString,
    QgsProcessingParameterBand,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProviderRegistry,
)

from ...core.layout import RunLayout
from ..areas import aoi_box, polygons_union
from ..results import load_on_completion
from .base import CsbsrAlgorithm

INPUT = "INPUT"
EXTENT = "EXTENT"
AOI = "AOI"
MODEL = "MODEL"
DEVICE = "DEVICE"
THRESHOLD = "THRESHOLD"
SAVE_SR = "SAVE_SR"
RED_BAND = "RED_BAND"
GREEN_BAND = "GREEN_BAND"
BLUE_BAND = "BLUE_BAND"
PRECISION = "PRECISION"
TILE_PX = "TILE_PX"
OVERLAP_PX = "OVERLAP_PX"
BATCH = "BATCH"
GSD_POLICY = "GSD_POLICY"
OVERWRITE = "OVERWRITE"
OUTPUT_FOLDER = "OUTPUT_FOLDER"
PROB = "PROB"
MASK = "MASK"
SR = "SR"
RUN_JSON = "RUN_JSON"
DEVICE_USED = "DEVICE_USED"
N_TILES = "N_TILES"

DEVICES = ("auto", "cpu", "cuda")
DEVICE_LABELS = ("Automatic (GPU if usable, else CPU)", "CPU", "NVIDIA GPU (CUDA)")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
GSD_POLICIES = ("auto", "native")
GSD_POLICY_LABELS = ("Resample to the model's resolution (recommended)",
                     "Keep the orthophoto's own resolution")


def advanced(param: QgsProcessingParameterDefinition) -> QgsProcessingParameterDefinition:
    """``param`` shown under "Advanced parameters"."""
    param.setFlags(param.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
    return param


def add_detect_parameters(alg: CsbsrAlgorithm) -> None:
    """Add the inference parameters (input, AOI, model, device, threshold, tiling...)."""
    tr = alg.tr
    alg.addParameter(QgsProcessingParameterRasterLayer(INPUT, tr("Orthophoto (RGB raster)")))
    alg.addParameter(QgsProcessingParameterExtent(
        EXTENT, tr("Process only this extent"), optional=True))
    alg.addParameter(QgsProcessingParameterFeatureSource(
        AOI, tr("Process only inside these polygons"), [QgsProcessing.TypeVectorPolygon],
        optional=True))
    alg.addParameter(QgsProcessingParameterFile(
        MODEL, tr("Model file (.safetensors with its .json card; empty = shipped model)"),
        extension="safetensors", optional=True))
    alg.addParameter(QgsProcessingParameterEnum(
        DEVICE, tr("Device"), options=list(DEVICE_LABELS), defaultValue=0))
    alg.addParameter(QgsProcessingParameterEnum(
        GSD_POLICY, tr("Ground resolution (GSD) policy"),
        options=[tr(x) for x in GSD_POLICY_LABELS], defaultValue=0))
    alg.addParameter(QgsProcessingParameterNumber(
        THRESHOLD, tr("Probability threshold of the mask (empty = the model's recommended)"),
        type=QgsProcessingParameterNumber.Double, defaultValue=None, optional=True,
        minValue=0.01, maxValue=0.99))
    alg.addParameter(QgsProcessingParameterBoolean(
        SAVE_SR, tr("Also write the super-resolved image"), defaultValue=False))
    for name, label, default in ((RED_BAND, "Red band", 1), (GREEN_BAND, "Green band", 2),
                                 (BLUE_BAND, "Blue band", 3)):
        alg.addParameter(advanced(QgsProcessingParameterBand(
            name, tr(label), defaultValue=default, parentLayerParameterName=INPUT,
            optional=True)))  # optional: QGIS 3.22 rejects an unset band even with a default
    alg.addParameter(advanced(QgsProcessingParameterEnum(
        PRECISION, tr("Precision"), options=list(PRECISIONS), defaultValue=0)))
    alg.addParameter(advanced(QgsProcessingParameterNumber(
        TILE_PX, tr("Tile size in input pixels (empty = 128 on CPU, 256 on GPU)"),
        type=QgsProcessingParameterNumber.Integer, defaultValue=None, optional=True,
        minValue=16, maxValue=8192)))
    alg.addParameter(advanced(QgsProcessingParameterNumber(
        OVERLAP_PX, tr("Tile overlap (halo) in input pixels (empty = the model's)"),
        type=QgsProcessingParameterNumber.Integer, defaultValue=None, optional=True,
        minValue=0, maxValue=1024)))
    alg.addParameter(advanced(QgsProcessingParameterNumber(
        BATCH, tr("Tiles per batch (empty = 1 on CPU, 8 on GPU; halved on GPU out-of-memory)"),
        type=QgsProcessingParameterNumber.Integer, defaultValue=None, optional=True,
        minValue=1, maxValue=256)))
    alg.addParameter(QgsProcessingParameterBoolean(
        OVERWRITE, tr("Replace existing outputs"), defaultValue=False))


def add_detect_outputs(alg: CsbsrAlgorithm) -> None:
    """Add the output folder and the raster / report outputs of detection."""
    tr = alg.tr
    alg.addParameter(QgsProcessingParameterFolderDestination(
        OUTPUT_FOLDER, tr("Output folder (one run folder: <name>_prob.tif, _mask.tif, "
                          "_run.json...)")))
    alg.addOutput(QgsProcessingOutputRasterLayer(PROB, tr("Crack probability")))
    alg.addOutput(QgsProcessingOutputRasterLayer(MASK, tr("Crack mask")))
    alg.addOutput(QgsProcessingOutputRasterLayer(SR, tr("Super-resolved image")))
    alg.addOutput(QgsProcessingOutputFile(RUN_JSON, tr("Run record (JSON)")))
    alg.addOutput(QgsProcessingOutputString(DEVICE_USED, tr("Device used")))
    alg.addOutput(QgsProcessingOutputNumber(N_TILES, tr("Number of tiles")))


def optional_number(alg: CsbsrAlgorithm, parameters: Dict[str, Any], name: str, context: Any,
                    integer: bool = False) -> Optional[float]:
    """The value of an optional number parameter, or None when it is not set."""
    value = parameters.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if integer:
        return alg.parameterAsInt(parameters, name, context)
    return alg.parameterAsDouble(parameters, name, context)


def raster_path(layer: Any) -> str:
    """The file path GDAL opens for a raster layer.

    Raises:
        QgsProcessingException: for layers that are not GDAL files (WMS, XYZ, ...).
    """
    if layer is None:
        raise QgsProcessingException("no raster layer given: choose an orthophoto")
    if layer.providerType() != "gdal":
        raise QgsProcessingException(
            f"layer '{layer.name()}' is a {layer.providerType()} layer, not a file: export it "
            "to GeoTIFF first (right-click > Export > Save As...)")
    parts = QgsProviderRegistry.instance().decodeUri("gdal", layer.source())
    return str(parts.get("path") or layer.source())


def resolve_area(alg: CsbsrAlgorithm, parameters: Dict[str, Any], context: Any, feedback: Any,
                 layer: Any) -> Tuple[Optional[Tuple[float, float, float, float]], Any]:
    """(AOI box in the raster CRS or None, union of AOI polygons as QgsGeometry or None)."""
    crs = layer.crs()
    extent = None
    if parameters.get(EXTENT) not in (None, ""):
        extent = alg.parameterAsExtent(parameters, EXTENT, context, crs)
    source = alg.parameterAsSource(parameters, AOI, context)
    polygons = polygons_union(source, crs, context, feedback)
    return aoi_box(extent, polygons), polygons


def detect_arguments(alg: CsbsrAlgorithm, parameters: Dict[str, Any], context: Any,
                     aoi: Optional[Tuple[float, float, float, float]]) -> List[str]:
    """The ``csbsr detect`` / ``csbsr run`` options of the inference parameters."""
    args: List[str] = []
    model = alg.parameterAsFile(parameters, MODEL, context)
    if model:
        if not Path(model).is_file():
            raise QgsProcessingException(
                f"model file not found: {model}: choose a .safetensors model (its .json card "
                "must sit beside it) or leave it empty for the shipped model")
        args += ["--model", model]
    args += ["--device", DEVICES[alg.parameterAsEnum(parameters, DEVICE, context)],
             "--precision", PRECISIONS[alg.parameterAsEnum(parameters, PRECISION, context)],
             "--gsd-policy", GSD_POLICIES[alg.parameterAsEnum(parameters, GSD_POLICY, context)]]
    for name, flag, integer in ((THRESHOLD, "--threshold", False), (TILE_PX, "--tile-px", True),
                                (OVERLAP_PX, "--overlap-px", True), (BATCH, "--batch", True)):
        value = optional_number(alg, parameters, name, context, integer)
        if value is not None:
            args += [flag, str(value)]
    bands = [alg.parameterAsInt(parameters, b, context) or i + 1
             for i, b in enumerate((RED_BAND, GREEN_BAND, BLUE_BAND))]
    if bands != [1, 2, 3]:
        args += ["--bands", ",".join(str(b) for b in bands)]
    if alg.parameterAsBool(parameters, SAVE_SR, context):
        args.append("--save-sr")
    if aoi is not None:
        args += ["--aoi", *[repr(float(v)) for v in aoi]]
    if alg.parameterAsBool(parameters, OVERWRITE, context):
        args.append("--overwrite")
    return args


def run_record(layout: RunLayout) -> Dict[str, Any]:
    """The run's ``<stem>_run.json`` ({} when unreadable)."""
    try:
        return json.loads(layout.path("run").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def detect_results(layout: RunLayout, device: str) -> Dict[str, Any]:
    """Processing results of the rasters of a run folder."""
    sr = layout.path("sr")
    return {PROB: str(layout.path("prob")), MASK: str(layout.path("mask")),
            SR: str(sr) if sr.is_file() else None, RUN_JSON: str(layout.path("run")),
            DEVICE_USED: device,
            N_TILES: int((run_record(layout).get("tiles") or {}).get("n") or 0)}


def load_rasters(context: Any, layout: RunLayout) -> None:
    """Ask Processing to load the run's rasters (styled, in the run's group) at the end."""
    for role, output in (("prob", PROB), ("mask", MASK), ("sr", SR)):
        load_on_completion(context, layout, role, output)


class DetectCracksAlgorithm(CsbsrAlgorithm):
    """Crack probability and mask rasters (and the SR image) of an orthophoto."""

    help_anchor = "detect-cracks"

    def name(self) -> str:
        return "detectcracks"

    def displayName(self) -> str:
        return self.tr("Detect cracks (probability and mask rasters)")

    def shortHelpString(self) -> str:
        return self.tr(
            "Runs the CSBSR super-resolution + crack segmentation model over the orthophoto "
            "in tiles (GPU if usable, else CPU; the device is logged) and writes, in the output "
            "folder, on a grid 'scale' times finer than the input:\n"
            "- <name>_prob.tif: crack probability (transparent where there is no data)\n"
            "- <name>_mask.tif: 1 = crack, 0 = background\n"
            "- <name>_sr.tif: the super-resolved RGB image (optional)\n"
            "- <name>_run.json: the resolved settings, device and model card.\n"
            "The model expects the ground resolution written on its card; with the default "
            "GSD policy other resolutions are resampled to it (with a warning). A constant "
            "black or white border touching the edge (a reprojection collar) is treated as "
            "no data. The engine runs in its own Python environment (see the user guide).")

    def initAlgorithm(self, config: Optional[Dict[str, Any]] = None) -> None:
        add_detect_parameters(self)
        add_detect_outputs(self)

    def processAlgorithm(self, parameters: Dict[str, Any], context: Any,
                         feedback: Any) -> Dict[str, Any]:
        layer = self.input_raster(parameters, INPUT, context)
        path = raster_path(layer)
        box, _polygons = resolve_area(self, parameters, context, feedback, layer)
        out_dir = self.parameterAsString(parameters, OUTPUT_FOLDER, context)
        args = ["detect", path, "--out", out_dir,
                *detect_arguments(self, parameters, context, box)]
        res = self.call_engine(args, feedback, out_dir)
        if res is None:
            return {}
        layout = RunLayout.for_input(path, out_dir)
        results = detect_results(layout, str(res.data.get("device", "")))
        feedback.pushInfo(f"device: {results[DEVICE_USED]}; {results[N_TILES]} tiles in "
                          f"{float(res.data.get('seconds') or res.seconds):.1f} s")
        if context.project() is not None:
            load_rasters(context, layout)
        return {OUTPUT_FOLDER: out_dir, **results}
