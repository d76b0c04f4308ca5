"""Run the CSBSR engine (the ``csbsr`` command line) in its own Python, out of QGIS's process.

QGIS drives GRASS, SAGA or WhiteboxTools the same way: torch, rasterio, pyproj and the other
wheels with native libraries never load into QGIS (where a second PROJ or GEOS next to
QGIS's own crashes it); the engine runs as a subprocess and reports JSON lines
(``csbsr --progress json``, see ``core/progress.py``). Every csbsr Processing algorithm (and so
the dock, batch, the modeler and ``qgis_process``) goes through :func:`run_engine`.

The API, for algorithms built on top of it (``csbsr:inspectsurvey``, ``csbsr:comparesurveys``):

- :func:`find_engine` -> the engine executable or None; :func:`require_engine` raises a
  ``QgsProcessingException`` that says how to set one up.
- :func:`run_engine` ``(args, feedback)`` -> :class:`EngineResult`: runs
  ``csbsr --progress json <args>``, maps progress/stages/warnings to the feedback, cancels
  the engine (SIGTERM; CTRL_BREAK on Windows) when the feedback is cancelled, and turns exit
  code 2 into a ``QgsProcessingException`` carrying the engine's one-line message. A cancelled
  run returns ``EngineResult(cancelled=True)`` (the engine left nothing behind).
- :func:`probe_engine` -> ``csbsr diagnose`` as a dict (which Python, torch, device).

Where the engine is found, first hit wins: the Processing setting ``CSBSR_ENGINE``
(Settings > Options > Processing > Providers > CSBSR crack inspection), the environment
variable ``CSBSR_ENGINE`` (scripts, tests), the environment the plugin creates
(:func:`default_engine_dir`). The value is the ``csbsr`` executable of a Python environment that
has the csbsr package, or that environment's ``python`` (then ``python -m csbsr.core.cli`` runs).

No torch, no numpy, no GDAL wheels here: only the standard library and ``qgis.core``.
"""
from __future__ import annotations

import collections
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Deque, Dict, List, Optional, Sequence

from qgis.core import QgsProcessingException, QgsSettings

SETTING = "CSBSR_ENGINE"
ENV_VAR = "CSBSR_ENGINE"
#: where the Processing options store the setting (read directly when ProcessingConfig is absent)
SETTINGS_KEY = f"Processing/Configuration/{SETTING}"
#: seconds the engine gets to clean up after a cancel before it is killed
CANCEL_GRACE_S = 30.0
#: variables of QGIS's own Python/GDAL/PROJ that must not leak into the engine's Python
SCRUBBED_ENV = ("PYTHONHOME", "PYTHONPATH", "PYTHONSTARTUP", "PYTHONEXECUTABLE", "PROJ_LIB",
                "PROJ_DATA", "GDAL_DATA", "GDAL_DRIVER_PATH", "QGIS_PREFIX_PATH")
STAGE_LABELS = {"detect": "Detecting cracks", "vectorize": "Measuring crack lines",
                "export": "Writing the crack layers", "report": "Writing the report"}
#: command-line flags in engine messages -> the names a QGIS user sees
FLAG_WORDS = {
    "--gsd-policy native": "the ground resolution policy 'Keep the orthophoto's own "
                           "resolution' (dock: GSD policy)",
    "--overwrite": "'Replace existing outputs'",
    "--no-registration": "the registration 'None: the two are already aligned'",
    "--old-ortho FILE": "the earlier orthophoto parameter",
    "--new-ortho FILE": "the later orthophoto parameter",
    "--bands": "the red/green/blue band parameters",
    "--gsd": "the GSD parameter",
    "--out": "the output folder",
}


def default_engine_dir() -> Path:
    """The folder of the engine environment the plugin creates (one per Python minor)."""
    return Path.home() / ".csbsr" / f"engine-py{sys.version_info[0]}{sys.version_info[1]}"


def venv_executable(venv: Path, name: str) -> Path:
    """``<venv>/bin/<name>`` or, on Windows, ``<venv>\\Scripts\\<name>.exe``."""
    if sys.platform.startswith("win"):
        return venv / "Scripts" / f"{name}.exe"
    return venv / "bin" / name


def setting_value() -> str:
    """The Processing setting ``CSBSR_ENGINE`` ("" when unset)."""
    try:
        from processing.core.ProcessingConfig import ProcessingConfig

        value = ProcessingConfig.getSetting(SETTING)
    except (ImportError, KeyError, AttributeError):
        value = None
    if value in (None, ""):
        value = QgsSettings().value(SETTINGS_KEY, "")
    return str(value or "").strip()


