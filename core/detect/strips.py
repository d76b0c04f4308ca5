"""The strip loop of detection: infer the processing windows of a :class:`TileGrid` and write
them, here or in blocks run elsewhere.

A processing window (:class:`~..raster.tiling.Strip`: one row of tile cores, at most
``WINDOW_COLS`` LR columns) is read with its halo, its tiles go through the
:class:`~.engine.TileEngine`, and the window's new output rows and columns come out as a
:class:`StripOut` (the exact arrays written to the GeoTIFFs). :func:`infer_windows` does that
in this process; :func:`infer_block` does it for a range of windows in any process, from a
picklable :class:`StripPlan` (the raster path, the resolved settings, the grid, the
normalisation and the raster's blur kernel, computed once by the coordinating process) and
the model's path + SHA-256. :func:`write_strips` writes the windows in grid order, so the
files are byte for byte the same whichever process inferred them.
"""
from __future__ import annotations

import functools
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from ..progress import NullProgress, Progress, check_cancelled, format_eta, report_metrics
from ..raster.io import OutputSet, describe_raster, open_raster, raster_env
from ..raster.tiling import BlockMap, Strip, TileGrid, group_blocks, upsample_mask
from .config import InferenceConfig
from .engine import TileEngine
from .inputs import TileReader, gsd_view

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StripPlan:
    """Everything a process needs to infer windows of a raster besides the model (picklable).

    Attributes:
        raster: the input raster path.
        cfg: the run's inference settings.
        grid: the tile grid of the region (LR px).
        windows: the processing windows of ``grid``, in write order.
        region: (row_off, col_off) of the region in the (GSD-resampled) raster, LR px.
        norm: (low, high, clip) value normalisation.
        threshold: probability threshold of the mask.
        float_prob: True for a float16 probability raster, False for uint8 (p x 255).
        scale: SR factor.
        batch: tiles per forward pass.
        kernel: the raster's blur kernel (K, K) CPU tensor (``kernel_scope="raster"``) or None.
        model: a :class:`~..model.cache.ModelRef` (path + SHA-256) for other processes.
        collar: the raster's nodata collar (:class:`~..raster.io.EdgeCollar`) or None.
    """

    raster: str
    cfg: InferenceConfig
    grid: TileGrid
    windows: Tuple[Strip, ...]
    region: Tuple[int, int]
    norm: Tuple[float, float, bool]
    threshold: float
    float_prob: bool
    scale: int
    batch: int
    kernel: Any = None
    model: Any = None
    collar: Any = None


@dataclass
class StripOut:
    """The output of one processing window, as written (HR px).

    Attributes:
        row, col: top-left of the written area in the output rasters.
        prob: (1, h, w) uint8 p x 255 (0 where invalid) or float32 p (NaN where invalid).
        mask: (1, h, w) uint8: 1 crack, 0 background, 255 nodata (also the validity).
        sr: (3, h, w) uint8 super-resolved RGB, or None.
        tiles: tiles of the window; skipped: of them, entirely nodata (not inferred).
    """

    row: int
    col: int
    prob: np.ndarray
    mask: np.ndarray
    sr: Optional[np.ndarray]
    tiles: int
    skipped: int


def prepare_net(loaded: Any, choice: Any) -> Any:
    """The network of ``loaded`` on the chosen device, in eval mode, BatchNorm folded and
    PReLU as LeakyReLU (:mod:`..model.fuse`), channels_last when it can (in place:
    idempotent, so a cached model is prepared once). On the CPU, freed feature maps are kept
    for reuse (:func:`..device.keep_freed_memory`)."""
    import torch

    from ..device import keep_freed_memory
    from ..model.fuse import fuse_for_inference

    if not choice.is_gpu:
        keep_freed_memory()

    net = fuse_for_inference(loaded.model.to(choice.torch_device))
    if choice.is_gpu:
        torch.backends.cudnn.benchmark = True
    try:
        net = net.to(memory_format=torch.channels_last)
    except RuntimeError:
        log.debug("model does not support channels_last")
    return net


def infer_windows(reader: TileReader, plan: StripPlan, engine: TileEngine,
                  windows: Sequence[Strip], progress: Progress) -> Iterator[StripOut]:
    """Infer ``windows`` in order (a reader thread prefetches the next one).

    Reports tiles/s, ETA and 0-95 % of ``progress`` over ``windows``; checks for cancel
    between batches.
    """
    g, s, h = plan.grid, engine.scale, plan.grid.halo
    th, tw = g.tile_shape

    def read(win: Strip) -> Tuple[np.ndarray, np.ndarray]:
        span = win.xs[-1] + g.core_w - win.x0
        return reader.read(win.y - h, win.x0 - h, g.core_h + 2 * h, span + 2 * h)

    total = sum(len(w.xs) for w in windows)
    done = 0
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
            sr = np.zeros((3, g.core_h * s, span * s), np.uint8) if plan.cfg.save_sr else None
            todo = []
            skipped = 0
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
                p, srb = engine.predict_tiles(tiles)
                for j, lx in enumerate(lxs):
                    prob[:, lx * s:(lx + g.core_w) * s] = p[j]
                    if sr is not None and srb is not None:
                        sr[:, :, lx * s:(lx + g.core_w) * s] = srb[j]
                done += len(lxs)
                _report(progress, engine, done, total, t_start)
            check_cancelled(progress)
            yield _finish_window(win, prob, sr, valid, plan, s, h, wcols, skipped)


