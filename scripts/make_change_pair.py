"""Build a real re-inspection test pair: two orthophotos of one site, with planted changes.

The site is the 4x4 mosaic of the 16 UAV75 *val* photos used by ``scripts/make_sample.py``
(real drone photos of cracked concrete, taken as 2 mm/px HR; never a training image). The
later flight differs from the earlier one by planted changes drawn into its photo, at HR:

* ``new``: two new cracks (smooth random polylines, 5-7 px = 10-14 mm wide, darkened to
  the colour of the site's real crack cores);
* ``extended``: two real cracks continued from a tip (0.3-0.4 m, the crack's own width and
  colour);
* ``widened``: two real cracks widened by 2 x 4 px = 16 mm (grey erosion around the crack, so
  the new edges are the crack's own dark pixels);
* ``gone``: one real crack painted over as a repair (OpenCV inpainting plus surface noise).

The later flight is also mis-registered like a drone without RTK: its content is moved by a
similarity transform (a few cm shift, a fraction of a degree rotation, a small scale change)
while its georeferencing stays nominal. Both flights are then degraded independently like a
drone orthophoto (``core.degrade`` "realistic": blur, x4 down-scale, exposure, noise, JPEG):
8 mm/px orthophotos of 480 x 480 px over 3.84 m x 3.84 m, EPSG:32633.

Writes into OUT:

* ``site_2021.tif``, ``site_2024.tif``: the two orthophotos (RGB, 8 mm/px);
* ``site_2021_truth.tif``, ``site_2024_truth.tif``: HR (2 mm/px) label rasters on the grid a
  ``csbsr run`` writes (0 background, 1 crack, 2 new crack, 3 extension, 4 widened crack,
  5 crack repaired before the later flight);
* ``truth.json``: the true transform (OLD map -> NEW map), every planted change with its class
  and its centre-line in both map frames, and the parameters;
* with ``--truth-runs``: ``truth_runs/site_2021`` and ``truth_runs/site_2024``, run folders as
  ``csbsr run`` lays them out, built by vectorizing the truth labels with the real vectorizer
  (no neural network): ``csbsr compare OUT/truth_runs/site_2021 OUT/truth_runs/site_2024``.

Usage: ``python scripts/make_change_pair.py OUT [--truth-runs] [--cracks DIR]``; then
``python scripts/make_change_pair.py OUT --evaluate CHANGE_DIR [--figure PNG]`` scores a
comparison (and draws it).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CRACKS = REPO.parent / "shared" / "data" / "cracks"
GRID, TILE = 4, 512  # 4x4 photos of 512 HR px
MARGIN = 64  # HR px cut from each side after the warp (no border fill in either flight)
HR_GSD, SCALE = 0.002, 4
EPSG = 32633
ORIGIN = (601000.0, 5340000.0)  # upper-left corner of the mosaic (fictitious site)
SEED = 20250115
STEMS = ("site_2021", "site_2024")
#: the later flight's mis-registration: shift (m, east/north), rotation (deg, counter-clockwise
#: in map coordinates), scale, about the orthophoto centre
SHIFT_M, ROT_DEG, SCALE_F = (0.031, -0.022), 0.35, 1.0015
LABELS = {"crack": 1, "new": 2, "extended": 3, "widened": 4, "gone": 5}
WIDEN_PX = 4


def _mosaic(cracks: Path) -> Tuple[np.ndarray, np.ndarray, List[str]]:
    """The HR mosaic (H, W, 3) uint8 RGB and its crack mask, as make_sample.py builds it."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_sample", REPO / "scripts" /
                                                  "make_sample.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rows = mod._select(cracks)
    img, mask = mod._mosaic(cracks, rows)
    return img, mask, [r["stem"] for r in rows]


