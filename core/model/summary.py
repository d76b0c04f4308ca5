"""Parameter counts, FLOPs and forward timing of a model (for ``csbsr model-info``)."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Dict

import torch


@dataclass(frozen=True)
class ModelSummary:
    """Size and cost of a joint model.

    Attributes:
        params_sr: parameters of the SR network.
        params_seg: parameters of the segmentation network without BlurSkip.
        params_blurskip: parameters of BlurSkip (0 when absent).
        params_total: all parameters.
        gflops_per_64px_lr: forward GFLOPs (2 x multiply-accumulates of convs and matmuls)
            for one 64 x 64 LR input (the SR output is 64*scale square).
    """

    params_sr: int
    params_seg: int
    params_blurskip: int
    params_total: int
    gflops_per_64px_lr: float

    def as_dict(self) -> Dict[str, Any]:
        """JSON-ready dict."""
        return dict(self.__dict__)


def count_params(module: torch.nn.Module) -> int:
    """Number of parameters of ``module``."""
    return sum(p.numel() for p in module.parameters())


def forward_gflops(model: torch.nn.Module, lr_px: int = 64) -> float:
    """Forward GFLOPs of ``model`` on one (1, 3, lr_px, lr_px) input, counted by torch."""
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.rand(1, 3, lr_px, lr_px)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops() / 1e9


def summarise(model: Any, lr_px: int = 64) -> ModelSummary:
    """Count parameters and FLOPs of a :class:`~.joint.JointSRSeg`."""
    blurskip = getattr(model.seg_net, "blurskip", None)
    pb = count_params(blurskip) if blurskip is not None else 0
    was_training = model.training
    model.eval()
    try:
        gflops = forward_gflops(model, lr_px)
    finally:
        model.train(was_training)
    return ModelSummary(
        params_sr=count_params(model.sr_net), params_seg=count_params(model.seg_net) - pb,
        params_blurskip=pb, params_total=count_params(model), gflops_per_64px_lr=gflops)


def time_forward(model: Any, lr_px: int = 64, repeats: int = 5, warmup: int = 1) -> float:
    """Median wall seconds of one eval forward on a (1, 3, lr_px, lr_px) CPU input."""
    x = torch.rand(1, 3, lr_px, lr_px)
    model.eval()
    times = []
    with torch.inference_mode():
        for i in range(warmup + repeats):
            t0 = time.perf_counter()
            model(x)
            if i >= warmup:
                times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]