def _report(progress: Progress, engine: TileEngine, done: int, total: int,
            t_start: float) -> None:
    elapsed = time.perf_counter() - t_start
    rate = done / elapsed if elapsed > 0 else 0.0
    report_metrics(progress, tiles_per_s=round(rate, 3), tiles_done=done, tiles_total=total,
                   device=engine.choice.description,
                   eta_s=round((total - done) / rate, 1) if rate > 0 else None)
    progress.set_progress(95.0 * done / total)
    progress.set_status(
        f"tile {done}/{total} · {rate:.2f} tiles/s · ETA "
        f"{format_eta((total - done) / rate) if rate > 0 else '?'} · "
        f"{engine.choice.description}")


def _finish_window(win: Strip, prob: np.ndarray, sr: Optional[np.ndarray], valid: np.ndarray,
                   plan: StripPlan, s: int, h: int, wcols: int, skipped: int) -> StripOut:
    """Keep the rows and columns no earlier window wrote; quantize as written."""
    r0, r1 = win.keep_from * s, win.keep_to * s
    c0 = (win.write_x0 - win.x0) * s
    valid_hr = upsample_mask(
        valid[h + win.keep_from:h + win.keep_to, h + win.write_x0 - win.x0:h + wcols], s)
    prob = prob[r0:r1, c0:wcols * s]
    mask = np.where(valid_hr, (prob >= plan.threshold).astype(np.uint8), np.uint8(255))
    if plan.float_prob:
        pout = np.where(valid_hr, prob, np.float32("nan")).astype(np.float32)
    else:
        # invalid pixels may hold NaN (skipped tiles): 0 there before the cast
        pout = np.rint(np.where(valid_hr, prob, 0.0) * 255.0).astype(np.uint8)
    srw = None
    if sr is not None:
        srw = sr[:, r0:r1, c0:wcols * s]
        srw[:, ~valid_hr] = 0
    return StripOut(row=(win.y + win.keep_from) * s, col=win.write_x0 * s, prob=pout[None],
                    mask=mask[None], sr=srw, tiles=len(win.xs), skipped=skipped)


def write_strips(strips: Iterator[StripOut], outputs: OutputSet, total: int,
                 progress: Progress) -> int:
    """Write every window in the order given; return the number of skipped tiles."""
    done = skipped = 0
    for out in strips:
        check_cancelled(progress)
        valid = out.mask[0] != 255
        if out.prob.dtype == np.uint8:
            outputs.items["prob"].write(out.prob, out.row, out.col, valid)
        else:
            outputs.items["prob"].write(out.prob, out.row, out.col)
        outputs.items["mask"].write(out.mask, out.row, out.col)
        if out.sr is not None:
            outputs.items["sr"].write(out.sr, out.row, out.col, valid)
        done += out.tiles
        skipped += out.skipped
        progress.set_progress(95.0 * done / total)
    return skipped


def blocked_strips(plan: StripPlan, block_map: BlockMap, progress: Progress
                   ) -> Iterator[StripOut]:
    """The windows of ``plan`` inferred in blocks by ``block_map``, yielded in grid order."""
    g = plan.grid
    sizes = [len(w.xs) * g.core_w * (w.keep_to - w.keep_from) for w in plan.windows]
    blocks = group_blocks(sizes, block_map.block_px)
    total = sum(len(w.xs) for w in plan.windows)
    results = block_map(functools.partial(infer_block, plan), blocks)
    done = 0
    t_start = time.perf_counter()
    try:
        for k, outs in enumerate(results):
            for out in outs:
                done += out.tiles
                yield out
            rate = done / max(1e-9, time.perf_counter() - t_start)
            report_metrics(progress, tiles_per_s=round(rate, 3), tiles_done=done,
                           tiles_total=total, eta_s=round((total - done) / rate, 1))
            progress.set_status(f"block {k + 1}/{len(blocks)} · tile {done}/{total} · "
                                f"{rate:.2f} tiles/s · ETA {format_eta((total - done) / rate)}")
    finally:
        close = getattr(results, "close", None)
        if close is not None:  # cancels the blocks still running elsewhere
            close()


def infer_block(plan: StripPlan, span: Tuple[int, int]) -> List[StripOut]:
    """Infer windows ``span`` = [start, stop) of ``plan`` in this process (a block task).

    Opens the raster, applies the same GSD view, reader and engine as :func:`detect`, and
    takes the model from this process's cache (:func:`~..model.cache.cached_model`).
    """
    from ..device import resolve_device, torch_threads
    from ..model.cache import cached_model

    cfg = plan.cfg
    loaded = cached_model(plan.model)
    choice = resolve_device(cfg.device, cfg.precision)
    net = prepare_net(loaded, choice)
    with ExitStack() as stack:
        stack.enter_context(raster_env())
        src = stack.enter_context(open_raster(plan.raster))
        info = describe_raster(src, cfg.bands, cfg.gsd_m)
        ds, _gsd, _f = gsd_view(src, info, getattr(loaded.card, "input_gsd_m", None), cfg,
                                NullProgress(), stack)
        reader = TileReader(ds, cfg.bands, plan.region, plan.norm, plan.collar)
        engine = TileEngine(net, choice, plan.batch, plan.grid, plan.scale, cfg.save_sr,
                            NullProgress())
        if plan.kernel is not None:
            engine.kernel = plan.kernel.to(engine.device)
        with torch_threads(cfg.threads):
            windows = plan.windows[span[0]:span[1]]
            return list(infer_windows(reader, plan, engine, windows, NullProgress()))