def _skeleton_paths(mask: np.ndarray) -> List[np.ndarray]:
    """Skeleton paths of a mask as (N, 2) arrays of (x, y) continuous HR pixel coords."""
    from skan import Skeleton
    from skimage.morphology import skeletonize

    skel = skeletonize(mask)
    if skel.sum() < 2:
        return []
    sk = Skeleton(skel)
    out = []
    for i in range(sk.n_paths):
        rc = sk.path_coordinates(i)
        if len(rc) >= 2:
            out.append(np.column_stack((rc[:, 1] + 0.5, rc[:, 0] + 0.5)))
    return out


def _line_cover(shape: Tuple[int, int], xy: np.ndarray, width: np.ndarray) -> np.ndarray:
    """Anti-aliased coverage (0-1) of a polyline of varying width (px) on an (H, W) grid."""
    import cv2

    ss = 4  # supersampling
    big = np.zeros((shape[0] * ss, shape[1] * ss), np.uint8)
    pts = xy * ss
    for (a, b), w in zip(zip(pts[:-1], pts[1:]), width[:-1]):
        cv2.line(big, tuple(np.round(a).astype(int)), tuple(np.round(b).astype(int)), 255,
                 thickness=max(1, int(round(w * ss))), lineType=cv2.LINE_8)
    return cv2.resize(big, (shape[1], shape[0]), interpolation=cv2.INTER_AREA) / 255.0


def _walk(rng: np.random.Generator, start: np.ndarray, heading: float, length: float,
          curl: float = 0.03) -> np.ndarray:
    """A smooth random crack path: 2 px steps, heading drift ``curl`` rad per step."""
    n = int(length / 2.0)
    turn = np.cumsum(rng.normal(0.0, curl, n))
    turn = np.convolve(turn, np.ones(9) / 9, mode="same")
    ang = heading + turn
    steps = np.column_stack((np.cos(ang), np.sin(ang))) * 2.0
    jitter = rng.normal(0.0, 0.35, (n, 2))
    return np.vstack((start, start + np.cumsum(steps, axis=0) + jitter))


def _darken(img: np.ndarray, cover: np.ndarray, colour: np.ndarray,
            rng: np.random.Generator) -> None:
    """Blend ``colour`` (RGB) into ``img`` in place with alpha = ``cover``, with some grain."""
    a = cover[:, :, None]
    grain = rng.normal(0.0, 6.0, img.shape[:2])[:, :, None]
    out = img.astype(np.float64) * (1 - a) + (colour[None, None, :] + grain) * a
    img[:] = np.clip(np.round(out), 0, 255).astype(np.uint8)


def _dark_colour(pixels: np.ndarray) -> np.ndarray:
    """The RGB of a crack's core: the mean of its 20 % darkest pixels ((N, 3) -> (3,))."""
    lum = pixels.astype(np.float64).mean(axis=1)
    return pixels[lum <= np.percentile(lum, 20)].astype(np.float64).mean(axis=0)


def _components(mask: np.ndarray, lo: int, hi: int) -> List[Tuple[np.ndarray, List[np.ndarray]]]:
    """Real crack components with a skeleton length in [lo, hi] HR px, well inside the crop."""
    from scipy import ndimage as ndi

    lab, n = ndi.label(ndi.binary_dilation(mask, iterations=2), structure=np.ones((3, 3)))
    out = []
    for i in range(1, n + 1):
        comp = (lab == i) & mask
        rows, cols = np.nonzero(comp)
        inner = MARGIN + 100
        if rows.min() < inner or cols.min() < inner or rows.max() > mask.shape[0] - inner or \
                cols.max() > mask.shape[1] - inner:
            continue
        paths = _skeleton_paths(comp)
        total = sum(float(np.sum(np.hypot(*np.diff(p, axis=0).T))) for p in paths)
        if lo <= total <= hi:
            out.append((comp, paths))
    return out


