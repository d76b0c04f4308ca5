"""Frozen configuration dataclasses: dict/JSON round-trips with validation.

Every stage owns its configuration next to its code (``model/config.py``,
``detect/config.py``, ``vectorize/config.py``, ``train/config.py``); this module only turns
dicts (e.g. a model card's JSON) into those dataclasses and back. Nested dataclasses are found
from the field annotations, so no table of types is kept here.
"""
from __future__ import annotations

import dataclasses
import json
import sys
import typing
from pathlib import Path
from typing import Any, Dict, Optional, Type, TypeVar, Union

from .errors import ConfigError

T = TypeVar("T")


def _nested_type(cls: type, name: str) -> Optional[type]:
    """The dataclass type of field ``name`` of ``cls`` (also inside ``Optional``), or None."""
    try:
        hints = typing.get_type_hints(cls, vars(sys.modules[cls.__module__]))
    except (NameError, TypeError):
        return None
    tp = hints.get(name)
    for cand in (tp, *getattr(tp, "__args__", ())):
        if isinstance(cand, type) and dataclasses.is_dataclass(cand):
            return cand
    return None


def from_dict(cls: Type[T], data: Dict[str, Any]) -> T:
    """Build dataclass ``cls`` from ``data``, recursing into nested dataclasses.

    Raises:
        ConfigError: on unknown keys or a value that fails validation.
    """
    if not dataclasses.is_dataclass(cls):
        raise ConfigError(f"{cls!r} is not a config dataclass")
    if not isinstance(data, dict):
        raise ConfigError(f"{cls.__name__}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{cls.__name__}: unknown key(s) {unknown}; valid keys are {sorted(fields)}"
        )
    kwargs: Dict[str, Any] = {}
    for name, value in data.items():
        sub = _nested_type(cls, name)
        if sub is not None and isinstance(value, dict):
            kwargs[name] = from_dict(sub, value)
        elif isinstance(value, list):
            kwargs[name] = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        else:
            kwargs[name] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{cls.__name__}: {exc}") from exc


def to_dict(obj: Any) -> Dict[str, Any]:
    """Return a JSON-ready dict of a config dataclass (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(obj)))


def save_json(obj: Any, path: Union[str, Path]) -> None:
    """Write a config dataclass as indented JSON."""
    Path(path).write_text(json.dumps(to_dict(obj), indent=2) + "\n", encoding="utf-8")
