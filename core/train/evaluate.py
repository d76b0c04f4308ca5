"""Evaluate a model on a manifest split with the paper's metrics (``csbsr evaluate``).

Every image of the split is prepared as for training (``hr_policy``), degraded once with the
fixed seeded protocol (:func:`core.degrade.fixed_degradation`: a function of dataset, stem
and seed only), and run **whole** through the model (LR up to 160x128 px for these data):

* ``mode="joint"``: LR -> SR -> segmentation (CSBSR; also the separately trained cascade);
* ``mode="hr"``: segmentation of the original HR image (upper bound; no SR metrics);
* ``mode="bicubic"``: segmentation of the bicubic-upscaled LR (PSNR/SSIM of the bicubic).

Metrics are those of :mod:`core.metrics` over the full images at HR resolution.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Union

from ..errors import InvalidInputError
from ..progress import NullProgress, Progress, check_cancelled

MODES = ("joint", "hr", "bicubic")


def predict_item(model: Any, lr: Any, hr: Any, mode: str, device: Any = None,
                 autocast_ctx: Any = None) -> tuple:
    """Run one image through ``model`` in ``mode``.

    Args:
        model: a ``JointSRSeg`` in eval mode.
        lr: (1, 3, h, w) float32 LR tensor.
        hr: (1, 3, H, W) float32 HR tensor (used by ``mode="hr"``).
        mode: "joint", "hr" or "bicubic".
        device: a torch device (default: the model's).
        autocast_ctx: a callable returning an autocast context (default none).

    Returns:
        (prob (H, W) float32 numpy in [0, 1], sr (3, H, W) float32 numpy or None).
    """
    import contextlib

    import torch

    from .degrade import bicubic_upscale

    if mode not in MODES:
        raise InvalidInputError(f"unknown mode {mode!r}; use one of {MODES}")
    dev = device if device is not None else next(model.parameters()).device
    ctx = autocast_ctx() if autocast_ctx is not None else contextlib.nullcontext()
    with torch.inference_mode(), ctx:
        if mode == "joint":
            out = model(lr.to(dev))
            logits, sr = out.seg_logits, out.sr
        elif mode == "hr":
            logits, _ = model.segment(hr.to(dev))
            sr = None
        else:
            sr = bicubic_upscale(lr.to(dev), model.scale)
            logits, _ = model.segment(sr)
    prob = torch.sigmoid(logits.float())[0, 0].cpu().numpy()
    sr_np = None if sr is None else sr.float().clamp(0, 1)[0].cpu().numpy()
    return prob, sr_np


#: the ground tolerance of the per-data-set F1 ("within 2 cm"), in HR pixels of the nominal
#: 2 mm/px HR grid of the training data
GROUND_TOLERANCE_PX = 10.0


def evaluate_items(model: Any, items: Sequence[Any], mode: str = "joint",
                   hd_every: int = 1, with_hd: bool = True, device: Any = None,
                   autocast_ctx: Any = None, progress: Optional[Progress] = None,
                   by_dataset: bool = False, report_threshold: Optional[float] = None
                   ) -> Dict[str, Any]:
    """Evaluate ``model`` on prepared :class:`core.data.EvalItem` s; returns the summary.

    With ``by_dataset``, ``per_dataset`` holds for every data set: F1 (ODS) and IoU_max at
    2 px, F1 (ODS) within 2 cm (:data:`GROUND_TOLERANCE_PX`), and precision/recall/F1 at
    ``report_threshold`` (default: the set-wide IoU-best threshold) at both tolerances.
    """
    from .metrics import MetricAccumulator

    progress = progress or NullProgress()
    acc = MetricAccumulator(hd_every=hd_every, with_hd=with_hd)
    per: Dict[str, Any] = {}
    was_training = model.training
    model.eval()
    try:
        for i, it in enumerate(items):
            check_cancelled(progress)
            prob, sr = predict_item(model, it.lr, it.hr, mode, device, autocast_ctx)
            hr = it.hr[0].numpy()
            acc.add(prob, it.mask, sr, hr if sr is not None else None)
            if by_dataset:
                pair = per.setdefault(it.row.dataset, (
                    MetricAccumulator(with_hd=False),
                    MetricAccumulator(with_hd=False, tolerance_px=GROUND_TOLERANCE_PX)))
                pair[0].add(prob, it.mask)
                pair[1].add(prob, it.mask)
            progress.set_progress(100.0 * (i + 1) / max(1, len(items)))
    finally:
        model.train(was_training)
    out: Dict[str, Any] = dict(acc.summary())
    if by_dataset:
        t = out["best_threshold"] if report_threshold is None else report_threshold
        out["per_dataset"] = {name: _dataset_summary(px, cm, float(t))
                              for name, (px, cm) in sorted(per.items())}
    return out


def _dataset_summary(px: Any, cm: Any, threshold: float) -> Dict[str, Any]:
    a, b = px.summary(), cm.summary()
    return {"n_images": a["n_images"], "iou_max": a["iou_max"], "f1_ods": a["f1_ods"],
            "f1_threshold": a["f1_threshold"], "f1_2cm_ods": b["f1_ods"],
            "f1_2cm_threshold": b["f1_threshold"], "threshold": threshold,
            "at_threshold_2px": px.f1_at(threshold), "at_threshold_2cm": cm.f1_at(threshold)}


def evaluate_model(model_path: Optional[Union[str, Path]],
                   manifest: Union[str, Path, Sequence[Union[str, Path]]],
                   split: str = "val", degradation: str = "paper", seed: int = 5,
                   mode: str = "joint", limit: Optional[int] = None,
                   hr_policy: str = "effective", padding: str = "reflect",
                   device: str = "auto", precision: str = "fp32", hd_every: int = 1,
                   with_hd: bool = True, progress: Optional[Progress] = None,
                   by_dataset: bool = False, report_threshold: Optional[float] = None
                   ) -> Dict[str, Any]:
    """Load a model (None = the shipped default) and evaluate it on a manifest split.

    Args:
        model_path: ``.safetensors`` model (with its ``.json`` card) or None.
        manifest: manifest TSV (paths relative to its folder), or several.
        split: ``recommended_role`` to evaluate ("val", "train", ...).
        degradation: "paper" or "realistic".
        seed: seed of the fixed degraded set (paper: 5).
        mode: "joint", "hr" or "bicubic".
        limit: evaluate a deterministic, dataset-stratified subset of this many images.
        hr_policy: "effective" (default) or "stored".
        padding: blur padding of the degradation ("reflect" or "zero").
        device, precision: see :func:`core.device.resolve_device` (fp32 by default: exact).
        hd_every: HD on every n-th threshold (1 = all 99).
        with_hd: compute HD95 at all (False: ``hd95_min`` and ``ahd95`` are None).
        by_dataset: add ``per_dataset`` metrics (see :func:`evaluate_items`).
        report_threshold: the threshold of the per-data-set P/R/F1 (default: the IoU-best).

    Returns:
        The metrics dict (``iou_max, aiu, hd95_min, ahd95, psnr, ssim, f1_ods,
        best_threshold, n_images`` and a few extras).
    """
    import torch

    from ..device import autocast, resolve_device
    from ..model.card import load_model
    from ..progress import sub_progress
    from .data import fixed_eval_items, load_samples, read_manifests, subset_rows

    progress = progress or NullProgress()
    if mode not in MODES:
        raise InvalidInputError(f"unknown --mode {mode!r}; use one of {MODES}")
    choice = resolve_device(device, precision)
    loaded = load_model(model_path, device=choice.torch_device)
    scale = loaded.card.scale
    rows = subset_rows(read_manifests(manifest, [split]), limit)
    progress.set_status(f"loading {len(rows)} {split} images")
    samples = load_samples(rows, hr_policy, multiple=scale,
                           progress=sub_progress(progress, 0, 10))
    items = fixed_eval_items(samples, seed=seed, protocol=degradation, scale=scale,
                             padding=padding)
    progress.set_status(f"evaluating {len(items)} images ({mode}, {choice.description})")
    t0 = time.perf_counter()
    with torch.no_grad():
        res = evaluate_items(loaded.model, items, mode=mode, hd_every=hd_every, with_hd=with_hd,
                             device=torch.device(choice.torch_device),
                             autocast_ctx=lambda: autocast(choice),
                             progress=sub_progress(progress, 10, 100),
                             by_dataset=by_dataset, report_threshold=report_threshold)
    res.update({"split": split, "degradation": degradation, "seed": seed, "mode": mode,
                "model": str(loaded.path), "hr_policy": hr_policy,
                "hd_every": hd_every if with_hd else None,
                "eval_seconds": round(time.perf_counter() - t0, 1)})
    return res

