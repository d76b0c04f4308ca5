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
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .. import atomic
from ..config import to_dict
from ..errors import DeviceError, InvalidInputError, OutputExistsError
from ..layout import RunLayout
from ..progress import NullProgress, Progress, check_cancelled, format_eta, report_metrics
from ..raster.io import (
    MAX_UPSAMPLE,
    OutputRaster,
    OutputSet,
    RasterInfo,
    describe_raster,
    find_edge_collar,
    open_raster,
    raster_env,
    read_padded,
    resampled_view,
    value_range,
)
from ..raster.tiling import Strip, TileGrid, crop_core, fill_invalid, plan_tiles, upsample_mask
from .config import InferenceConfig, TileConfig

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
    if dataclasses.is_dataclass(card):
        data = dataclasses.asdict(card)
    else:
        data = {k: v for k, v in vars(card).items() if not k.startswith("_")}
    return json.loads(json.dumps(data, default=str))


def _split_output(out: Any) -> Tuple[Any, Any]:
    """(sr, seg_logits) of a model output (JointOutput-like or a (sr, logits) tuple)."""
    if hasattr(out, "seg_logits"):
        return getattr(out, "sr", None), out.seg_logits
    if isinstance(out, (tuple, list)) and len(out) >= 2:
        return out[0], out[1]
    raise InvalidInputError("the model returned neither a JointOutput nor (sr, logits)")


def _model_scale(loaded: Any) -> int:
    scale = getattr(loaded.model, "scale", None)
    if scale is None:
        scale = loaded.card.model.scale
    return int(scale)