def plant(img: np.ndarray, mask: np.ndarray, seed: int = SEED
          ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, List[Dict[str, Any]]]:
    """Plant the changes into a copy of the scene.

    Returns:
        (new image, old labels, new labels, changes): labels as :data:`LABELS`; each change has
        ``class`` and ``paths_px`` (its centre-lines as (N, 2) continuous HR scene pixels; for
        ``extended`` the added part only), plus ``widen_mm`` for ``widened``.
    """
    import cv2
    from scipy import ndimage as ndi

    rng = np.random.default_rng(seed)
    new = img.copy()
    old_lab = np.where(mask, LABELS["crack"], 0).astype(np.uint8)
    new_lab = old_lab.copy()
    busy = ndi.binary_dilation(mask, iterations=40)
    crack_rgb = _dark_colour(img[mask])
    changes: List[Dict[str, Any]] = []
    comps = _components(mask, 180, 700)
    # widest components first (the detector sees them); deterministic order
    comps.sort(key=lambda c: -float(np.sum(c[0])) / max(1.0, sum(len(p) for p in c[1])))
    used = np.zeros(mask.shape, bool)

    def take(kind: str, n: int) -> List[Tuple[np.ndarray, List[np.ndarray], Any]]:
        got = []
        for k, (comp, paths) in enumerate(comps):
            if len(got) == n:
                break
            zone = ndi.binary_dilation(comp, iterations=60)
            if (zone & used).any():
                continue
            ext = None
            if kind == "extended":
                ext = _extension(comp, paths, busy | used, seed + 7 * k)
                if ext is None:
                    continue
            used[zone] = True
            got.append((comp, paths, ext))
        if len(got) < n:
            sys.exit(f"make_change_pair: found only {len(got)} cracks to mark {kind}")
        return got

    for comp, paths, _ in take("widened", 2):
        ring = ndi.binary_dilation(comp, iterations=WIDEN_PX) & ~comp
        eroded = cv2.erode(new, cv2.getStructuringElement(
            cv2.MORPH_ELLIPSE, (2 * WIDEN_PX + 3, 2 * WIDEN_PX + 3)))
        new[ring] = eroded[ring]
        new_lab[ring | comp] = LABELS["widened"]
        changes.append({"class": "widened", "paths_px": paths,
                        "widen_mm": 2 * WIDEN_PX * HR_GSD * 1000})
    for comp, paths, _ in take("gone", 1):
        zone = ndi.binary_dilation(comp, iterations=4)
        filled = cv2.inpaint(new, zone.astype(np.uint8) * 255, 6, cv2.INPAINT_TELEA)
        ring = ndi.binary_dilation(zone, iterations=8) & ~zone
        std = img[ring].astype(np.float64).std(axis=0).mean() * 0.6
        noise = ndi.gaussian_filter(rng.normal(0, 1, mask.shape), 0.8)
        noise *= std / max(noise.std(), 1e-9)
        patch = filled.astype(np.float64) + noise[:, :, None]
        new[zone] = np.clip(np.round(patch[zone]), 0, 255).astype(np.uint8)
        old_lab[comp] = LABELS["gone"]
        new_lab[comp] = 0
        changes.append({"class": "gone", "paths_px": paths})
    for comp, _paths, (xy, width) in take("extended", 2):
        cover = _line_cover(mask.shape, xy, width)
        colour = _dark_colour(img[comp])
        _darken(new, cover, colour, rng)
        new_lab[(cover >= 0.5) & (new_lab == 0)] = LABELS["extended"]
        busy |= ndi.binary_dilation(cover > 0, iterations=40)
        changes.append({"class": "extended", "paths_px": [xy]})
    n_new, tries = 0, 0
    while n_new < 2 and tries < 500:
        tries += 1
        start = rng.uniform(MARGIN + 150, mask.shape[0] - MARGIN - 150, 2)
        xy = _walk(rng, start, rng.uniform(0, 2 * math.pi), rng.uniform(320, 440))
        ij = np.round(xy[:, ::-1] - 0.5).astype(int)
        if ij.min() < MARGIN + 80 or ij.max() >= mask.shape[0] - MARGIN - 80:
            continue
        if busy[ij[:, 0], ij[:, 1]].any() or used[ij[:, 0], ij[:, 1]].any():
            continue
        width = np.clip(6.0 + np.convolve(rng.normal(0, 0.8, len(xy)), np.ones(15) / 15,
                                          mode="same"), 5.0, 7.0)
        cover = _line_cover(mask.shape, xy, width)
        _darken(new, cover, crack_rgb, rng)
        new_lab[(cover >= 0.5) & (new_lab == 0)] = LABELS["new"]
        busy |= ndi.binary_dilation(cover > 0, iterations=40)
        changes.append({"class": "new", "paths_px": [xy]})
        n_new += 1
    return new, old_lab, new_lab, changes