def set_setting(path: str) -> None:
    """Store ``path`` as the Processing setting ``CSBSR_ENGINE``."""
    try:
        from processing.core.ProcessingConfig import ProcessingConfig

        ProcessingConfig.setSettingValue(SETTING, path)
    except (ImportError, KeyError, AttributeError):
        pass
    QgsSettings().setValue(SETTINGS_KEY, path)


def candidates() -> List[tuple]:
    """(source, path) pairs in the order they are tried."""
    out = []
    if setting_value():
        out.append(("Processing setting CSBSR_ENGINE", setting_value()))
    if os.environ.get(ENV_VAR, "").strip():
        out.append(("environment variable CSBSR_ENGINE", os.environ[ENV_VAR].strip()))
    default = venv_executable(default_engine_dir(), "csbsr")
    out.append(("environment created by the plugin", str(default)))
    if sys.platform.startswith("win"):
        out.append(("environment created by the plugin",
                    str(venv_executable(default_engine_dir(), "python"))))
    return out


def is_usable(path: str) -> bool:
    """True when ``path`` is an executable file."""
    p = Path(path)
    return p.is_file() and os.access(str(p), os.X_OK)


def find_engine() -> Optional[str]:
    """The engine executable (see the module doc), or None when none is set up."""
    for _source, path in candidates():
        if is_usable(path):
            return path
    return None


def engine_source() -> str:
    """Where the engine in use comes from (for Diagnostics), or "not set up"."""
    for source, path in candidates():
        if is_usable(path):
            return source
    return "not set up"


def not_found_message() -> str:
    """What to do when no engine is set up."""
    bad = [f"{src}: {path} is not an executable file" for src, path in candidates()[:2]
           if src != "environment created by the plugin"]
    return ("The CSBSR engine is not set up" + (f" ({'; '.join(bad)})" if bad else "") +
            ". Open the CSBSR panel (Raster > CSBSR crack inspection) and click 'Set up "
            "engine...', or set Settings > Options > Processing > Providers > CSBSR crack "
            "inspection > CSBSR engine to the csbsr executable of a Python environment that "
            "has the csbsr package (scripts: the environment variable CSBSR_ENGINE).")


def require_engine() -> str:
    """The engine executable.

    Raises:
        QgsProcessingException: none is set up (the message says how to set one up).
    """
    engine = find_engine()
    if engine is None:
        raise QgsProcessingException(not_found_message())
    return engine


def engine_command(engine: str) -> List[str]:
    """The argv prefix that starts the engine: ``[csbsr]`` or ``[python, -m, csbsr.core.cli]``."""
    name = Path(engine).name.lower()
    if name.startswith("python"):
        return [engine, "-m", "csbsr.core.cli"]
    return [engine]


def engine_environment() -> Dict[str, str]:
    """This process's environment without QGIS's Python/GDAL/PROJ variables."""
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    env.update(PYTHONUNBUFFERED="1", PYTHONIOENCODING="utf-8")
    return env


def plain_words(message: str) -> str:
    """An engine message with its command-line flags named as QGIS shows them."""
    for flag, words in FLAG_WORDS.items():
        if flag in message:
            message = message.replace(f"pass {flag}", f"choose {words}").replace(flag, words)
    return message


@dataclass
class EngineResult:
    """What one engine run produced.

    Attributes:
        outputs: file paths by role (``core.layout.RUN_FILES`` roles for run folders).
        summary: the crack summary (``CrackSummary.as_dict()``) when the command has one.
        data: the whole ``result`` event (``device``, ``seconds``, ``diagnostics``...).
        warnings: the engine's warnings, in order.
        cancelled: the run was cancelled (exit 130); nothing was written.
        seconds: wall time of the subprocess.
    """

    outputs: Dict[str, str] = field(default_factory=dict)
    summary: Dict[str, Any] = field(default_factory=dict)
    data: Dict[str, Any] = field(default_factory=dict)
    warnings: List[str] = field(default_factory=list)
    cancelled: bool = False
    seconds: float = 0.0


class _NullFeedback:
    def isCanceled(self) -> bool:
        return False

    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *a, **k: None


