"""``csbsr:detectcracks``: crack probability, mask (and SR) rasters of an orthophoto.

An adapter around ``core.infer.detect``; the parameter helpers are shared with
``inspectcracks``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Tuple

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

from ..areas import aoi_box, polygons_union
from ..feedback import FeedbackProgress
from ..styling import load_on_completion
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


def _advanced(param: QgsProcessingParameterDefinition) -> QgsProcessingParameterDefinition:
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
    alg.addParameter(QgsProcessingParameterNumber(
        THRESHOLD, tr("Probability threshold of the mask (empty = the model's recommended)"),
        type=QgsProcessingParameterNumber.Double, defaultValue=None, optional=True,
        minValue=0.01, maxValue=0.99))
    alg.addParameter(QgsProcessingParameterBoolean(
        SAVE_SR, tr("Also write the super-resolved image"), defaultValue=False))
    for name, label, default in ((RED_BAND, "Red band", 1), (GREEN_BAND, "Green band", 2),
                                 (BLUE_BAND, "Blue band", 3)):
        alg.addParameter(_advanced(QgsProcessingParameterBand(
            name, tr(label), defaultValue=default, parentLayerParameterName=INPUT,
            optional=True)))  # optional: QGIS 3.22 rejects an unset band even with a default
    alg.addParameter(_advanced(QgsProcessingParameterEnum(
        PRECISION, tr("Precision"), options=list(PRECISIONS), defaultValue=0)))
    alg.addParameter(_advanced(QgsProcessingParameterNumber(
        TILE_PX, tr("Tile size in input pixels (empty = 128 on CPU, 256 on GPU)"),
        type=QgsProcessingParameterNumber.Integer, defaultValue=None, optional=True,
        minValue=16, maxValue=8192)))
    alg.addParameter(_advanced(QgsProcessingParameterNumber(
        OVERLAP_PX, tr("Tile overlap (halo) in input pixels (empty = the model's)"),
        type=QgsProcessingParameterNumber.Integer, defaultValue=None, optional=True,
        minValue=0, maxValue=1024)))
    alg.addParameter(_advanced(QgsProcessingParameterNumber(
        BATCH, tr("Tiles per batch (empty = 1 on CPU, 8 on GPU; halved on GPU out-of-memory)"),
        type=QgsProcessingParameterNumber.Integer, defaultValue=None, optional=True,
        minValue=1, maxValue=256)))
    alg.addParameter(_advanced(QgsProcessingParameterEnum(
        GSD_POLICY, tr("Ground resolution policy"),
        options=[tr("Resample to the model's input GSD when it differs"),
                 tr("Keep the raster's own GSD")], defaultValue=0)))
    alg.addParameter(QgsProcessingParameterBoolean(
        OVERWRITE, tr("Replace existing outputs"), defaultValue=False))


def add_detect_outputs(alg: CsbsrAlgorithm) -> None:
    """Add the output folder and the raster / report outputs of detection."""
    tr = alg.tr
    alg.addParameter(QgsProcessingParameterFolderDestination(
        OUTPUT_FOLDER, tr("Output folder (<name>_prob.tif, _mask.tif, _sr.tif, _run.json)")))
    alg.addOutput(QgsProcessingOutputRasterLayer(PROB, tr("Crack probability")))
    alg.addOutput(QgsProcessingOutputRasterLayer(MASK, tr("Crack mask")))
    alg.addOutput(QgsProcessingOutputRasterLayer(SR, tr("Super-resolved image")))
    alg.addOutput(QgsProcessingOutputFile(RUN_JSON, tr("Run configuration (JSON)")))
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
    """The file path GDAL/rasterio opens for a raster layer.

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


