"""The training schedule: phases, the ablation variants, the learning-rate curve, and the
provenance recorded in model cards (data sources and their licences, the machine)."""
from __future__ import annotations

import math
import os
import platform

from .config import TrainConfig

PHASES = ("P1", "P2", "P3", "P4", "P5")
VARIANTS = ("joint", "joint_wf", "joint_wf_blurskip", "separate", "hr_seg", "bicubic_seg")
VARIANT_PHASES = {
    "joint": ("P1", "P2", "P3", "P4"),
    "joint_wf": ("P1", "P2", "P3", "P4"),
    "joint_wf_blurskip": ("P1", "P2", "P3", "P4", "P5"),
    "separate": ("P1", "P2", "P3", "P4"),
    "hr_seg": ("P4",),
    "bicubic_seg": ("P4",),
}
EVAL_MODE = {"hr_seg": "hr", "bicubic_seg": "bicubic"}
SEG_ONLY = ("separate", "hr_seg", "bicubic_seg")
DATA_SOURCES = {
    "deepcrack": "DeepCrack (Liu et al. 2019): 'please cite', no licence file",
    "crack500": "CRACK500 (Yang et al. 2019): 'please cite', no licence stated",
    "uav75": "UAV75 (Benz et al. 2019): GPL-3.0",
    "conglomerate_concrete": "conglomerate concrete (Rissbilder): research use",
    "uavcrack_bridge": "UAVCRACK bridge decks (bridging-big-data/model-crack): repository MIT, "
                       "no separate data licence (cite the paper)",
    "kaggle_uav_crack": "UAV-Based Crack Detection Dataset (Kaggle): CC0",
    "nha12d": "NHA12D (Huang et al. 2022): no licence stated, research use",
    "paveseg": "PaveSeg public preview (FuturePave): Apache-2.0 (full set non-commercial)",
    "masonry": "masonry walls (Dais et al. 2021): GPL-3.0",
    "ortho_negatives": "orthophotos of ../shared/data/ortho (training part only): USGS public "
                       "domain, Pix4D/DroneMapper samples, OpenDroneMap (AGPL repository)",
}


def eval_mode_for(variant: str) -> str:
    """The ``csbsr evaluate --mode`` that matches a variant."""
    return EVAL_MODE.get(variant, "joint")


def phase_iters(cfg: TrainConfig, phase: str) -> int:
    """Iterations of ``phase`` in ``cfg``."""
    return int(getattr(cfg, f"iters_{phase.lower()}"))


def cosine_lr(it: int, total: int, lr: float, lr_min: float) -> float:
    """Cosine decay from ``lr`` (it = 0) to ``lr_min`` (it = total - 1)."""
    if total <= 1:
        return lr
    return lr_min + 0.5 * (lr - lr_min) * (1.0 + math.cos(math.pi * it / (total - 1)))


def machine_description() -> str:
    """CPU model and thread count (or the GPU), for model cards and logs."""
    import torch

    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} cores, torch {torch.__version__} " \
           f"({torch.get_num_threads()} threads)"