class _Engine:
    """Runs batches of tiles through the network with OOM back-off."""

    def __init__(self, net: Any, choice: Any, batch: int, grid: TileGrid, scale: int,
                 save_sr: bool, progress: Progress) -> None:
        import torch

        self.net = net
        self.choice = choice
        self.batch = batch
        self.grid = grid
        self.scale = scale
        self.save_sr = save_sr
        self.progress = progress
        self.device = torch.device(choice.torch_device)
        self.channels_last = True
        self.kernel: Any = None  # the raster's blur kernel (K, K) for kernel_scope="raster"

    def _forward(self, tiles: np.ndarray) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        import torch

        from ..device import autocast

        x = torch.from_numpy(np.ascontiguousarray(tiles)).to(self.device)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), autocast(self.choice):
            out = self.net(x) if self.kernel is None else self.net(x, kernel=self.kernel)
            sr, logits = _split_output(out)
        g = self.grid
        logits = crop_core(logits[:, 0], g.halo, self.scale, g.core_h, g.core_w)
        prob = torch.sigmoid(logits.float()).cpu().numpy()
        sr_u8 = None
        if self.save_sr and sr is not None:
            sr = crop_core(sr.float(), g.halo, self.scale, g.core_h, g.core_w)
            sr_u8 = (sr.clamp(0, 1) * 255.0).round().to(torch.uint8).cpu().numpy()
        return prob, sr_u8

    def run(self, tiles: np.ndarray) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """Infer ``tiles`` (B, 3, th, tw) float32 in [0, 1].

        Returns:
            prob (B, core_h*s, core_w*s) float32 in [0, 1]; sr (B, 3, same) uint8 or None.
        """
        from ..device import empty_cache, is_out_of_memory

        probs: List[np.ndarray] = []
        srs: List[np.ndarray] = []
        i = 0
        while i < len(tiles):
            n = min(self.batch, len(tiles) - i)
            try:
                p, s = self._forward(tiles[i:i + n])
            except RuntimeError as exc:
                if is_out_of_memory(exc):
                    empty_cache(self.choice)
                    if self.batch == 1:
                        raise DeviceError(
                            f"{self.choice.description} ran out of memory with a single "
                            f"{self.grid.tile_shape[1]}x{self.grid.tile_shape[0]} px tile: use a "
                            "smaller --tile-px, or --device cpu"
                        ) from exc
                    self.batch = max(1, self.batch // 2)
                    self.progress.warn(f"out of GPU memory: batch halved to {self.batch}")
                    continue
                if self.channels_last:  # a model op that cannot take channels_last input
                    log.debug("channels_last failed (%s); using contiguous input", exc)
                    self.channels_last = False
                    continue
                raise
            probs.append(p)
            if s is not None:
                srs.append(s)
            i += n
        return np.concatenate(probs), (np.concatenate(srs) if srs else None)


#: side (LR px), candidate grid and number of the windows the raster's blur kernel is
#: estimated on; all fixed, so the estimate does not depend on the tile size
KERNEL_WINDOW_PX = 64
KERNEL_GRID = 5
KERNEL_WINDOWS = 9


def estimate_raster_kernel(net: Any, read: Any, width: int, height: int, device: Any,
                           choice: Any) -> Any:
    """One blur kernel (K, K) for a whole region, for ``kernel_scope="raster"`` models.

    Candidate windows of :data:`KERNEL_WINDOW_PX` on a regular ``KERNEL_GRID`` squared grid
    over the region are read with ``read(row0, col0, h, w)`` -> (data (3, h, w) float32 in
    [0, 1], valid (h, w) bool); the :data:`KERNEL_WINDOWS` most valid of them (at least a
    quarter valid, or the single most valid one) go through the blind SR path, and the mean
    of their kernel estimates is returned. None when the region holds no valid pixel.
    """
    import torch

    from ..device import autocast

    side = min(KERNEL_WINDOW_PX, width, height)

    def offsets(length: int) -> List[int]:
        n = min(KERNEL_GRID, max(1, length // side))
        return sorted({int(round(v)) for v in np.linspace(0, length - side, n)})

    cands = []
    for r in offsets(height):
        for c in offsets(width):
            data, valid = read(r, c, side, side)
            cands.append((float(valid.mean()), r, c, data))
    cands.sort(key=lambda t: (-t[0], t[1], t[2]))
    tiles = [d for f, _, _, d in cands[:KERNEL_WINDOWS] if f >= 0.25]
    if not tiles and cands[0][0] > 0:
        tiles = [cands[0][3]]
    if not tiles:
        return None
    x = torch.from_numpy(np.stack(tiles)).to(device)
    with torch.inference_mode(), autocast(choice):
        return net.estimate_kernel(x)


def _aoi_region(ds: Any, aoi: Optional[Tuple[float, float, float, float]]
                ) -> Tuple[int, int, int, int]:
    """(row_off, col_off, height, width) of the AOI snapped outwards to whole pixels."""
    if aoi is None:
        return 0, 0, int(ds.height), int(ds.width)
    inv = ~ds.transform
    xs, ys = (aoi[0], aoi[2]), (aoi[1], aoi[3])
    cols, rows = [], []
    for x in xs:
        for y in ys:
            c, r = inv @ (x, y)
            cols.append(c)
            rows.append(r)
    c0, c1 = max(0, math.floor(min(cols) + 1e-9)), min(ds.width, math.ceil(max(cols) - 1e-9))
    r0, r1 = max(0, math.floor(min(rows) + 1e-9)), min(ds.height, math.ceil(max(rows) - 1e-9))
    if c1 <= c0 or r1 <= r0:
        raise InvalidInputError(
            f"the AOI {tuple(aoi)} does not overlap the raster (bounds {tuple(ds.bounds)}, in "
            "the raster's CRS): give the extent in the raster's CRS, or none for the whole raster"
        )
    return r0, c0, r1 - r0, c1 - c0


def _gsd_view(src: Any, info: RasterInfo, card_gsd: Optional[float], cfg: InferenceConfig,
              progress: Progress, stack: ExitStack) -> Tuple[Any, float, float]:
    """Apply the GSD policy; return (dataset to read, GSD the model sees in m, factor)."""
    gsd = info.mean_gsd_m
    if not card_gsd:
        return src, gsd, 1.0
    ratio = gsd / float(card_gsd)  # > 1: the raster is coarser than the model's input
    if abs(ratio - 1.0) <= cfg.gsd_tolerance:
        return src, gsd, 1.0
    text = (f"raster GSD {gsd * 1000:.3g} mm/px differs from the model's input GSD "
            f"{card_gsd * 1000:.3g} mm/px")
    if cfg.gsd_policy == "native":
        progress.warn(f"{text}; running at the raster's own GSD as requested (results may be poor)")
        return src, gsd, 1.0
    if ratio > MAX_UPSAMPLE:
        raise InvalidInputError(
            f"{text}: the raster is {ratio:.0f}x too coarse, cracks are not visible at this "
            f"resolution; use imagery of at most {card_gsd * MAX_UPSAMPLE * 1000:.3g} mm/px, or "
            "pass --gsd-policy native to run at the raster's own GSD anyway"
        )
    view = stack.enter_context(resampled_view(src, ratio))
    progress.warn(
        f"{text}: resampling the input x{ratio:.3g} ({src.width}x{src.height} -> "
        f"{view.width}x{view.height} px); pass --gsd-policy native to keep the native GSD"
    )
    return view, gsd * src.width / view.width, ratio


def _edge_collar(src: Any, ds: Any, cfg: InferenceConfig, progress: Progress) -> Any:
    """The constant border of ``src`` touching its edge (a warp collar without nodata), mapped
    onto ``ds`` (the raster or its resampled view), said in the log; None when there is none."""
    progress.set_status("checking the raster's border for a nodata collar")
    collar = find_edge_collar(src, cfg.bands)
    if collar is None:
        return None
    value = ", ".join(f"{v:g}" for v in collar.value)
    progress.warn(
        f"{Path(str(src.name)).name} has a constant border of value ({value}) touching its "
        f"edge ({collar.fraction:.1%} of the raster) and no nodata value: treating it as "
        "nodata (a reprojection collar). Give the raster a nodata value or an alpha band if "
        "that border is real imagery")
    return dataclasses.replace(collar, factor=ds.width / src.width)


def _load_model(cfg: InferenceConfig, device: str) -> Any:
    from ..model.card import default_model_path, load_model

    path = Path(cfg.model_path) if cfg.model_path else default_model_path()
    return load_model(path, device=device)


def detect(raster_path: Any, out_dir: Any, cfg: Optional[InferenceConfig] = None,
           progress: Optional[Progress] = None, model: Any = None) -> DetectResult:
    """Run crack detection over a georeferenced raster and write georeferenced outputs.

    Args:
        raster_path: any raster GDAL opens (GeoTIFF, COG, VRT, JPEG2000...), 8/16-bit or
            float, >= 3 bands, projected or geographic CRS.
        out_dir: output folder (created if missing).
        cfg: the run configuration (None = defaults).
        progress: receives percent, status (tiles/s, ETA, device), warnings; cancels.
        model: an already loaded ``LoadedModel`` (``.model`` network, ``.card`` model card);
            it is moved to the chosen device. None = load ``cfg.model_path`` or the default.

    Returns:
        A :class:`DetectResult`.

    Raises:
        InvalidInputError: unreadable raster, no CRS / geotransform, bad bands or dtype,
            GSD far too coarse, AOI outside the raster.
        OutputExistsError: an output exists and ``cfg.overwrite`` is False.
        CheckpointError, DeviceError: model or device problems.
        Cancelled: the user cancelled; no output file is left.
    """
    import torch

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
        net = loaded.model.to(choice.torch_device).eval()
        if choice.is_gpu:
            torch.backends.cudnn.benchmark = True
        try:
            net = net.to(memory_format=torch.channels_last)
        except RuntimeError:
            log.debug("model does not support channels_last")
        scale = _model_scale(loaded)
        ds, gsd_in, _factor = _gsd_view(src, info, getattr(card, "input_gsd_m", None), cfg,
                                        progress, stack)
        collar = _edge_collar(src, ds, cfg, progress)
        row_off, col_off, height, width = _aoi_region(ds, cfg.aoi)

        tile_px = cfg.tile.tile_px or (GPU_TILE_PX if choice.is_gpu else CPU_TILE_PX)
        card_halo = int(getattr(card, "halo_lr_px", 0) or 0)
        halo = int(cfg.tile.overlap_px) if cfg.tile.overlap_px is not None else card_halo
        if halo < card_halo:
            progress.warn(f"overlap {halo} px is below the model's receptive-field halo "
                          f"{card_halo} px: tile seams may show")
        batch = cfg.tile.batch or (GPU_BATCH if choice.is_gpu else CPU_BATCH)
        threshold = float(cfg.threshold if cfg.threshold is not None
                          else getattr(card, "recommended_threshold", 0.5))
        grid = plan_tiles(width, height, tile_px, halo,
                          align=int(getattr(net, "tile_align", 1)))

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
            engine = _Engine(net, choice, batch, grid, scale, cfg.save_sr, progress)
            reader = _Reader(ds, cfg.bands, (row_off, col_off), (lo, hi, clip), collar)
            with torch_threads(cfg.threads):
                if getattr(net, "kernel_scope", "tile") == "raster":
                    progress.set_status("estimating the blur kernel of the raster")
                    engine.kernel = estimate_raster_kernel(
                        net, reader.read, width, height, engine.device, choice)
                n_skipped = _run_strips(reader, cfg, grid, engine, outputs, threshold,
                                        float_prob, progress)
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
            "kernel": _kernel_summary(engine.kernel),
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
        threshold=threshold,
    )


class _Reader:
    """Reads normalised LR windows of the region (reflect-padded beyond the raster).

    ``read(row0, col0, h, w)`` (region pixels, may extend past the region) returns
    (data (3, h, w) float32 in [0, 1] with invalid pixels filled, valid (h, w) bool).
    """

    def __init__(self, ds: Any, bands: Any, offset: Tuple[int, int],
                 norm: Tuple[float, float, bool], collar: Any = None) -> None:
        self.ds, self.bands, self.collar = ds, bands, collar
        self.row_off, self.col_off = offset
        self.lo, hi, self.clip = norm
        self.inv_range = 1.0 / (hi - self.lo)

    def read(self, row0: int, col0: int, h: int, w: int) -> Tuple[np.ndarray, np.ndarray]:
        """One window; see the class doc."""
        r, c = self.row_off + row0, self.col_off + col0
        data, valid = read_padded(self.ds, self.bands, r, r + h, c, c + w, self.collar)
        x = data.astype(np.float32)
        x -= self.lo
        x *= self.inv_range
        if self.clip:
            np.clip(x, 0.0, 1.0, out=x)
        return fill_invalid(x, valid), valid


def _kernel_summary(kernel: Any) -> Optional[Dict[str, Any]]:
    """Size and spread (HR px) of the raster's estimated blur kernel, for the run JSON."""
    if kernel is None:
        return None
    k = kernel.float().cpu().numpy()
    yy, xx = np.mgrid[:k.shape[0], :k.shape[1]]
    cy, cx = float((k * yy).sum()), float((k * xx).sum())
    sy = float(np.sqrt((k * (yy - cy) ** 2).sum()))
    sx = float(np.sqrt((k * (xx - cx) ** 2).sum()))
    return {"scope": "raster", "size_px": int(k.shape[0]), "sigma_x_hr_px": round(sx, 3),
            "sigma_y_hr_px": round(sy, 3)}


def _run_strips(reader: _Reader, cfg: InferenceConfig, grid: TileGrid, engine: _Engine,
                outputs: OutputSet, threshold: float, float_prob: bool,
                progress: Progress) -> int:
    """Infer every window of tiles and write it; return the number of skipped tiles."""
    g, s, h = grid, engine.scale, grid.halo
    th, tw = g.tile_shape

    def read(win: Strip) -> Tuple[np.ndarray, np.ndarray]:
        span = win.xs[-1] + g.core_w - win.x0
        return reader.read(win.y - h, win.x0 - h, g.core_h + 2 * h, span + 2 * h)

    windows = list(g.windows(WINDOW_COLS))
    total = g.n_tiles
    done = skipped = 0
    t_start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="csbsr-read") as pool:
        future = pool.submit(read, windows[0])
        for i, win in enumerate(windows):
            x, valid = future.result()
            if i + 1 < len(windows):
                future = pool.submit(read, windows[i + 1])
            wcols = win.x1 - win.x0
            span = win.xs[-1] + g.core_w - win.x0  # >= wcols: the last core may overhang
            prob = np.zeros((g.core_h * s, span * s), np.float32)
            sr = np.zeros((3, g.core_h * s, span * s), np.uint8) if cfg.save_sr else None
            todo = []
            for x0 in win.xs:
                lx = x0 - win.x0
                if valid[h:h + g.core_h, h + lx:h + lx + g.core_w].any():
                    todo.append(lx)
                else:
                    skipped += 1
                    done += 1
            for b0 in range(0, len(todo), engine.batch):
                check_cancelled(progress)
                lxs = todo[b0:b0 + engine.batch]
                tiles = np.stack([x[:, 0:th, lx:lx + tw] for lx in lxs])
                p, srb = engine.run(tiles)
                for j, lx in enumerate(lxs):
                    prob[:, lx * s:(lx + g.core_w) * s] = p[j]
                    if sr is not None and srb is not None:
                        sr[:, :, lx * s:(lx + g.core_w) * s] = srb[j]
                done += len(lxs)
                elapsed = time.perf_counter() - t_start
                rate = done / elapsed if elapsed > 0 else 0.0
                report_metrics(progress, tiles_per_s=round(rate, 3), tiles_done=done,
                               tiles_total=total, device=engine.choice.description,
                               eta_s=round((total - done) / rate, 1) if rate > 0 else None)
                progress.set_progress(95.0 * done / total)
                progress.set_status(
                    f"tile {done}/{total} · {rate:.2f} tiles/s · ETA "
                    f"{format_eta((total - done) / rate) if rate > 0 else '?'} · "
                    f"{engine.choice.description}")
            check_cancelled(progress)
            # keep the rows and columns no earlier window wrote
            r0, r1 = win.keep_from * s, win.keep_to * s
            c0 = (win.write_x0 - win.x0) * s
            valid_hr = upsample_mask(
                valid[h + win.keep_from:h + win.keep_to, h + win.write_x0 - win.x0:h + wcols], s)
            prob = prob[r0:r1, c0:wcols * s]
            mask = np.where(valid_hr, (prob >= threshold).astype(np.uint8), np.uint8(255))
            row, col = (win.y + win.keep_from) * s, win.write_x0 * s
            if float_prob:
                pout = np.where(valid_hr, prob, np.float32("nan")).astype(np.float32)
                outputs.items["prob"].write(pout[None], row, col)
            else:
                pu8 = np.rint(prob * 255.0).astype(np.uint8)
                pu8[~valid_hr] = 0
                outputs.items["prob"].write(pu8[None], row, col, valid_hr)
            outputs.items["mask"].write(mask[None], row, col)
            if sr is not None:
                srw = sr[:, r0:r1, c0:wcols * s]
                srw[:, ~valid_hr] = 0
                outputs.items["sr"].write(srw, row, col, valid_hr)
            progress.set_progress(95.0 * done / total)
    return skipped
