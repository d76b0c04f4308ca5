"""Run the ``csbsr`` command line with one stage held open (tests only), so a test can send a
signal, or kill the process, while that stage is running.

``CSBSR_HOLD=detect|vectorize|report`` wraps that stage's function: it prints
``HOLD <stage>`` on stderr, then waits (up to ``CSBSR_HOLD_S`` seconds, default 30) until the
run is cancelled, then runs the real stage, which must honour the cancel. Usage:
``python hold_stage.py <csbsr arguments>``.
"""
from __future__ import annotations

import os
import sys
import time
from typing import Any, Callable


def _hold(stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def held(*args: Any, **kwargs: Any) -> Any:
        progress = next((a for a in (*args, *kwargs.values()) if hasattr(a, "is_cancelled")),
                        None)
        sys.stderr.write(f"HOLD {stage}\n")
        sys.stderr.flush()
        end = time.monotonic() + float(os.environ.get("CSBSR_HOLD_S", "30"))
        while time.monotonic() < end and not (progress and progress.is_cancelled()):
            time.sleep(0.02)
        return fn(*args, **kwargs)

    return held


def main() -> int:
    """Patch the held stage, then run the command line."""
    import csbsr.core.report.html as html
    import csbsr.core.run as run
    import csbsr.core.vectorize.api as api
    from csbsr.core.cli import main as cli_main

    stage = os.environ.get("CSBSR_HOLD", "")
    if stage == "detect":
        run.detect = _hold(stage, run.detect)
    elif stage == "vectorize":
        api.vectorize_raster = _hold(stage, api.vectorize_raster)
    elif stage == "report":
        html.write_html_report = _hold(stage, html.write_html_report)
    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
