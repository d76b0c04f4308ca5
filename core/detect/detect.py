"""Georeferenced tiled inference of the joint SR + crack model over an orthophoto.

``detect`` reads the raster strip by strip (one row of tiles at a time, prefetched by a reader
thread), runs the model on fixed-shape batches of tiles with a halo, keeps each tile's core
(centre-crop stitching), and writes every output row exactly once, so memory depends on the
raster's width and the tile size, not on its height. Outputs, on the input CRS with pixels
``scale`` times smaller:

- ``<stem>_prob.tif``: crack probability (uint8 0-255 = p x 255, or half floats in [0, 1]),
  invalid input pixels masked (internal mask band; NaN for float16);
- ``<stem>_mask.tif``: 1 = crack, 0 = background, 255 = nodata;
- ``<stem>_sr.tif`` (optional): the super-resolved RGB image (uint8, internal mask);
- ``<stem>_run.json``: the resolved configuration, device, input raster and model card.

The strip loop itself lives in :mod:`.strips`; with a ``block_map`` the windows are inferred
in blocks elsewhere (Dask workers) and written here in the same order: the same files.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional

from .. import atomic
from ..config import to_dict
from ..errors import InvalidInputError, OutputExistsError
from ..layout import RunLayout
from ..progress import NullProgress, Progress, check_cancelled, format_eta
from ..raster.io import (
    OutputRaster,
    OutputSet,
    describe_raster,
    open_raster,
    raster_env,
    value_range,
)
from ..raster.tiling import BlockMap, TileGrid, plan_tiles
from .config import InferenceConfig, TileConfig
from .engine import TileEngine, estimate_raster_kernel, kernel_summary
from .inputs import TileReader, aoi_region, edge_collar, gsd_view
from .strips import StripPlan, blocked_strips, infer_windows, prepare_net, write_strips

log = logging.getLogger(__name__)


CPU_TILE_PX, GPU_TILE_PX = 128, 256
CPU_BATCH, GPU_BATCH = 1, 8
# LR columns per processing window (memory is O(tile x WINDOW_COLS), not O(raster))
WINDOW_COLS = 2048


@dataclass(frozen=True)
class DetectResult:
    """What a :func:`detect` run wrote and how it went.

    Attributes:
        prob_path, mask_path: the probability and binary mask GeoTIFFs.
        sr_path: the super-resolved RGB GeoTIFF, or None.
        config_path: the ``<stem>_run.json`` file.
        device: the device description (e.g. "CPU: 2 threads, bf16").
        scale: SR factor (output pixel size = input pixel size / scale).
        gsd_in_m: the GSD the model saw, in metres (after any resampling).
        gsd_out_m: the output GSD in metres.
        n_tiles: tiles in the grid; n_skipped: tiles skipped as entirely nodata.
        seconds: wall time of the run.
        threshold: the probability threshold of the mask.
        seed_threshold: the model card's hysteresis seed for the crack lines when it is
            above ``threshold`` (see :class:`core.vectorize.config.VectorizeConfig`), else None.
    """

    prob_path: Path
    mask_path: Path
    sr_path: Optional[Path]
    config_path: Path
    device: str
    scale: int
    gsd_in_m: float
    gsd_out_m: float
    n_tiles: int
    n_skipped: int
    seconds: float
    threshold: float = 0.5
    seed_threshold: Optional[float] = None


def output_paths(raster_path: Any, out_dir: Any, save_sr: bool) -> Dict[str, Path]:
    """Return the output paths of a detection (:class:`RunLayout` names): keys prob, mask,
    (sr), config."""
    layout = RunLayout.for_input(raster_path, out_dir)
    paths = {"prob": layout.path("prob"), "mask": layout.path("mask")}
    if save_sr:
        paths["sr"] = layout.path("sr")
    paths["config"] = layout.path("run")
    return paths


def check_outputs_free(paths: Dict[str, Path], overwrite: bool) -> None:
    """Raise :class:`OutputExistsError` if an output exists and ``overwrite`` is False."""
    if overwrite:
        return
    existing = [str(p) for p in paths.values() if p.exists()]
    if existing:
        raise OutputExistsError(
            f"{existing[0]} already exists: pass --overwrite (overwrite=True) to replace it, "
            "or choose another output folder"
        )


def _card_summary(card: Any) -> Dict[str, Any]:
    if dataclasses.is_dataclass(card) and not isinstance(card, type):
        data = dataclasses.asdict(card)
    else:
        data = {k: v for k, v in vars(card).items() if not k.startswith("_")}
    return json.loads(json.dumps(data, default=str))


def _model_scale(loaded: Any) -> int:
    scale = getattr(loaded.model, "scale", None)
    if scale is None:
        scale = loaded.card.model.scale
    return int(scale)


def _load_model(cfg: InferenceConfig, device: str) -> Any:
    from ..model.card import default_model_path, load_model

    path = Path(cfg.model_path) if cfg.model_path else default_model_path()
    return load_model(path, device=device)


def detect(raster_path: Any, out_dir: Any, cfg: Optional[InferenceConfig] = None,
           progress: Optional[Progress] = None, model: Any = None,
           block_map: Optional[BlockMap] = None) -> DetectResult:
    """Run crack detection over a georeferenced raster and write georeferenced outputs.

    Args:
        raster_path: any raster GDAL opens (GeoTIFF, COG, VRT, JPEG2000...), 8/16-bit or
            float, >= 3 bands, projected or geographic CRS.
        out_dir: output folder (created if missing).
        cfg: the run configuration (None = defaults).
        progress: receives percent, status (tiles/s, ETA, device), warnings; cancels.
        model: an already loaded ``LoadedModel`` (``.model`` network, ``.card`` model card);
            it is moved to the chosen device. None = load ``cfg.model_path`` or the default.
        block_map: infer the processing windows in blocks of about ``block_map.block_px``
            LR pixels through it (e.g. on other Dask workers, which load the model from its
            file, checked by SHA-256); the raster's blur kernel is estimated here once and
            shared, and the windows are written here in grid order, so the files are the
            same as without it. None = infer every window in this process.

    Returns:
        A :class:`DetectResult`.

    Raises:
        InvalidInputError: unreadable raster, no CRS / geotransform, bad bands or dtype,
            GSD far too coarse, AOI outside the raster.
        OutputExistsError: an output exists and ``cfg.overwrite`` is False.
        CheckpointError, DeviceError: model or device problems.
        Cancelled: the user cancelled; no output file is left.
    """

    from ..device import resolve_device, torch_threads

    progress = progress if progress is not None else NullProgress()
    cfg = cfg if cfg is not None else InferenceConfig()
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    paths = output_paths(raster_path, out_dir, cfg.save_sr)
    check_outputs_free(paths, cfg.overwrite)
    choice = resolve_device(cfg.device, cfg.precision)
    progress.set_status(f"device: {choice.description}")
    with ExitStack() as stack:
        stack.enter_context(raster_env())
        src = stack.enter_context(open_raster(raster_path))
        info = describe_raster(src, cfg.bands, cfg.gsd_m)
        loaded = model if model is not None else _load_model(cfg, choice.torch_device)
        card = loaded.card
        net = prepare_net(loaded, choice)
        scale = _model_scale(loaded)
        ds, gsd_in, _factor = gsd_view(src, info, getattr(card, "input_gsd_m", None), cfg,
                                        progress, stack)
        row_off, col_off, height, width = aoi_region(ds, cfg.aoi)

        card_halo = int(getattr(card, "halo_lr_px", 0) or 0)
        halo = int(cfg.tile.overlap_px) if cfg.tile.overlap_px is not None else card_halo
        if halo < card_halo:
            progress.warn(f"overlap {halo} px is below the model's receptive-field halo "
                          f"{card_halo} px: tile seams may show")
        # beyond the region, the halo is a reflection of it: more adds only cost
        halo = min(halo, max(card_halo, width, height))
        tile_px = cfg.tile.tile_px or auto_tile_px(choice.is_gpu, halo)
        batch = cfg.tile.batch or (GPU_BATCH if choice.is_gpu else CPU_BATCH)
        threshold = float(cfg.threshold if cfg.threshold is not None
                          else getattr(card, "recommended_threshold", 0.5))
        grid = plan_tiles(width, height, tile_px, halo,
                          align=int(getattr(net, "tile_align", 1)))
        batch = _batch_that_fits(net, grid, scale, batch, choice, cfg)
        # after the memory check: the collar scan reads the whole raster once
        collar = edge_collar(src, ds, cfg, progress)

        if info.dtype == "uint8" and cfg.value_range is None:
            norm = getattr(card, "normalisation", None)
            lo = float(getattr(norm, "value_offset", 0.0))
            hi = lo + float(getattr(norm, "value_scale", 255.0))
            clip = False
        else:
            lo, hi = cfg.value_range if cfg.value_range is not None else value_range(
                ds, cfg.bands)
            clip = True

        t = ds.transform
        from affine import Affine

        out_transform = Affine(t.a / scale, 0.0, t.c + col_off * t.a, 0.0, t.e / scale,
                               t.f + row_off * t.e)
        hr_w, hr_h = width * scale, height * scale
        out_dir.mkdir(parents=True, exist_ok=True)
        outputs = OutputSet()
        try:
            float_prob = cfg.prob_dtype == "float16"
            outputs.add("prob", OutputRaster(
                paths["prob"], hr_w, hr_h, 1, "float32" if float_prob else "uint8", ds.crs,
                out_transform, nodata=float("nan") if float_prob else None,
                internal_mask=not float_prob, nbits=16 if float_prob else None,
                descriptions=("crack probability" + ("" if float_prob else " x 255"),)))
            outputs.add("mask", OutputRaster(
                paths["mask"], hr_w, hr_h, 1, "uint8", ds.crs, out_transform, nodata=255,
                overview_resampling="nearest", descriptions=("crack mask (1 = crack)",)))
            if cfg.save_sr:
                outputs.add("sr", OutputRaster(
                    paths["sr"], hr_w, hr_h, 3, "uint8", ds.crs, out_transform,
                    internal_mask=True, photometric="RGB",
                    descriptions=("red", "green", "blue")))
            engine = TileEngine(net, choice, batch, grid, scale, cfg.save_sr, progress)
            reader = TileReader(ds, cfg.bands, (row_off, col_off), (lo, hi, clip), collar)
            with torch_threads(cfg.threads):
                if getattr(net, "kernel_scope", "tile") == "raster":
                    progress.set_status("estimating the blur kernel of the raster")
                    engine.kernel = estimate_raster_kernel(
                        net, reader.read, width, height, engine.device, choice)
                plan = StripPlan(
                    raster=str(raster_path), cfg=cfg, grid=grid,
                    windows=tuple(grid.windows(WINDOW_COLS)), region=(row_off, col_off),
                    norm=(lo, hi, clip), threshold=threshold, float_prob=float_prob,
                    scale=scale, batch=batch, collar=collar)
                if block_map is None:
                    strips = infer_windows(reader, plan, engine, plan.windows, progress)
                else:
                    plan = _shareable(plan, engine.kernel, loaded)
                    strips = blocked_strips(plan, block_map, progress)
                n_skipped = write_strips(strips, outputs, grid.n_tiles, progress)
            check_cancelled(progress)
            progress.set_status("building overviews")
            outputs.commit()
        except BaseException:
            outputs.abort()
            raise
        seconds = time.perf_counter() - t0
        resolved = dataclasses.replace(
            cfg, tile=TileConfig(tile_px=tile_px, overlap_px=halo, batch=engine.batch),
            threshold=threshold,
            model_path=str(cfg.model_path or getattr(loaded, "path", None) or "") or None,
        )
        run = {
            "software": "csbsr", "command": "detect", "config": to_dict(resolved),
            "device": {"description": choice.description, "torch_device": choice.torch_device,
                       "precision": choice.precision, "reason": choice.reason},
            "input": {"path": str(raster_path), "width": info.width, "height": info.height,
                      "dtype": info.dtype, "epsg": info.epsg, "geographic": info.geographic,
                      "gsd_m": list(info.gsd_m), "model_gsd_m": gsd_in,
                      "resampled": bool(abs(_factor - 1.0) > 0),
                      "region_px": [row_off, col_off, height, width],
                      "value_range": [lo, hi]},
            "output": {k: str(p) for k, p in paths.items()},
            "output_grid": {"width": hr_w, "height": hr_h, "gsd_m": gsd_in / scale,
                            "transform": list(out_transform)[:6], "crs_wkt": info.crs_wkt},
            "kernel": kernel_summary(engine.kernel),
            "tiles": {"n": grid.n_tiles, "skipped": n_skipped,
                      "core_px": [grid.core_h, grid.core_w], "halo_px": halo,
                      "overhead": grid.overhead},
            "model": _card_summary(card), "seconds": seconds,
        }
        atomic.write_text(paths["config"], json.dumps(run, indent=2, default=str) + "\n")
    progress.set_progress(100.0)
    progress.set_status(f"done: {grid.n_tiles} tiles in {format_eta(seconds)} on "
                        f"{choice.description}")
    return DetectResult(
        prob_path=paths["prob"], mask_path=paths["mask"], sr_path=paths.get("sr"),
        config_path=paths["config"], device=choice.description, scale=scale, gsd_in_m=gsd_in,
        gsd_out_m=gsd_in / scale, n_tiles=grid.n_tiles, n_skipped=n_skipped, seconds=seconds,
        threshold=threshold, seed_threshold=card_seed(card, threshold),
    )


def card_seed(card: Any, threshold: float) -> Optional[float]:
    """The card's hysteresis seed when it is above the run's ``threshold`` (else None)."""
    seed = getattr(card, "recommended_seed_threshold", None)
    return float(seed) if seed is not None and float(seed) > threshold else None


def auto_tile_px(gpu: bool, halo: int) -> int:
    """The default tile side (LR px): 128 on a CPU, 256 on a GPU, and at least ten halos
    (rounded up to 64 px) so that the halo costs at most about 1.5x."""
    base = GPU_TILE_PX if gpu else CPU_TILE_PX
    return int(min(512, max(base, -(-10 * halo // 64) * 64)))


def _batch_that_fits(net: Any, grid: TileGrid, scale: int, batch: int, choice: Any,
                     cfg: InferenceConfig) -> int:
    """The batch, lowered until a batch of tiles fits the device's free memory; an error
    naming the parameters to lower when a single tile does not fit."""
    from ..device import free_memory_bytes
    from .memory import estimate_peak_bytes, fits

    free = free_memory_bytes(choice)
    while batch > 1 and not fits(estimate_peak_bytes(net, grid.tile_shape, scale, batch), free):
        batch //= 2
    need = estimate_peak_bytes(net, grid.tile_shape, scale, batch)
    if not fits(need, free):
        th, tw = grid.tile_shape
        raise InvalidInputError(
            f"one {tw}x{th} px tile (core {grid.core_w} + overlap {grid.halo} on each side) "
            f"needs about {need / 2**30:.1f} GiB, {choice.description} has "
            f"{float(free or 0) / 2**30:.1f} GiB free: lower --tile-px"
            + (" or --overlap-px" if cfg.tile.overlap_px else "")
            + " (the model needs an overlap of at least its halo)")
    return batch


def _shareable(plan: StripPlan, kernel: Any, loaded: Any) -> StripPlan:
    """``plan`` with what other processes need: the kernel on the CPU and the model's
    path + SHA-256 (never the weights)."""
    from ..errors import ConfigError
    from ..model.cache import ModelRef

    path = getattr(loaded, "path", None)
    if path is None:
        raise ConfigError("a blocked detection needs a model loaded from a file (its path "
                          "and SHA-256 go to the block workers): pass model_path")
    return dataclasses.replace(plan, kernel=None if kernel is None else kernel.detach().cpu(),
                               model=ModelRef.of(path))
