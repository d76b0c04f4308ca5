"""A process-wide cache of loaded models, keyed by file path + SHA-256 of the weights.

A model travels between processes (Dask workers, block tasks) as a :class:`ModelRef`, never
as pickled weights: each process loads the safetensors file once (:func:`cached_model`) and
checks that its bytes are the ones the caller hashed, so every worker of a survey runs the
very same model.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from ..errors import CheckpointError

_LOCK = threading.Lock()
_CACHE: Dict[Tuple[str, str], Any] = {}
#: how many times each (path, sha256) was loaded in this process (1 once warm)
LOADS: Dict[Tuple[str, str], int] = {}


@dataclass(frozen=True)
class ModelRef:
    """A model file and the SHA-256 of its weights.

    Attributes:
        path: absolute path of the ``.safetensors`` weights (its ``.json`` card beside it).
        sha256: hex SHA-256 of the weights file.
    """

    path: str
    sha256: str

    @classmethod
    def of(cls, path: Optional[Any] = None) -> ModelRef:
        """The reference of ``path`` (None = the shipped default model); hashes the file.

        Raises:
            CheckpointError: the weights file does not exist.
        """
        from .card import _paths, _sha256, default_model_path

        weights, _card = _paths(path if path is not None else default_model_path())
        weights = Path(weights).resolve()
        if not weights.is_file():
            raise CheckpointError(f"model weights not found: {weights}: pass --model a "
                                  ".safetensors file (with its .json card beside it)")
        return cls(str(weights), _sha256(weights))


def cached_model(ref: ModelRef) -> Any:
    """The :class:`~.card.LoadedModel` of ``ref``, loaded (on the CPU) once per process.

    Raises:
        CheckpointError: the file is missing or corrupt here, or its SHA-256 differs from
            ``ref.sha256`` (another model under the same path on this machine).
    """
    from .card import _sha256, load_model

    key = (ref.path, ref.sha256)
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            return hit
        path = Path(ref.path)
        if not path.is_file():
            raise CheckpointError(
                f"model weights {ref.path} do not exist on this machine: install the same "
                "model at the same path on every worker (or use a shared file system)")
        actual = _sha256(path)
        if actual != ref.sha256:
            raise CheckpointError(
                f"model weights {ref.path} on this machine differ from the survey's (SHA-256 "
                f"{actual[:12]} instead of {ref.sha256[:12]}): copy the same model to every "
                "worker")
        loaded = load_model(path, device="cpu")
        _CACHE[key] = loaded
        LOADS[key] = LOADS.get(key, 0) + 1
        return loaded


def load_counts() -> Dict[str, int]:
    """How many times each model was loaded in this process ("path@sha256[:12]" -> count):
    1 per model once warm (``client.run(load_counts)`` asks every Dask worker)."""
    with _LOCK:
        return {f"{p}@{h[:12]}": n for (p, h), n in LOADS.items()}


def clear() -> None:
    """Forget every cached model (tests)."""
    with _LOCK:
        _CACHE.clear()