def _extension(comp: np.ndarray, paths: List[np.ndarray], busy: np.ndarray, seed: int
               ) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """A continuation from a free tip of the component that runs through empty surface:
    ((N, 2) path in continuous HR px starting at the tip, (N,) width in px), or None."""
    import cv2
    from scipy import ndimage as ndi

    rng = np.random.default_rng(seed)
    edt = cv2.distanceTransform(comp.astype(np.uint8), cv2.DIST_L2, 5)
    allpts = np.vstack(paths)
    ij = np.round(allpts[:, ::-1] - 0.5).astype(int)
    width = float(max(3.0, 2.0 * np.median(edt[ij[:, 0], ij[:, 1]])))
    blocked = busy & ~ndi.binary_dilation(comp, iterations=45)
    inner = MARGIN + 80
    for p in sorted(paths, key=len, reverse=True):
        for end, prev in ((p[-1], p[max(0, len(p) - 16)]), (p[0], p[min(len(p) - 1, 15)])):
            if np.sum(np.linalg.norm(allpts - end, axis=1) < 6) > 12:  # a junction
                continue
            d = end - prev
            xy = _walk(rng, end, math.atan2(d[1], d[0]), float(rng.uniform(150, 200)),
                       curl=0.015)
            ij2 = np.round(xy[:, ::-1] - 0.5).astype(int)
            if ij2.min() < inner or ij2.max() >= comp.shape[0] - inner:
                continue
            if blocked[ij2[:, 0], ij2[:, 1]].any():
                continue
            # it must leave its own crack, not run back along it
            if comp[ij2[15:, 0], ij2[15:, 1]].any():
                continue
            return xy, np.full(len(xy), width)
    return None


def true_transform(size_m: float, origin: Tuple[float, float]) -> np.ndarray:
    """The 3x3 OLD map -> NEW map similarity (rotation and scale about the ortho centre)."""
    c = np.array([origin[0] + size_m / 2, origin[1] - size_m / 2])
    th = math.radians(ROT_DEG)
    rs = SCALE_F * np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
    m = np.eye(3)
    m[:2, :2] = rs
    m[:2, 2] = c + np.array(SHIFT_M) - rs @ c
    return m


def _degrade(img: np.ndarray, seed: int) -> np.ndarray:
    import torch
    from csbsr.core.train.degrade import degrade

    hr = torch.from_numpy(img.transpose(2, 0, 1).astype(np.float32) / 255.0)[None]
    out = degrade(hr, np.random.default_rng(seed), protocol="realistic", scale=SCALE)
    return (out.lr[0].clamp(0, 1) * 255.0).round().to(torch.uint8).numpy()


def _write_tif(path: Path, arr: np.ndarray, transform: Any, rgb: bool) -> None:
    import rasterio

    data = arr if arr.ndim == 3 else arr[None]
    opts = {"photometric": "RGB"} if rgb else {}
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[2], height=data.shape[1],
                       count=data.shape[0], dtype="uint8", crs=f"EPSG:{EPSG}",
                       transform=transform, tiled=True, blockxsize=256, blockysize=256,
                       compress="deflate", predictor=2, **opts) as dst:
        dst.write(data)