class _Relay:
    """Maps the engine's events onto a ``QgsProcessingFeedback``.

    The log gets each stage once (``setProgressText``, which the Processing dialog also
    logs), each distinct warning once and a progress line at most every ``log_every_s``; the
    progress bar follows every event. A feedback with an ``engineEvent`` signal (the dock's)
    also receives every event, for its live status line (tiles/s, ETA, device).
    """

    def __init__(self, feedback: Any, span: tuple, log_every_s: float) -> None:
        self.feedback = feedback
        self.lo, self.hi = span
        self.log_every_s = log_every_s
        self.stage: Optional[str] = None
        self.device: Optional[str] = None
        self.last_log = time.monotonic()
        self.seen: set = set()
        self.result: Optional[Dict[str, Any]] = None
        self.error: Optional[str] = None
        self.cancelled = False
        self.warnings: List[str] = []
        signal_ = getattr(feedback, "engineEvent", None)
        self.signal = signal_ if hasattr(signal_, "emit") else None

    def handle(self, line: str) -> None:
        try:
            event = json.loads(line)
        except ValueError:
            if line.strip():
                self.feedback.pushDebugInfo(line.rstrip())
            return
        if not isinstance(event, dict):
            return
        kind = event.get("event")
        if self.signal is not None:
            self.signal.emit(event)
        if kind in ("progress", "metrics"):
            self._progress(event)
        elif kind == "status":
            text = str(event.get("text", ""))
            key = text.split(" ", 1)[0]
            if text and key not in ("tile", "tiles") and text not in self.seen:
                self.seen.add(text)
                self.feedback.pushInfo(text)
        elif kind == "warning":
            text = plain_words(str(event.get("text", "")))
            if text and text not in self.warnings:
                self.warnings.append(text)
                self.feedback.pushWarning(text)
        elif kind == "result":
            self.result = event
        elif kind == "error":
            self.error = plain_words(str(event.get("message", "")))
        elif kind == "cancelled":
            self.cancelled = True

    def _progress(self, event: Dict[str, Any]) -> None:
        percent = event.get("percent")
        if isinstance(percent, (int, float)):
            self.feedback.setProgress(self.lo + (self.hi - self.lo) * float(percent) / 100.0)
        stage = event.get("stage")
        device = event.get("device")
        if device and not self.device:
            self.device = str(device)
            self.feedback.pushInfo(f"Device: {device}")
        if stage and stage != self.stage:
            self.stage = stage
            self.feedback.setProgressText(STAGE_LABELS.get(stage, str(stage)))
            self.last_log = time.monotonic()
        elif time.monotonic() - self.last_log >= self.log_every_s and percent is not None:
            self.last_log = time.monotonic()
            self.feedback.pushInfo(_progress_line(event))


def _progress_line(event: Dict[str, Any]) -> str:
    bits = [f"{STAGE_LABELS.get(event.get('stage'), event.get('stage') or 'running')}: "
            f"{float(event.get('percent') or 0):.0f} %"]
    if event.get("tiles_per_s"):
        bits.append(f"{float(event['tiles_per_s']):.2f} tiles/s")
    if event.get("eta_s") is not None:
        bits.append(f"about {_eta(float(event['eta_s']))} left")
    return ", ".join(bits)


def _eta(seconds: float) -> str:
    if seconds != seconds or seconds < 0:
        return "?"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else \
        f"{s // 60}:{s % 60:02d}"


def _popen_kwargs() -> Dict[str, Any]:
    if sys.platform.startswith("win"):
        flags = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0) | getattr(
            subprocess, "CREATE_NO_WINDOW", 0)
        return {"creationflags": flags}
    return {"start_new_session": True}  # a Ctrl-C in QGIS's terminal does not reach it


def _interrupt(proc: subprocess.Popen) -> None:
    """Ask the engine to stop cleanly (it removes its staging folder and exits 130)."""
    try:
        if sys.platform.startswith("win"):
            proc.send_signal(signal.CTRL_BREAK_EVENT)  # type: ignore[attr-defined]
        else:
            proc.send_signal(signal.SIGTERM)
    except (OSError, ValueError):
        pass


def _pump(stream: Any, out: queue.Queue, tag: str,
          tail: Optional[Deque[str]] = None) -> None:
    try:
        for line in iter(stream.readline, ""):
            if tail is not None:
                tail.append(line.rstrip())
            else:
                out.put((tag, line))
    finally:
        out.put((tag, None))


