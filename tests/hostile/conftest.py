"""Fixtures of the hostile suite: the hostile inputs (built once from real data), an earlier
good run, the per-case record and checks, and the outcome table.

With ``CSBSR_HOSTILE_TABLE=FILE`` set, every case appends one JSON line to FILE (id, entry
point, input, expected, outcome); ``scripts/hostile_table.py`` turns them into the markdown
table of ``docs/reliability.md``.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import inputs as hostile_inputs

#: what a temporary or partial file of the product looks like
PARTIAL = re.compile(r"(^\.|\.partial|\.staging|\.tmp\b|-journal$|-wal$)")


@dataclass
class Case:
    """One hostile case: what it feeds, what it expects, what happened."""

    entry: str = ""
    input: str = ""
    expected: str = ""
    rc: Any = None
    err: str = ""
    notes: List[str] = field(default_factory=list)

    def describe(self, entry: str, what: str, expected: str) -> None:
        """Say what the case feeds to which entry point, and what it expects."""
        self.entry, self.input, self.expected = entry, what, expected

    def outcome(self) -> str:
        """The observed outcome, short."""
        lines = [ln for ln in self.err.splitlines() if ln.startswith("csbsr: ")]
        msg = lines[-1][:110] if lines else ""
        return f"exit {self.rc}" + (f": {msg}" if msg else "") + \
            ("; " + "; ".join(self.notes) if self.notes else "")


_ROWS: List[Dict[str, str]] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Any:
    """Record one row per case (its call phase, or its set-up when that failed/skipped)."""
    outcome = yield
    rep = outcome.get_result()
    case = getattr(item, "funcargs", {}).get("case")
    if case is None or not (rep.when == "call" or (rep.when == "setup" and not rep.passed)):
        return
    path = os.environ.get("CSBSR_HOSTILE_TABLE")
    if not path:
        return
    row = {"id": item.nodeid.split("::", 1)[-1], "file": Path(str(item.fspath)).name,
           "entry": case.entry, "input": case.input, "expected": case.expected,
           "outcome": case.outcome(), "result": rep.outcome}
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(row) + "\n")


@pytest.fixture()
def case() -> Case:
    """The record of the running case."""
    return Case()


@pytest.fixture(scope="session", autouse=True)
def _quiet_logging() -> None:
    """A root handler before any in-process ``main()``: its ``basicConfig`` then does nothing,
    so no logging handler keeps a stream that a test's capture closes."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.NullHandler())


@pytest.fixture(scope="session")
def one_thread() -> None:
    """One torch thread for the in-process runs (the machine is shared)."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    """Every hostile raster (see :mod:`inputs`), in one folder (``hostile["good"].parent``)."""
    if not hostile_inputs.SAMPLE.exists():
        pytest.skip("the shipped sample is missing")
    return hostile_inputs.build_inputs(tmp_path_factory.mktemp("inputs"))


@pytest.fixture(scope="session")
def earlier_run(hostile: Dict[str, Path], tmp_path_factory: pytest.TempPathFactory,
                one_thread: None) -> Path:
    """A complete ``csbsr run`` folder of the good crop (with its report)."""
    from csbsr.core.cli import main

    out = tmp_path_factory.mktemp("earlier") / "run"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(["-q", "run", str(hostile["good"]), "--out", str(out)]) == 0
    return out


def run_cli(argv: List[str], case: Case) -> Any:
    """Run ``csbsr`` in this process; the exit code, or "traceback" when an exception
    escaped (its traceback is kept in ``case.err``)."""
    import traceback

    from csbsr.core.cli import main

    err = io.StringIO()
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            rc: Any = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse usage errors
        rc = exc.code
    except BaseException:
        rc = "traceback"
        err.write(traceback.format_exc())
    case.rc, case.err = rc, err.getvalue()
    return rc


def partials(folder: Path) -> List[str]:
    """Temporary or partial files (and hidden folders) under ``folder``."""
    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if PARTIAL.search(p.name))


def check(case: Case, expected_rc: int, match: Optional[str], *, inputs_before: Dict,
          inputs_dir: Path, outputs: Optional[Path] = None,
          outputs_before: Optional[Dict] = None) -> None:
    """The checks every case makes: the exit code; exactly one ``csbsr: error:`` line
    matching ``match`` (none on success) and no traceback; nothing changed beside the inputs;
    earlier results byte-identical; no partial file left."""
    err = case.err
    assert "Traceback" not in err, err[-3000:]
    assert case.rc == expected_rc, err[-2000:]
    errors = [ln for ln in err.splitlines() if ln.startswith("csbsr: error:")]
    if expected_rc == 2:
        assert len(errors) == 1, err[-2000:]
        if match:
            assert re.search(match, errors[0], re.I), errors[0]
    elif expected_rc == 0:
        assert not errors, err[-2000:]
    assert hostile_inputs.snapshot(inputs_dir) == inputs_before, "files beside the input changed"
    if outputs_before is not None and outputs is not None:
        after = hostile_inputs.snapshot(outputs)
        lost = {k for k, v in outputs_before.items() if after.get(k, (None,))[-1] != v[-1]}
        assert not lost, f"earlier results lost or modified: {sorted(lost)}"
        if expected_rc != 0:
            new = set(after) - set(outputs_before)
            assert not new, f"files of the failed run left: {sorted(new)}"
    if outputs is not None:
        left = partials(outputs)
        assert not left, f"partial files left: {left}"
        case.notes.append("0 partial files")


def copy_run(src: Path, dst: Path) -> Path:
    """A copy of a run folder (what a test may damage)."""
    shutil.copytree(src, dst)
    return dst