def build(out: Path, cracks: Path = DEFAULT_CRACKS) -> Dict[str, Any]:
    """Build the pair into ``out``; return the ground truth (also written as truth.json)."""
    import cv2
    from affine import Affine
    from shapely.geometry import LineString, MultiLineString

    img, mask, photos = _mosaic(cracks)
    new_scene, old_lab, new_lab, changes = plant(img, mask)
    n = img.shape[0] - 2 * MARGIN
    origin = (ORIGIN[0] + MARGIN * HR_GSD, ORIGIN[1] - MARGIN * HR_GSD)
    t_hr = Affine(HR_GSD, 0, origin[0], 0, -HR_GSD, origin[1])
    t_lr = Affine(HR_GSD * SCALE, 0, origin[0], 0, -HR_GSD * SCALE, origin[1])
    size_m = n * HR_GSD
    tm = true_transform(size_m, origin)
    # NEW crop pixel (cv2 coords) -> map -> T^-1 -> scene pixel (cv2 coords)
    crop2map = np.array([[HR_GSD, 0, origin[0] + 0.5 * HR_GSD],
                         [0, -HR_GSD, origin[1] - 0.5 * HR_GSD], [0, 0, 1]])
    scene2map = np.array([[HR_GSD, 0, ORIGIN[0] + 0.5 * HR_GSD],
                          [0, -HR_GSD, ORIGIN[1] - 0.5 * HR_GSD], [0, 0, 1]])
    inv = np.linalg.inv(scene2map) @ np.linalg.inv(tm) @ crop2map
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    new_hr = cv2.warpAffine(new_scene, inv[:2], (n, n), flags=flags)
    new_labels = np.zeros((n, n), np.uint8)
    for v in np.unique(new_lab[new_lab > 0]):
        w = cv2.warpAffine((new_lab == v).astype(np.float32), inv[:2], (n, n), flags=flags)
        new_labels[(w >= 0.5) & (new_labels == 0)] = v
    old_hr = img[MARGIN:MARGIN + n, MARGIN:MARGIN + n]
    old_labels = old_lab[MARGIN:MARGIN + n, MARGIN:MARGIN + n]
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for stem, hr, lab, seed in ((STEMS[0], old_hr, old_labels, SEED + 1),
                                (STEMS[1], new_hr, new_labels, SEED + 2)):
        paths[stem] = out / f"{stem}.tif"
        _write_tif(paths[stem], _degrade(np.ascontiguousarray(hr), seed), t_lr, rgb=True)
        _write_tif(out / f"{stem}_truth.tif", lab, t_hr, rgb=False)
    planted = []
    for i, ch in enumerate(changes):
        old_lines, new_lines = [], []
        for xy in ch["paths_px"]:
            h = np.column_stack((xy - 0.5, np.ones(len(xy))))
            xy_old = (scene2map @ h.T).T
            old_lines.append(LineString(xy_old[:, :2]))
            new_lines.append(LineString((tm @ xy_old.T).T[:, :2]))
        new_geom = MultiLineString(new_lines)
        item = {"id": i + 1, "class": ch["class"], "new_wkt": new_geom.wkt,
                "old_wkt": MultiLineString(old_lines).wkt if ch["class"] in ("widened", "gone")
                else None, "length_m": float(new_geom.length)}
        if "widen_mm" in ch:
            item["widen_mm"] = ch["widen_mm"]
        planted.append(item)
    truth = {
        "crs": f"EPSG:{EPSG}", "old": str(paths[STEMS[0]]), "new": str(paths[STEMS[1]]),
        "ortho_gsd_m": HR_GSD * SCALE, "hr_gsd_m": HR_GSD, "size_m": size_m,
        "transform_old_to_new": tm[:2].tolist(),
        "shift_m_at_centre": list(SHIFT_M), "rotation_deg": ROT_DEG, "scale": SCALE_F,
        "labels": LABELS, "photos": photos, "seed": SEED, "changes": planted,
    }
    (out / "truth.json").write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")
    return truth


