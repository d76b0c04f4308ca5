"""Evaluation as a field engineer meets the product: crack *lines* after vectorization.

Pixel metrics (:mod:`.metrics`) judge the probability map; an inspector judges the measured
centre-lines the product draws. For every image of a split (degraded once, fixed seed, run
whole through the model, vectorized with the product's post-processing) this module measures:

* **recall within 2 cm**: length of the ground-truth centre-lines (the same vectorizer on the
  ground-truth mask) that lies within ``tol_m`` of a detected line, over the ground-truth
  length; **precision within 2 cm**: detected length within ``tol_m`` of a ground-truth line,
  over the detected length (the buffer method of road-extraction evaluation; what
  ``scripts/demo_check.py`` reports for the demo);
* **false-positive density** (m/m²): detected length farther than ``clear_m`` from any
  labelled crack (or unlabelled area), per m² of that crack-free surface. Unlabelled real
  cracks count against the model, so this is an upper bound.

Images are taken at the nominal GSD of the training data (HR 2 mm/px, the model's LR input
8 mm/px) and grouped by content type (concrete, asphalt, masonry, mixed).
:func:`evaluate_scenes` does the same on crack-free orthophoto scenes (the held-out part of
the shared orthophotos, :mod:`.negatives`), read as model-resolution input: every line there
is a false positive.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..progress import NullProgress, Progress, check_cancelled

if TYPE_CHECKING:  # pragma: no cover
    from .degrade import Camera

HR_GSD_M = 0.002
TOL_M = 0.02
CLEAR_M = 0.032
PathLike = Union[str, Path]


def content_type(dataset: str, surface: str) -> str:
    """"concrete", "asphalt", "masonry" or "mixed" from a manifest row's set and surface."""
    s = surface.lower()
    if dataset == "masonry":
        return "masonry"
    if dataset == "deepcrack":
        return "mixed"
    if dataset in ("crack500", "paveseg") or "asphalt" in s:
        return "asphalt"
    return "concrete"


@dataclass
class FieldTotals:
    """Summed lengths (m) and areas (m²) of a group of images."""

    n_images: int = 0
    gt_len_m: float = 0.0
    det_len_m: float = 0.0
    gt_found_m: float = 0.0
    det_true_m: float = 0.0
    fp_len_m: float = 0.0
    free_area_m2: float = 0.0

    def add(self, other: FieldTotals) -> None:
        """Accumulate ``other``."""
        for f in dataclasses.fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> Dict[str, Any]:
        """Totals plus recall, precision, F1 (2 cm) and the false-positive density."""
        r = self.gt_found_m / self.gt_len_m if self.gt_len_m > 0 else None
        p = self.det_true_m / self.det_len_m if self.det_len_m > 0 else None
        f = 2 * r * p / (r + p) if r and p else (0.0 if r is not None and p is not None else None)
        fp = self.fp_len_m / self.free_area_m2 if self.free_area_m2 > 0 else None
        return {**dataclasses.asdict(self), "recall_2cm": r, "precision_2cm": p, "f1_2cm": f,
                "fp_m_per_m2": fp}


def _lines(prob: np.ndarray, cfg: Any) -> Any:
    """Detected centre-lines of an HR probability/mask map, in HR pixel units (shapely)."""
    import shapely
    from affine import Affine

    from ..vectorize.api import vectorize_array

    net = vectorize_array(prob, Affine(HR_GSD_M, 0, 0, 0, -HR_GSD_M, 0), "EPSG:32633", cfg)
    geoms = [s.geometry for s in net.segments]
    if not geoms:
        return shapely.MultiLineString()
    lines = shapely.union_all(np.array(geoms, dtype=object))
    return shapely.transform(lines, lambda xy: xy * np.array([1.0, -1.0]) / HR_GSD_M)


def image_totals(prob: np.ndarray, gt: np.ndarray, unlabelled: Optional[np.ndarray],
                 cfg: Any, gt_cfg: Any) -> FieldTotals:
    """Field totals of one image: HR probability (H, W) in [0, 1], GT mask (H, W) bool,
    optional unlabelled area (H, W) bool; ``cfg`` vectorizes detections, ``gt_cfg`` the GT."""
    import shapely
    from scipy import ndimage

    px = HR_GSD_M
    det = _lines(prob, cfg)
    truth = _lines(gt.astype(np.uint8), gt_cfg) if gt.any() else shapely.MultiLineString()
    tol = TOL_M / px
    t = FieldTotals(n_images=1)
    t.det_len_m = float(det.length) * px
    t.gt_len_m = float(truth.length) * px
    if not truth.is_empty and not det.is_empty:
        t.gt_found_m = float(truth.intersection(det.buffer(tol)).length) * px
        t.det_true_m = float(det.intersection(truth.buffer(tol)).length) * px
    labelled = gt if unlabelled is None else (gt | unlabelled)
    far = ndimage.distance_transform_edt(~labelled) > CLEAR_M / px if labelled.any() \
        else np.ones(gt.shape, bool)
    t.free_area_m2 = float(far.sum()) * px * px
    if not det.is_empty and far.any():
        # sample the detected lines every half pixel; count the samples in the free area
        pts = [shapely.line_interpolate_point(g, np.arange(0.0, g.length, 0.5))
               for g in shapely.get_parts(det) if g.length > 0]
        if pts:
            xy = shapely.get_coordinates(np.concatenate(pts))
            r = np.clip(xy[:, 1].astype(int), 0, gt.shape[0] - 1)
            c = np.clip(xy[:, 0].astype(int), 0, gt.shape[1] - 1)
            t.fp_len_m = float(np.count_nonzero(far[r, c])) * 0.5 * px
    return t


