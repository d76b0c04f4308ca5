"""The ``csbsr`` command line: argparse, logging set-up, and error-to-exit-code mapping.

Each sub-command lives in ``core/commands/<name>.py`` and exposes ``register(subparsers)``,
which adds its parser and sets ``func(args, progress) -> int``. Heavy imports (torch,
rasterio...) happen inside ``func`` so ``csbsr --help`` stays fast.

Exit codes: 0 success, 2 a user error (one line naming the problem and the fix; the full
traceback with ``--debug``; an operating-system error such as a full disk or a folder
without write permission is one too), 130 cancelled (Ctrl-C, SIGTERM or, on Windows,
CTRL_BREAK), no partial outputs left behind. Further signals while the run cleans up, or
after the outcome is decided, change nothing: the exit code stays 130. ``--progress json``
writes progress, warnings, the result and any error as JSON lines on stdout
(:class:`~.progress.JsonLinesProgress`): that is how the QGIS plugin drives the engine in its
own process.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import io
import logging
import signal
import sys
from typing import List, Optional

from . import __version__
from .errors import Cancelled, CsbsrError
from .progress import ConsoleProgress, JsonLinesProgress

COMMAND_MODULES = (
    "model_info",
    "train",
    "evaluate",
    "detect",
    "run",
    "vectorize",
    "report",
    "diagnose",
    "compare",
    "survey",
)


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every available sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="csbsr",
        description="CSBSR crack inspection: blind super-resolution + crack segmentation "
        "over georeferenced orthophotos, vectorized into measured crack lines.",
    )
    parser.add_argument("--version", action="version", version=f"csbsr {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--progress", choices=("bar", "json", "none"), default="bar",
                        help="progress display: a bar on stderr (default), JSON lines on "
                        "stdout (for a calling program), or none")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        modname = f"{__package__}.commands.{name}"
        if importlib.util.find_spec(modname) is None:
            continue
        importlib.import_module(modname).register(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command line; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.debug:  # GDAL wrappers log every write at INFO
        for noisy in ("pyogrio", "rasterio", "fiona", "numba", "distributed"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    json_mode = args.progress == "json"
    progress: ConsoleProgress = JsonLinesProgress() if json_mode else ConsoleProgress()
    if args.quiet or args.progress == "none":
        progress.stream = io.StringIO()  # discarded: nothing to open or close
        progress.warn_stream = sys.stderr  # warnings are never discarded

    def _on_signal(signum: int, frame: object) -> None:
        progress.cancel()  # every stage checks it; clean-up always runs before the exit

    previous = {}
    # SIGBREAK: what a parent process can send on Windows (CTRL_BREAK_EVENT) to cancel
    signals = [signal.SIGINT, signal.SIGTERM]
    if hasattr(signal, "SIGBREAK"):
        signals.append(signal.SIGBREAK)
    for sig in signals:
        try:
            previous[sig] = signal.getsignal(sig)
            signal.signal(sig, _on_signal)
        except ValueError:  # not the main thread (e.g. called from a test thread)
            previous.pop(sig, None)
    try:
        return int(args.func(args, progress) or 0)
    except (Cancelled, KeyboardInterrupt):
        _end_line(progress, json_mode)
        if json_mode:
            progress.emit("cancelled", exit_code=130)  # type: ignore[attr-defined]
        print("csbsr: cancelled; no partial outputs were left", file=sys.stderr)
        return 130
    except (CsbsrError, OSError) as exc:
        if args.debug:
            raise
        message = str(exc) if isinstance(exc, CsbsrError) else _os_error_message(exc)
        _end_line(progress, json_mode)
        if json_mode:
            progress.emit("error", message=message, exit_code=2)  # type: ignore[attr-defined]
        print(f"csbsr: error: {message}", file=sys.stderr)
        return 2
    finally:
        for sig, handler in previous.items():
            # the process's own command line: the outcome is decided, so a late signal (a
            # second Ctrl-C) must not end the process by the signal instead of this exit code
            signal.signal(sig, signal.SIG_IGN if argv is None else handler)


def _os_error_message(exc: OSError) -> str:
    """One line on an operating-system error (no space left, permission denied, an I/O
    error of GDAL), naming the file and what to check."""
    where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
    what = exc.strerror or str(exc) or type(exc).__name__
    return (f"{what}{where}: check that the file is readable, that the output folder is "
            "writable and that the disk has free space; nothing of this run was kept")


def _end_line(progress: ConsoleProgress, json_mode: bool) -> None:
    if not json_mode:
        progress.stream.write("\n")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