def truth_run(ortho: Path, labels: Path, out_dir: Path) -> Path:
    """A run folder for ``ortho`` built by vectorizing its truth labels (no neural network).

    Writes ``<stem>_cracks.gpkg``, ``<stem>_summary.json``, ``<stem>_mask.tif`` and a
    ``<stem>_run.json`` recording the orthophoto and the output grid, as ``csbsr run`` does.
    """
    import rasterio
    from csbsr.core.layout import RunLayout
    from csbsr.core.vectorize.api import vectorize_array
    from csbsr.core.vectorize.export import write_network, write_summary_json

    layout = RunLayout.for_input(ortho, out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with rasterio.open(labels) as src:
        lab = src.read(1)
        transform, crs = src.transform, src.crs
    with rasterio.open(ortho) as src:
        in_gsd = [abs(src.transform.a), abs(src.transform.e)]
        in_size = (src.width, src.height)
    mask = (lab > 0).astype(np.uint8)
    net = vectorize_array(mask, transform, crs, model_name="truth")
    write_network(net, layout.path("cracks"), overwrite=True)
    write_summary_json(net, layout.path("summary"), overwrite=True)
    _write_tif(layout.path("mask"), mask, transform, rgb=False)
    run = {"software": "csbsr", "command": "truth (make_change_pair.py)",
           "input": {"path": str(Path(ortho).resolve()), "width": in_size[0],
                     "height": in_size[1], "gsd_m": in_gsd, "epsg": EPSG},
           "output_grid": {"width": lab.shape[1], "height": lab.shape[0], "gsd_m": HR_GSD,
                           "transform": list(transform)[:6], "crs_wkt": crs.to_wkt()}}
    layout.path("run").write_text(json.dumps(run, indent=2) + "\n", encoding="utf-8")
    return out_dir


def evaluate(change_gpkg: Path, truth: Dict[str, Any], near_m: float = 0.03,
             exclude_m: float = 0.05) -> Dict[str, Any]:
    """Score a ``crack_change`` layer against the planted truth.

    * each planted change: the fraction of its centre-line (NEW map frame; the added part for
      ``extended``) lying within ``near_m`` of features of its class (``found`` >= 0.5);
    * unchanged cracks: of every feature of a real, untouched crack (farther than
      ``exclude_m`` from every planted change: NEW lines and OLD gone/lost pieces), the share
      of length classed ``unchanged``.
    """
    import pyogrio.raw
    import shapely
    from shapely import wkt

    meta, _f, wkb, cols = pyogrio.raw.read(str(change_gpkg), layer="crack_change")
    names = list(meta["fields"])
    geoms = shapely.from_wkb(wkb)
    rows = [{n: c[i] for n, c in zip(names, cols)} for i in range(len(geoms))]
    changes = []
    planted = []
    for ch in truth["changes"]:
        g = wkt.loads(ch["new_wkt"])
        planted.append(g)
        mine = [geoms[i] for i, r in enumerate(rows) if r["change"] == ch["class"]]
        zone = shapely.union_all(shapely.buffer(np.array(mine, dtype=object), near_m)) \
            if mine else None
        frac = float(g.intersection(zone).length / g.length) if zone is not None else 0.0
        got = {}
        for i, r in enumerate(rows):
            if r["part"] == "line" and geoms[i].distance(g) <= near_m:
                got[r["change"]] = got.get(r["change"], 0.0) + float(geoms[i].length)
        changes.append({"id": ch["id"], "class": ch["class"], "length_m": ch["length_m"],
                        "found_fraction": frac, "found": frac >= 0.5,
                        "classes_nearby_m": got})
    exclusion = shapely.union_all([g.buffer(exclude_m) for g in planted])
    by: Dict[str, float] = {}
    for i, r in enumerate(rows):
        if r["part"] == "added" or geoms[i].intersects(exclusion):
            continue
        by[r["change"]] = by.get(r["change"], 0.0) + float(geoms[i].length)
    total = sum(by.values())
    return {"changes": changes, "all_found": all(c["found"] for c in changes),
            "unchanged_len_by_class_m": by,
            "unchanged_share": by.get("unchanged", 0.0) / total if total > 0 else None}


def figure(out: Path, change_dir: Path, png: Path) -> Path:
    """Three panels: the earlier and the later orthophoto, and the change classes over the
    later one (the figure of ``docs/reinspection.md``)."""
    import pyogrio.raw
    import rasterio
    import shapely
    from csbsr.core.compare.schema import CLASSES, COLOURS, LABELS
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    meta, _f, wkb, cols = pyogrio.raw.read(str(change_dir / "change.gpkg"),
                                           layer="crack_change")
    names = list(meta["fields"])
    geoms = shapely.from_wkb(wkb)
    change, part = cols[names.index("change")], cols[names.index("part")]
    fig = Figure(figsize=(15, 5.6), dpi=72)
    FigureCanvasAgg(fig)
    for k, (stem, title) in enumerate(((STEMS[0], "earlier flight (OLD)"),
                                       (STEMS[1], "later flight (NEW): shifted, rotated, "
                                        "with planted changes"), (STEMS[1], "crack_change"))):
        ax = fig.add_axes([k / 3 + 0.003, 0.08, 1 / 3 - 0.006, 0.86])
        with rasterio.open(out / f"{stem}.tif") as src:
            img, b = src.read().transpose(1, 2, 0), src.bounds
        ax.imshow(img, extent=(b.left, b.right, b.bottom, b.top), alpha=0.8 if k == 2 else 1)
        ax.set_title(title, fontsize=11)
        ax.set_xticks([])
        ax.set_yticks([])
        if k < 2:
            continue
        for c in CLASSES:
            for pt, lw in (("line", 1.3), ("lost", 1.3), ("added", 3.0)):
                segs = [np.asarray(g.coords) for g, ch, pp in zip(geoms, change, part)
                        if ch == c and pp == pt]
                if segs:
                    ax.add_collection(LineCollection(segs, colors=COLOURS[c], linewidths=lw,
                                                     linestyles="--" if c == "gone" else "-"))
        ax.set_xlim(b.left, b.right)
        ax.set_ylim(b.bottom, b.top)
    handles = [Line2D([], [], color=COLOURS[c], lw=2.5, ls="--" if c == "gone" else "-",
                      label=LABELS[c]) for c in CLASSES]
    fig.legend(handles=handles, loc="lower center", ncol=5, fontsize=10, frameon=False)
    fig.savefig(str(png), format="png")
    return png


def main(argv: Optional[List[str]] = None) -> int:
    """Build the pair (and optionally the truth runs); return 0."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path, help="output folder")
    ap.add_argument("--cracks", type=Path, default=DEFAULT_CRACKS,
                    help="the shared crack data (manifest.tsv)")
    ap.add_argument("--truth-runs", action="store_true",
                    help="also write run folders vectorized from the truth labels")
    ap.add_argument("--evaluate", type=Path, default=None, metavar="CHANGE_DIR",
                    help="only score the comparison in CHANGE_DIR against OUT/truth.json")
    ap.add_argument("--figure", type=Path, default=None, metavar="PNG",
                    help="with --evaluate: also draw the pair and its change classes")
    args = ap.parse_args(argv)
    if args.evaluate is not None:
        truth = json.loads((args.out / "truth.json").read_text(encoding="utf-8"))
        print(json.dumps(evaluate(args.evaluate / "change.gpkg", truth), indent=2))
        if args.figure is not None:
            print(f"figure: {figure(args.out, args.evaluate, args.figure)}")
        return 0
    if not (args.cracks / "manifest.tsv").exists():
        sys.exit(f"make_change_pair: {args.cracks}/manifest.tsv not found: pass --cracks")
    truth = build(args.out, args.cracks)
    counts: Dict[str, int] = {}
    for ch in truth["changes"]:
        counts[ch["class"]] = counts.get(ch["class"], 0) + 1
    print(f"wrote {args.out}: {', '.join(f'{v} {k}' for k, v in sorted(counts.items()))}")
    if args.truth_runs:
        for stem in STEMS:
            d = truth_run(args.out / f"{stem}.tif", args.out / f"{stem}_truth.tif",
                          args.out / "truth_runs" / stem)
            print(f"truth run: {d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