def run_engine(args: Sequence[str], feedback: Any = None, engine: Optional[str] = None,
               span: tuple = (0.0, 100.0), log_every_s: float = 30.0,
               timeout_s: Optional[float] = None) -> EngineResult:
    """Run ``csbsr --progress json <args>`` and relay it to ``feedback``.

    Call it from the algorithm's thread (a Processing worker thread, or the main thread under
    ``qgis_process``): it blocks until the engine ends, polling ``feedback.isCanceled()``.

    Args:
        args: the sub-command and its arguments, e.g. ``["run", ortho, "--out", folder]``.
        feedback: a ``QgsProcessingFeedback`` (or None).
        engine: the engine executable (default: :func:`require_engine`).
        span: the part of the feedback's 0-100 progress this run fills.
        log_every_s: the most frequent progress line in the log (stages always show).
        timeout_s: kill the engine after this long (None: no limit).

    Returns:
        The result; ``cancelled`` is True when the user cancelled (nothing was written).

    Raises:
        QgsProcessingException: the engine reported an error (exit 2: its one-line message,
            which names the fix), could not start, or stopped unexpectedly.
    """
    feedback = feedback if feedback is not None else _NullFeedback()
    engine = engine or require_engine()
    cmd = [*engine_command(engine), "--progress", "json", *[str(a) for a in args]]
    relay = _Relay(feedback, span, log_every_s)
    t0 = time.monotonic()
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=engine_environment(), text=True,
                                encoding="utf-8", errors="replace", bufsize=1,
                                **_popen_kwargs())
    except OSError as exc:
        raise QgsProcessingException(
            f"cannot start the CSBSR engine {engine} ({exc}): check the CSBSR engine setting "
            "(Settings > Options > Processing > Providers) or set the engine up again from "
            "the CSBSR panel") from exc
    lines: queue.Queue = queue.Queue()
    tail: Deque[str] = collections.deque(maxlen=40)
    readers = [threading.Thread(target=_pump, args=(proc.stdout, lines, "out"), daemon=True),
               threading.Thread(target=_pump, args=(proc.stderr, lines, "err", tail),
                                daemon=True)]
    for r in readers:
        r.start()
    open_streams, cancel_sent = 2, None
    try:
        while open_streams:
            if feedback.isCanceled() and cancel_sent is None:
                cancel_sent = time.monotonic()
                _interrupt(proc)
            if cancel_sent is not None and time.monotonic() - cancel_sent > CANCEL_GRACE_S:
                proc.kill()
            if timeout_s is not None and time.monotonic() - t0 > timeout_s:
                proc.kill()
            try:
                tag, line = lines.get(timeout=0.1)
            except queue.Empty:
                continue
            if line is None:
                open_streams -= 1
            elif tag == "out":
                relay.handle(line)
        code = proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        for r in readers:
            r.join(timeout=5)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    seconds = time.monotonic() - t0
    if relay.cancelled or code == 130 or (cancel_sent is not None and code != 0):
        return EngineResult(cancelled=True, warnings=relay.warnings, seconds=seconds)
    if code == 0 and relay.result is not None:
        data = dict(relay.result)
        return EngineResult(outputs=dict(data.get("outputs") or {}),
                            summary=dict(data.get("summary") or {}), data=data,
                            warnings=relay.warnings, seconds=seconds)
    if code == 2 and relay.error:
        raise QgsProcessingException(relay.error)
    detail = " | ".join(x for x in list(tail)[-6:] if x) or "no message"
    what = f"exit code {code}" if code >= 0 else f"killed by signal {-code}"
    raise QgsProcessingException(
        f"the CSBSR engine stopped unexpectedly ({what}): {detail}. QGIS itself is fine; run "
        "CSBSR Diagnostics to check the engine, and report the lines above if it persists")


def probe_engine(engine: Optional[str] = None, device: str = "auto",
                 model: Optional[str] = None, timeout_s: float = 120.0) -> Dict[str, str]:
    """``csbsr diagnose`` of the engine as {label: value} (engine, python, torch, device...).

    Raises:
        QgsProcessingException: no engine, or it failed.
    """
    engine = engine or require_engine()
    args = ["diagnose", "--device", device] + (["--model", model] if model else [])
    res = run_engine(args, None, engine=engine, timeout_s=timeout_s)
    return {str(k): str(v) for k, v in (res.data.get("diagnostics") or {}).items()}


def engine_version(engine: str, timeout_s: float = 30.0) -> str:
    """``csbsr --version`` of ``engine`` (e.g. "csbsr 0.1.0"), or "" when it fails."""
    try:
        out = subprocess.run([*engine_command(engine), "--version"], capture_output=True,
                             text=True, timeout=timeout_s, env=engine_environment(),
                             stdin=subprocess.DEVNULL, **_popen_kwargs())
    except (OSError, subprocess.SubprocessError):
        return ""
    return (out.stdout or out.stderr).strip()