def field_configs(threshold: float, vectorize: Any = None,
                  seed: Optional[float] = None) -> Tuple[Any, Any]:
    """(detection cfg, ground-truth cfg): the product's post-processing for detections
    (``seed``: its hysteresis seed, None = the one of ``vectorize``); for the ground truth
    every labelled crack is kept (no length, shape or seed filter)."""
    from ..vectorize.config import VectorizeConfig

    base = vectorize or VectorizeConfig()
    det = dataclasses.replace(base, threshold=threshold,
                              seed_threshold=seed if seed is not None else base.seed_threshold)
    gt = VectorizeConfig(threshold=0.5, min_area_px=1, min_length_px=0.0,
                         min_crack_length_m=0.0, min_elongation=0.0)
    return det, gt


#: one post-processing candidate: (threshold, hysteresis seed or None)
Candidate = Tuple[float, Optional[float]]


def candidate_key(c: Candidate) -> str:
    """"0.8" or "0.8/0.98": the key of a candidate in ``by_threshold`` results."""
    t, seed = c
    return f"{float(t):g}" if seed is None else f"{float(t):g}/{float(seed):g}"


def candidate_grid(thresholds: Sequence[float], seeds: Sequence[Optional[float]]
                   ) -> List[Candidate]:
    """Every (threshold, seed) with seed None or above the threshold."""
    return [(float(t), None if s is None else float(s)) for t in thresholds for s in seeds
            if s is None or float(s) > float(t)]


def card_candidate(card: Any) -> Candidate:
    """The model card's (recommended_threshold, recommended_seed_threshold)."""
    seed = getattr(card, "recommended_seed_threshold", None)
    return float(card.recommended_threshold), None if seed is None else float(seed)


def evaluate_field(model_path: Optional[PathLike], manifests: Sequence[PathLike],
                   split: str = "val", degradation: str = "realistic", seed: int = 5,
                   threshold: Optional[float] = None, vectorize: Any = None,
                   limit: Optional[int] = None, device: str = "auto",
                   progress: Optional[Progress] = None,
                   thresholds: Optional[Sequence[Union[float, Candidate]]] = None,
                   exclude: Optional[int] = None, datasets: Optional[Sequence[str]] = None,
                   camera: Optional[Camera] = None) -> Dict[str, Any]:
    """Field metrics of a model on a split, per data set, per content type and in total.

    Args:
        model_path: the model (None = the shipped default).
        manifests: manifest TSVs.
        split: ``recommended_role`` to evaluate.
        degradation: "realistic" (default: what a field camera gives) or "paper".
        seed: seed of the fixed degraded set.
        threshold: detection threshold (None = the model card's threshold and hysteresis
            seed).
        vectorize: post-processing (:class:`VectorizeConfig`; its threshold is replaced).
        limit: a stratified subset of this many images.
        device: see :func:`core.device.resolve_device`.
        thresholds: evaluate these thresholds or (threshold, seed) candidates (one
            inference per image); the result then holds
            ``{"by_threshold": {candidate_key: <result of one candidate>}}``.
        exclude: leave out the stratified subset of this many images (the calibration
            images of ``scripts/train_default.py``): figures on images nothing was chosen on.
        datasets: only these data sets of the split (None = all).
        camera: the sensor part of the realistic degradation (:class:`.degrade.Camera`;
            None = the protocol's own); recorded in the result.

    Returns:
        ``{"total": {...}, "by_dataset": {...}, "by_content": {...}, "threshold": t, ...}``
        with :meth:`FieldTotals.as_dict` entries.
    """
    import torch

    from ..device import autocast, resolve_device
    from ..model.card import load_model
    from .data import fixed_eval_items, load_samples, read_manifests, subset_rows

    progress = progress or NullProgress()
    choice = resolve_device(device, "auto")
    loaded = load_model(model_path, device=choice.torch_device)
    ts = _candidates(loaded.card, threshold, thresholds)
    cfgs = {x: field_configs(x[0], vectorize, x[1]) for x in ts}
    rows = subset_rows(read_manifests(list(manifests), [split]), limit)
    if exclude:
        left_out = {(r.dataset, r.stem) for r in subset_rows(rows, exclude)}
        rows = [r for r in rows if (r.dataset, r.stem) not in left_out]
    if datasets is not None:
        rows = [r for r in rows if r.dataset in set(datasets)]
    by_ds: Dict[Candidate, Dict[str, FieldTotals]] = {x: {} for x in ts}
    by_ct: Dict[Candidate, Dict[str, FieldTotals]] = {x: {} for x in ts}
    total = {x: FieldTotals() for x in ts}
    for i, row in enumerate(rows):
        check_cancelled(progress)
        sample = load_samples([row], "effective", multiple=loaded.card.scale)[0]
        item = fixed_eval_items([sample], seed=seed, protocol=degradation,
                                scale=loaded.card.scale, camera=camera)[0]
        with torch.inference_mode(), autocast(choice):
            out = loaded.model(item.lr.to(choice.torch_device))
        prob = torch.sigmoid(out.seg_logits.float())[0, 0].cpu().numpy()
        ct = content_type(row.dataset, row.extra.get("surface", ""))
        for x in ts:
            tot = image_totals(prob, sample.mask, sample.ignore, *cfgs[x])
            for key, d in ((row.dataset, by_ds[x]), (ct, by_ct[x])):
                d.setdefault(key, FieldTotals()).add(tot)
            total[x].add(tot)
        progress.set_progress(100.0 * (i + 1) / max(1, len(rows)))

    def result(x: Candidate) -> Dict[str, Any]:
        return {"threshold": x[0], "seed_threshold": x[1], "degradation": degradation,
                "seed": seed, "split": split, "n_left_out": exclude or 0,
                "camera": None if camera is None else dataclasses.asdict(camera),
                "hr_gsd_m": HR_GSD_M, "tolerance_m": TOL_M, "clear_m": CLEAR_M,
                "model": str(loaded.path), "total": total[x].as_dict(),
                "by_dataset": {k: v.as_dict() for k, v in sorted(by_ds[x].items())},
                "by_content": {k: v.as_dict() for k, v in sorted(by_ct[x].items())}}

    if thresholds:
        return {"by_threshold": {candidate_key(x): result(x) for x in ts}}
    return result(ts[0])


