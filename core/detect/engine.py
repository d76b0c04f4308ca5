"""The pure per-tile step of detection: tiles in, probabilities out (no files).

:class:`TileEngine` runs batches of fixed-shape LR tiles (with their halo) through the
network on the chosen device and precision, keeps each tile's core (centre-crop) and backs
off from GPU out-of-memory errors; :func:`estimate_raster_kernel` estimates the one blur
kernel a tile-exact (``kernel_scope="raster"``) model shares across all tiles of a raster.
A batch or distributed engine (``csbsr survey``) calls these directly.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ..errors import DeviceError, InvalidInputError
from ..progress import Progress
from ..raster.tiling import TileGrid, crop_core

log = logging.getLogger(__name__)


def split_output(out: Any) -> Tuple[Any, Any]:
    """(sr, seg_logits) of a model output (JointOutput-like or a (sr, logits) tuple)."""
    if hasattr(out, "seg_logits"):
        return getattr(out, "sr", None), out.seg_logits
    if isinstance(out, (tuple, list)) and len(out) >= 2:
        return out[0], out[1]
    raise InvalidInputError("the model returned neither a JointOutput nor (sr, logits)")


class TileEngine:
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
            sr, logits = split_output(out)
        g = self.grid
        logits = crop_core(logits[:, 0], g.halo, self.scale, g.core_h, g.core_w)
        prob = torch.sigmoid(logits.float()).cpu().numpy()
        sr_u8 = None
        if self.save_sr and sr is not None:
            sr = crop_core(sr.float(), g.halo, self.scale, g.core_h, g.core_w)
            sr_u8 = (sr.clamp(0, 1) * 255.0).round().to(torch.uint8).cpu().numpy()
        return prob, sr_u8

    def predict_tiles(self, tiles: np.ndarray) -> Tuple[np.ndarray, Optional[np.ndarray]]:
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


def kernel_summary(kernel: Any) -> Optional[Dict[str, Any]]:
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

