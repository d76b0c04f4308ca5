"""Sub-commands of the ``csbsr`` command line, one module each (see ``core/cli.py``)."""
from __future__ import annotations

import sys
from typing import Any


def say(progress: Any, text: str) -> None:
    """Print a human-readable result line: on stdout, or on stderr when stdout carries JSON
    lines (``--progress json``)."""
    print(text, file=sys.stderr if hasattr(progress, "emit") else sys.stdout)


def result(progress: Any, **fields: Any) -> None:
    """Emit the machine-readable result of a command (``--progress json`` only)."""
    emit = getattr(progress, "emit", None)
    if emit is not None:
        emit("result", **fields)
