"""The one tiler: tile geometry for inference and vectorization, and centre-crop stitching.

A region of ``width x height`` pixels is covered by cores of ``core_w x core_h`` pixels (the
tile size, or the region size when it is smaller). Each core is processed with a halo of
``halo`` pixels on every side, and only the core's output is kept: for an operator whose
reach is at most ``halo`` (a translation-equivariant network's receptive field radius; the
vectorizer's window margin), the stitched output equals a whole-region run. The last core of
a row or column is shifted back to end at the region edge, so every tile has the same shape
(fixed-shape batches); the part it shares with the previous core is kept only once.

Windows are ``rasterio.windows.Window`` (column offset, row offset, width, height) in region
pixels. Inference (``core.detect``) groups the tiles of a core row into strips
(:meth:`TileGrid.windows`); vectorization (``core.vectorize``) walks :meth:`TileGrid.tiles`.

A huge raster may be processed in **blocks**: runs of consecutive strips (detection) or tiles
(vectorization) of the same grid, given to a :class:`BlockMap` that may run them elsewhere
(``csbsr survey`` runs them on Dask workers). Each block reads exactly the windows the
sequential loop reads and the results are consumed in grid order, so a blocked run equals
the sequential one (see :func:`group_blocks`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator, List, Protocol, Sequence, Tuple

import numpy as np
from rasterio.windows import Window

from ..errors import ConfigError


def _starts(length: int, core: int, align: int = 1) -> List[int]:
    """Core offsets covering [0, length): multiples of ``core``, then a last one shifted back
    to end at ``length`` and rounded *up* to a multiple of ``align`` (it may overhang the
    end by less than ``align`` pixels; the overhang is read but never written)."""
    starts = list(range(0, length - core + 1, core))
    if starts[-1] + core < length:
        last = -(-(length - core) // align) * align
        if last > starts[-1]:
            starts.append(last)
    return starts


@dataclass(frozen=True)
class TileGrid:
    """Cores covering a ``width x height`` region (LR pixels).

    Attributes:
        width, height: region size.
        core_w, core_h: core size (<= tile size, <= region size).
        halo: context added on each side of a core.
        xs, ys: column and row offsets of the cores, in region pixels.
    """

    width: int
    height: int
    core_w: int
    core_h: int
    halo: int
    xs: Tuple[int, ...]
    ys: Tuple[int, ...]

    @property
    def n_tiles(self) -> int:
        """Number of tiles."""
        return len(self.xs) * len(self.ys)

    @property
    def tile_shape(self) -> Tuple[int, int]:
        """(h, w) of every model input tile, halo included."""
        return self.core_h + 2 * self.halo, self.core_w + 2 * self.halo

    @property
    def overhead(self) -> float:
        """Computed pixels per kept pixel (halo and shifted-edge overlap included)."""
        th, tw = self.tile_shape
        return self.n_tiles * th * tw / float(self.width * self.height)

    def tiles(self) -> Iterator[Tile]:
        """Every tile, row-major: its kept core (disjoint, together covering the region) and
        its read window (core plus halo; it may extend past the region)."""
        done_y = 0
        for i, y in enumerate(self.ys):
            keep_y = max(y, done_y)
            y1 = min(y + self.core_h, self.height)
            done_x = 0
            for j, x in enumerate(self.xs):
                keep_x = max(x, done_x)
                x1 = min(x + self.core_w, self.width)
                yield Tile(i, j, Window(keep_x, keep_y, x1 - keep_x, y1 - keep_y),
                           Window(x - self.halo, y - self.halo, self.core_w + 2 * self.halo,
                                  self.core_h + 2 * self.halo))
                done_x = x1
            done_y = y1

    def strips(self) -> Iterator[Tuple[int, int, int]]:
        """Yield (y, keep_from, keep_to) per row of cores.

        ``y`` is the core row offset; rows [keep_from, keep_to) of the core (relative to
        ``y``) are new output: a shifted last row overlaps the previous one, and only its
        new rows are written, so every output row is written exactly once.
        """
        done = 0
        for y in self.ys:
            keep_from = max(0, done - y)
            yield y, keep_from, min(self.core_h, self.height - y)
            done = y + self.core_h


    def windows(self, max_cols: int = 2048) -> Iterator[Strip]:
        """Yield the processing windows: one row of cores, at most ``max_cols`` wide.

        Every output pixel is written by exactly one window (``keep_*`` bounds), so memory
        depends on the tile size and ``max_cols``, not on the raster size.
        """
        per = max(1, max_cols // self.core_w)
        for y, keep_from, keep_to in self.strips():
            done_x = 0
            for i in range(0, len(self.xs), per):
                xs = self.xs[i:i + per]
                x0, x1 = xs[0], min(xs[-1] + self.core_w, self.width)
                yield Strip(y=y, keep_from=keep_from, keep_to=keep_to, x0=x0, x1=x1,
                            xs=xs, write_x0=max(x0, done_x))
                done_x = x1


@dataclass(frozen=True)
class Tile:
    """One tile of a :class:`TileGrid`.

    Attributes:
        row, col: index of the tile in the grid.
        core: the pixels whose output this tile keeps (region pixels; disjoint cores).
        read: the pixels the tile needs: its full core plus the halo on every side.
    """

    row: int
    col: int
    core: Window
    read: Window


@dataclass(frozen=True)
class Strip:
    """A group of tiles: cores ``xs`` of the core row at ``y`` (region pixels), processed
    and written together (inference reads and writes one strip at a time).

    Attributes:
        y: core row offset; rows [y + keep_from, y + keep_to) are written.
        x0, x1: columns covered by the cores; columns [write_x0, x1) are written.
        xs: column offsets of the window's cores.
    """

    y: int
    keep_from: int
    keep_to: int
    x0: int
    x1: int
    xs: Tuple[int, ...]
    write_x0: int


def plan_tiles(width: int, height: int, tile_px: int, halo: int, align: int = 1) -> TileGrid:
    """Plan the cores of a region.

    Args:
        width, height: region size in LR pixels (>= 1).
        tile_px: requested core side in LR pixels.
        halo: context on each side in LR pixels (>= 0).
        align: every core offset is a multiple of this (LR px): a network that down-samples
            by a total stride S at scale s sees the same stride grid in every tile, as in a
            whole-image run, when offsets are multiples of S / s.

    Raises:
        ConfigError: on non-positive sizes.
    """
    if width < 1 or height < 1 or tile_px < 1 or halo < 0 or align < 1:
        raise ConfigError(f"bad tiling: region {width}x{height}, tile {tile_px}, halo {halo}, "
                          f"align {align}")

    def core(length: int) -> int:
        if tile_px >= length:
            return length
        return max(align, tile_px - tile_px % align)

    cw, ch = core(width), core(height)
    return TileGrid(width=width, height=height, core_w=cw, core_h=ch, halo=halo,
                    xs=tuple(_starts(width, cw, align)), ys=tuple(_starts(height, ch, align)))


def fill_invalid(data: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Replace invalid pixels of ``data`` (C, H, W) by their nearest valid pixel.

    Keeps the network from seeing nodata values (black collars, 0 or 65535 fill) as image
    content: extending the image smoothly leaves no artificial edge at the nodata border
    (a constant fill would draw one, and an edge looks like a crack). Returns ``data`` itself
    when every pixel is valid; mid-grey (0.5) when none is.
    """
    from scipy import ndimage

    if valid.all():
        return data
    if not valid.any():
        return np.full_like(data, 0.5)
    idx = ndimage.distance_transform_edt(~valid, return_distances=False, return_indices=True)
    return data[:, idx[0], idx[1]]


