"""Resumable training checkpoints: model, Adam moments and run state, never a pickle.

``<run>/ckpt/last.safetensors`` holds the model (``model/<name>``) and the optimizer moments
(``opt/<param index>/<name>``); ``<run>/ckpt/last.json`` the :class:`RunState` (phase,
iteration, random-generator state, wall time, validation results) and the optimizer's
parameter groups. Both are written atomically, so a killed run resumes from the last one.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from .. import atomic
from ..errors import CheckpointError


@dataclass
class RunState:
    """Resumable progress of a run (saved as JSON beside the weights)."""

    variant: str
    phases: List[str]
    phase_index: int = 0
    it: int = 0
    rng_state: Dict[str, Any] = field(default_factory=dict)
    wall_s: float = 0.0
    phase_wall_s: Dict[str, float] = field(default_factory=dict)
    val: Dict[str, Any] = field(default_factory=dict)
    done: bool = False


def save_checkpoint(ckpt_dir: Path, model: Any, optimizer: Any, state: RunState) -> None:
    """Write ``last.safetensors`` + ``last.json`` in ``ckpt_dir`` (atomically)."""
    from safetensors.torch import save

    tensors = {f"model/{k}": v.detach().contiguous().cpu()
               for k, v in model.state_dict().items()}
    groups: List[Dict[str, Any]] = []
    if optimizer is not None:
        sd = optimizer.state_dict()
        for idx, st in sd["state"].items():
            for name, val in st.items():
                tensors[f"opt/{idx}/{name}"] = val.detach().contiguous().cpu().reshape(
                    val.shape if val.dim() else (1,)).clone()
        groups = [dict(g) for g in sd["param_groups"]]
    doc = {"state": dataclasses.asdict(state), "optimizer_groups": groups,
           "has_optimizer": optimizer is not None}
    atomic.write_bytes(ckpt_dir / "last.safetensors", save(tensors))
    atomic.write_text(ckpt_dir / "last.json", json.dumps(doc) + "\n")


def load_checkpoint(ckpt_dir: Path, model: Any
                    ) -> Tuple[RunState, Optional[Dict[str, Any]]]:
    """Load the model weights in place; return the run state and the optimizer state dict
    (None when the checkpoint was taken between phases).

    Raises:
        CheckpointError: unreadable or damaged checkpoint, or weights of another model.
    """
    from safetensors.torch import load_file

    try:
        doc = json.loads((ckpt_dir / "last.json").read_text(encoding="utf-8"))
        tensors = load_file(str(ckpt_dir / "last.safetensors"))
        state = RunState(**doc["state"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"cannot read the checkpoint in {ckpt_dir} ({exc}); "
                              "start a new run in another --out") from exc
    model_sd = {k[len("model/"):]: v for k, v in tensors.items() if k.startswith("model/")}
    try:
        model.load_state_dict(model_sd, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"the checkpoint in {ckpt_dir} belongs to another architecture "
                              f"({str(exc).splitlines()[0]}); start a new run") from exc
    if not doc.get("has_optimizer"):
        return state, None
    opt: Dict[int, Dict[str, Any]] = {}
    for k, v in tensors.items():
        if k.startswith("opt/"):
            _, idx, name = k.split("/", 2)
            opt.setdefault(int(idx), {})[name] = v.reshape(()) if name == "step" else v
    return state, {"state": opt, "param_groups": doc["optimizer_groups"]}