def _candidates(card: Any, threshold: Optional[float],
                thresholds: Optional[Sequence[Union[float, Candidate]]]) -> List[Candidate]:
    """The candidates to evaluate: ``thresholds`` (a bare float has no seed of its own:
    :func:`field_configs` then takes the one of ``vectorize``), else ``threshold``, else the
    card's threshold and seed."""
    if thresholds:
        return [(float(x), None) if isinstance(x, (int, float)) else (float(x[0]), x[1])
                for x in thresholds]
    if threshold is not None:
        return [(float(threshold), None)]
    return [card_candidate(card)]


def evaluate_scenes(model_path: Optional[PathLike], ortho_dir: PathLike,
                    threshold: Optional[float] = None, vectorize: Any = None,
                    device: str = "auto",
                    thresholds: Optional[Sequence[Union[float, Candidate]]] = None
                    ) -> Dict[str, Any]:
    """False-positive density on crack-free orthophoto scenes (trees, cars, kerbs, roofs):
    the held-out part of each shared orthophoto (:data:`core.train.negatives.TRAIN_FRACTION`),
    read as input at the model's GSD; every detected line is a false positive. With
    ``thresholds``: ``{"by_threshold": {t: result}}`` from one inference per scene."""
    import torch

    from ..device import autocast, resolve_device
    from ..model.card import load_model
    from .negatives import read_rgb as _read
    from .negatives import split_columns

    choice = resolve_device(device, "auto")
    loaded = load_model(model_path, device=choice.torch_device)
    ts = _candidates(loaded.card, threshold, thresholds)
    s = loaded.card.scale
    out: Dict[Candidate, Dict[str, Any]] = {x: {} for x in ts}
    total = {x: FieldTotals() for x in ts}
    for path in sorted(Path(ortho_dir).glob("*.tif")):
        im = _read(path)
        c0, c1 = split_columns(im.image.shape[1], "heldout")
        img, valid = im.image[:, c0:c1], im.valid[:, c0:c1]
        h, w = (img.shape[0] // 2) * 2, (img.shape[1] // 2) * 2
        img, valid = img[:h, :w], valid[:h, :w]
        inp = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float()[None] / 255.0
        with torch.inference_mode(), autocast(choice):
            o = loaded.model(inp.to(choice.torch_device))
        prob = torch.sigmoid(o.seg_logits.float())[0, 0].cpu().numpy()
        valid_hr = np.repeat(np.repeat(valid, s, 0), s, 1)
        prob[~valid_hr] = 0.0
        for x in ts:
            cfg, _ = field_configs(x[0], vectorize, x[1])
            tot = image_totals(prob, np.zeros(prob.shape, bool), ~valid_hr, cfg, cfg)
            out[x][path.stem] = tot.as_dict()
            total[x].add(tot)

    def result(x: Candidate) -> Dict[str, Any]:
        return {"threshold": x[0], "seed_threshold": x[1], "scenes": out[x],
                "total": total[x].as_dict(),
                "note": "held-out part of each orthophoto read as model-resolution input "
                        f"(HR {HR_GSD_M * 1000:g} mm/px); every line is a false positive"}

    if thresholds:
        return {"by_threshold": {candidate_key(x): result(x) for x in ts}}
    return result(ts[0])