def upsample_mask(valid: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour upsample a (H, W) bool mask by an integer ``scale``."""
    return np.repeat(np.repeat(valid, scale, axis=0), scale, axis=1)


def crop_core(hr: Any, halo: int, scale: int, core_h: int, core_w: int) -> Any:
    """Keep the core of an HR tile (..., (core_h+2*halo)*scale, (core_w+2*halo)*scale): a numpy
    array or a torch tensor, sliced the same way."""
    o = halo * scale
    return hr[..., o:o + core_h * scale, o:o + core_w * scale]


class BlockMap(Protocol):
    """Runs the blocks of one raster, possibly in other processes or on other machines.

    Attributes:
        block_px: target size of a block, in pixels of the grid being processed (LR input
            pixels for detection, probability-raster pixels for vectorization).
    """

    block_px: int

    def __call__(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Any]:
        """Yield ``fn(item)`` for every item, in the order of ``items``; ``fn`` and the items
        are picklable (a module-level function or a ``functools.partial`` of one)."""


class LocalBlockMap:
    """A :class:`BlockMap` that runs every block here, in order (the reference for tests)."""

    def __init__(self, block_px: int) -> None:
        self.block_px = int(block_px)

    def __call__(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Any]:
        """Apply the map / read the window (see the class docstring)."""
        for item in items:
            yield fn(item)


def group_blocks(sizes: Sequence[int], block_px: int) -> List[Tuple[int, int]]:
    """Cut a sequence of work units into blocks of consecutive units.

    Args:
        sizes: the pixels of each unit (a strip or a tile), in grid order.
        block_px: target pixels per block (>= 1); a block holds at least one unit.

    Returns:
        [start, stop) index ranges covering ``range(len(sizes))`` in order.
    """
    blocks: List[Tuple[int, int]] = []
    start, acc = 0, 0
    for i, n in enumerate(sizes):
        acc += int(n)
        if acc >= block_px:
            blocks.append((start, i + 1))
            start, acc = i + 1, 0
    if start < len(sizes):
        blocks.append((start, len(sizes)))
    return blocks
