"""Build CSBSR models from a :class:`ModelConfig`; save and load checkpoints.

A checkpoint is two files with the same stem: ``<name>.safetensors`` (the weights, never a
pickle) and ``<name>.json`` (the model card: format version, architecture, scale, expected
input GSD, recommended threshold, normalisation, training data and metrics, software
version, and the SHA-256 of the weights). ``load_model`` rebuilds the network from these
files alone and refuses anything inconsistent with a :class:`CheckpointError`.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, Optional, Union

from .. import atomic
from ..config import from_dict, to_dict
from ..errors import CheckpointError, ConfigError
from .config import ModelConfig, model_config_from_v1
from .registry import build_model, check_architecture

FORMAT_NAME = "csbsr-model"
FORMAT_VERSION = 2
#: card versions this code reads (1: flat model config, converted on read)
READABLE_VERSIONS = (1, 2)
#: keys every card must state (no silent default for what decides a run's result)
REQUIRED_KEYS = ("model", "input_gsd_m", "recommended_threshold", "normalisation", "halo_lr_px")
REQUIRED_MODEL_KEYS = ("name", "scale")
#: the largest halo a card may ask for (LR px): beyond it tiles would be mostly halo
MAX_HALO_LR_PX = 256
#: the shipped models: the first lite model and the thin-crack lite2 model
LITE_MODEL_NAME = "csbsr_lite_x4.safetensors"
LITE2_MODEL_NAME = "csbsr_lite2_x4.safetensors"
DEFAULT_MODEL_NAME = LITE2_MODEL_NAME

PathLike = Union[str, Path]


def default_model_path() -> Path:
    """Return the path of the shipped default model (``resources/models/``)."""
    return Path(__file__).resolve().parents[2] / "resources" / "models" / DEFAULT_MODEL_NAME


@dataclass(frozen=True)
class Normalisation:
    """How raster values map to the model's [0, 1] input: ``(x - offset) / scale``.

    Attributes:
        value_scale: divisor (255 for 8-bit, 65535 or a percentile for 16-bit).
        value_offset: subtracted before dividing.
    """

    value_scale: float = 255.0
    value_offset: float = 0.0

    def __post_init__(self) -> None:
        import math

        for name in ("value_scale", "value_offset"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
                raise ConfigError(f"normalisation.{name} must be a finite number, got {v!r}")
        if not self.value_scale > 0:
            raise ConfigError(f"normalisation.value_scale must be > 0, got {self.value_scale}")


# Sub-configs of other stages (tiling, inference, vectorization, training) are added
# below by the modules that own those stages.



@dataclass(frozen=True)
class ModelCard:
    """Everything needed to use a trained model, stored as JSON next to its weights.

    Attributes:
        model: the architecture.
        input_gsd_m: ground sampling distance (m/px) of the LR input the model was trained
            for; None when unknown (no resampling then).
        recommended_threshold: probability threshold for the binary mask (chosen on val).
        recommended_seed_threshold: hysteresis of the crack lines: a crack region is drawn
            only if its peak probability reaches this (>= recommended_threshold; chosen on
            val with the threshold); None = no hysteresis.
        normalisation: how raster values map to the model's [0, 1] input.
        halo_lr_px: overlap (LR px) that tiled inference needs on each side of a tile.
        training: data sets and licences, schedule, wall time, machine.
        metrics: validation metrics.
        description: free text.
        format_version, software_version, created_utc: provenance (filled on save).
    """

    model: ModelConfig
    input_gsd_m: Optional[float] = None
    recommended_threshold: float = 0.5
    recommended_seed_threshold: Optional[float] = None
    normalisation: Normalisation = field(default_factory=Normalisation)
    halo_lr_px: int = 16
    training: Dict[str, Any] = field(default_factory=dict)
    metrics: Dict[str, Any] = field(default_factory=dict)
    description: str = ""
    format_version: int = FORMAT_VERSION
    software_version: str = ""
    created_utc: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.model, ModelConfig):
            raise ConfigError(f"model must be an architecture, got {type(self.model).__name__}")
        if self.input_gsd_m is not None and not (
                isinstance(self.input_gsd_m, (int, float)) and 0 < self.input_gsd_m < 10):
            raise ConfigError(f"input_gsd_m must be a ground sampling distance in metres "
                              f"(0 < value < 10) or null, got {self.input_gsd_m!r}")
        if not isinstance(self.recommended_threshold, (int, float)) or \
                not 0 < self.recommended_threshold < 1:
            raise ConfigError(f"recommended_threshold must be a probability in (0, 1), "
                              f"got {self.recommended_threshold!r}")
        seed = self.recommended_seed_threshold
        if seed is not None and (not isinstance(seed, (int, float)) or isinstance(seed, bool)
                                 or not self.recommended_threshold <= seed < 1):
            raise ConfigError(f"recommended_seed_threshold must be a probability in "
                              f"[recommended_threshold, 1) or null, got {seed!r}")
        if not isinstance(self.halo_lr_px, int) or not 0 <= self.halo_lr_px <= MAX_HALO_LR_PX:
            raise ConfigError(f"halo_lr_px must be an integer in 0..{MAX_HALO_LR_PX} LR pixels, "
                              f"got {self.halo_lr_px!r}")
        if not isinstance(self.normalisation, Normalisation):
            raise ConfigError("normalisation must be {value_scale, value_offset}")

    @property
    def scale(self) -> int:
        """The SR factor."""
        return self.model.scale


@dataclass
class LoadedModel:
    """A model rebuilt from a checkpoint, in eval mode, with its card and file path."""

    model: Any
    card: ModelCard
    path: Path


def _paths(path: PathLike) -> tuple:
    p = Path(path)
    if p.suffix == ".json":
        return p.with_suffix(".safetensors"), p
    if p.suffix != ".safetensors":
        p = p.with_suffix(".safetensors") if p.suffix == "" else p
    return p, p.with_suffix(".json")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_model(model: Any, card: ModelCard, path: PathLike) -> Path:
    """Save ``model`` weights as safetensors and ``card`` as JSON (atomically).

    Returns:
        The path of the ``.safetensors`` file.
    """
    from safetensors.torch import save

    from .. import __version__

    weights_path, card_path = _paths(path)
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    atomic.write_bytes(weights_path, save(state))
    card = dataclasses.replace(
        card, format_version=FORMAT_VERSION, software_version=__version__,
        created_utc=card.created_utc or datetime.now(timezone.utc).isoformat(timespec="seconds"))
    doc = {"format": FORMAT_NAME, **to_dict(card),
           "weights": {"file": weights_path.name, "sha256": _sha256(weights_path),
                       "tensors": len(state)}}
    atomic.write_bytes(card_path, (json.dumps(doc, indent=2) + "\n").encode("utf-8"))
    return weights_path


def read_card(path: PathLike) -> ModelCard:
    """Read and validate a model card (``.json``, or the card beside a ``.safetensors``).

    Raises:
        CheckpointError: missing, unparsable, not a CSBSR card, unknown format version, or an
            invalid architecture.
    """
    _, card_path = _paths(path)
    if not card_path.is_file():
        raise CheckpointError(
            f"model card not found: {card_path} (a model is a .safetensors file plus its "
            ".json card with the same name; copy both)")
    try:
        doc = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"model card {card_path} is corrupt ({exc}); "
                              "restore it from the original model package") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{card_path} is not a CSBSR model card "
                              f"(expected \"format\": \"{FORMAT_NAME}\")")
    version = doc.get("format_version")
    if version not in READABLE_VERSIONS:
        raise CheckpointError(
            f"{card_path}: model format version {version!r} is not supported by this "
            f"version of the software (it reads versions {list(READABLE_VERSIONS)}); "
            "update the plugin or re-export the model")
    body = {k: v for k, v in doc.items() if k not in ("format", "weights")}
    missing = [k for k in REQUIRED_KEYS if k not in body]
    if not missing and isinstance(body["model"], dict):
        missing = [f"model.{k}" for k in REQUIRED_MODEL_KEYS if k not in body["model"]]
    if missing:
        raise CheckpointError(f"{card_path}: invalid model card: missing key {missing[0]!r}; "
                              "restore the original card")
    try:
        if version == 1:
            body["model"] = model_config_from_v1(body.get("model", {}))
            body["format_version"] = FORMAT_VERSION
        card = from_dict(ModelCard, body)
        check_architecture(card.model)
        return card
    except (ConfigError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{card_path}: invalid model card: {exc}; "
                              "fix that key or restore the original card") from exc


def load_model(path: Optional[PathLike] = None, device: str = "cpu") -> LoadedModel:
    """Rebuild a model from its safetensors weights and JSON card (never unpickles).

    Args:
        path: ``.safetensors`` or ``.json`` path; None = the shipped default model.
        device: a torch device string.

    Raises:
        CheckpointError: a missing or corrupt file, a card/weights mismatch, or an unknown
            format version.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights_path, card_path = _paths(path if path is not None else default_model_path())
    if not weights_path.is_file():
        hint = (" (the shipped default model is missing: reinstall the plugin or run "
                "`make train`)" if path is None else "")
        raise CheckpointError(f"model weights not found: {weights_path}{hint}")
    card = read_card(card_path)
    try:
        doc = json.loads(card_path.read_text(encoding="utf-8"))
        expected_sha = doc.get("weights", {}).get("sha256")
    except (OSError, json.JSONDecodeError) as exc:  # pragma: no cover (read_card checked it)
        raise CheckpointError(str(exc)) from exc
    if expected_sha and _sha256(weights_path) != expected_sha:
        raise CheckpointError(
            f"{weights_path.name} does not match its card {card_path.name} (SHA-256 differs): "
            "the weights were modified or belong to another model; copy the pair again")
    try:
        state = load_file(str(weights_path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"model weights {weights_path} are corrupt or not safetensors "
                              f"({exc}); restore the file") from exc
    model = build_model(card.model)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [k for k in set(expected) & set(state) if expected[k].shape != state[k].shape]
    if missing or unexpected or shapes:
        raise CheckpointError(
            f"{weights_path.name} does not fit the architecture in {card_path.name}: "
            f"{len(missing)} missing, {len(unexpected)} unexpected, {len(shapes)} mis-shaped "
            f"tensors (e.g. {(missing + unexpected + shapes)[:3]}); the card and weights "
            "come from different models")
    model.load_state_dict(state, strict=True)
    model.to(device).eval()
    return LoadedModel(model=model, card=card, path=weights_path)