def inference_config(alg: CsbsrAlgorithm, parameters: Dict[str, Any], context: Any,
                     aoi: Optional[Tuple[float, float, float, float]]) -> Any:
    """Map the parameters 1:1 onto a ``core.config.InferenceConfig``.

    Raises:
        QgsProcessingException: on invalid values (from ``ConfigError``).
    """
    from ...core.detect.config import InferenceConfig, TileConfig
    from ...core.errors import ConfigError

    model = alg.parameterAsFile(parameters, MODEL, context) or None
    if model and not Path(model).is_file():
        raise QgsProcessingException(f"model file not found: {model}: choose a .safetensors "
                                     "model (its .json card must sit beside it) or leave it "
                                     "empty for the shipped model")
    try:
        return InferenceConfig(
            model_path=model,
            device=DEVICES[alg.parameterAsEnum(parameters, DEVICE, context)],
            precision=PRECISIONS[alg.parameterAsEnum(parameters, PRECISION, context)],
            tile=TileConfig(
                tile_px=optional_number(alg, parameters, TILE_PX, context, True),
                overlap_px=optional_number(alg, parameters, OVERLAP_PX, context, True),
                batch=optional_number(alg, parameters, BATCH, context, True)),
            threshold=optional_number(alg, parameters, THRESHOLD, context),
            save_sr=alg.parameterAsBool(parameters, SAVE_SR, context),
            bands=tuple(alg.parameterAsInt(parameters, b, context) or i + 1
                        for i, b in enumerate((RED_BAND, GREEN_BAND, BLUE_BAND))),
            gsd_policy=GSD_POLICIES[alg.parameterAsEnum(parameters, GSD_POLICY, context)],
            aoi=aoi,
            overwrite=alg.parameterAsBool(parameters, OVERWRITE, context),
        )
    except ConfigError as exc:
        raise QgsProcessingException(str(exc)) from exc


def detect_results(res: Any) -> Dict[str, Any]:
    """Processing results of a ``DetectResult``."""
    return {PROB: str(res.prob_path), MASK: str(res.mask_path),
            SR: str(res.sr_path) if res.sr_path else None, RUN_JSON: str(res.config_path),
            DEVICE_USED: res.device, N_TILES: res.n_tiles}


def load_detect_outputs(context: Any, res: Any) -> None:
    """Ask Processing to load (and style) the rasters of a detection when the run ends."""
    stem = Path(str(res.prob_path)).stem[: -len("_prob")]
    if res.sr_path:
        load_on_completion(context, str(res.sr_path), f"{stem} super-resolved", SR, "crack_sr")
    load_on_completion(context, str(res.mask_path), f"{stem} crack mask", MASK, "crack_mask")
    load_on_completion(context, str(res.prob_path), f"{stem} crack probability", PROB,
                       "crack_prob")


class DetectCracksAlgorithm(CsbsrAlgorithm):
    """Crack probability and mask rasters (and the SR image) of an orthophoto."""

    def name(self) -> str:
        return "detectcracks"

    def displayName(self) -> str:
        return self.tr("Detect cracks (probability and mask rasters)")

    def shortHelpString(self) -> str:
        return self.tr(
            "Runs the CSBSR joint super-resolution + crack segmentation model over the "
            "orthophoto in tiles (GPU if usable, else CPU; the device is logged) and writes, "
            "in the output folder, on a grid 'scale' times finer than the input:\n"
            "- <name>_prob.tif: crack probability x 255 (transparent where there is no data)\n"
            "- <name>_mask.tif: 1 = crack, 0 = background\n"
            "- <name>_sr.tif: the super-resolved RGB image (optional)\n"
            "- <name>_run.json: the resolved settings, device and model card.\n"
            "The extent and the polygons limit the processed area (their bounding box). "
            "The model's card sets the expected ground resolution: a raster at another "
            "resolution is resampled to it, with a warning.")

    def initAlgorithm(self, config: Optional[Dict[str, Any]] = None) -> None:
        add_detect_parameters(self)
        add_detect_outputs(self)

    def processAlgorithm(self, parameters: Dict[str, Any], context: Any,
                         feedback: Any) -> Dict[str, Any]:
        self.check_dependencies()
        from ...core.detect.detect import detect

        layer = self.parameterAsRasterLayer(parameters, INPUT, context)
        path = raster_path(layer)
        box, _polygons = resolve_area(self, parameters, context, feedback, layer)
        cfg = inference_config(self, parameters, context, box)
        out_dir = self.parameterAsString(parameters, OUTPUT_FOLDER, context)
        res = self.call_core(detect, path, out_dir, cfg, FeedbackProgress(feedback))
        if res is None:
            feedback.reportError(self.tr("Cancelled: no output was written."), False)
            return {}
        feedback.pushInfo(f"device: {res.device}; {res.n_tiles} tiles "
                          f"({res.n_skipped} skipped as nodata) in {res.seconds:.1f} s; "
                          f"output GSD {res.gsd_out_m * 1000:.3g} mm/px")
        load_detect_outputs(context, res)
        return {OUTPUT_FOLDER: out_dir, **detect_results(res)}
