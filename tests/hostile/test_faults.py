"""Faults during a run: signals at each stage (a real process), kill -9 then a rerun, a full
disk part-way with --overwrite, inputs that must run (geographic CRS, unicode paths, nothing
to detect), and memory-bound parameters."""
from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest
from conftest import check, copy_run, partials, run_cli
from inputs import huge_sparse, snapshot

HOLD = Path(__file__).with_name("hold_stage.py")


def _env() -> Dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def _held_run(argv: List[Any], stage: str, send: Any, case: Any) -> subprocess.Popen:
    """Start ``csbsr`` with ``stage`` held, then ``send(process)`` once it is held."""
    proc = subprocess.Popen([sys.executable, str(HOLD), *[str(a) for a in argv]],
                            env={**_env(), "CSBSR_HOLD": stage}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    head = []
    assert proc.stderr is not None
    for line in proc.stderr:
        head.append(line)
        if line.startswith(f"HOLD {stage}"):
            break
    send(proc)
    rest = proc.stderr.read()
    proc.wait(timeout=120)
    case.rc, case.err = proc.returncode, "".join(head) + rest
    return proc


def _signals(*sigs: int, gap_s: float = 0.02) -> Any:
    def send(proc: subprocess.Popen) -> None:
        for s in sigs:
            proc.send_signal(s)
            time.sleep(gap_s)
    return send


def _burst(proc: subprocess.Popen) -> None:
    """SIGINT every 10 ms until the process ends (hits the clean-up and the exit too)."""
    end = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < end:
        proc.send_signal(signal.SIGINT)
        time.sleep(0.01)


SIGNAL_CASES = [
    ("sigint-detect", "detect", _signals(signal.SIGINT), "SIGINT during detection"),
    ("sigterm-detect", "detect", _signals(signal.SIGTERM), "SIGTERM during detection"),
    ("sigint-vectorize", "vectorize", _signals(signal.SIGINT), "SIGINT during vectorization"),
    ("sigterm-vectorize", "vectorize", _signals(signal.SIGTERM),
     "SIGTERM during vectorization"),
    ("sigint-report", "report", _signals(signal.SIGINT), "SIGINT while writing the report"),
    ("sigterm-report", "report", _signals(signal.SIGTERM), "SIGTERM while writing the report"),
    ("double-sigint-detect", "detect", _signals(signal.SIGINT, signal.SIGINT),
     "two quick SIGINTs during detection"),
    ("sigint-burst-detect", "detect", _burst,
     "SIGINT every 10 ms from detection until the process ends"),
    ("sigint-then-sigterm", "vectorize", _signals(signal.SIGINT, signal.SIGTERM),
     "SIGINT then SIGTERM during vectorization"),
]


#: SIGTERM goes through the same handler as SIGINT: after detection it runs with make test-all
SLOW_SIGNALS = ("sigterm-vectorize", "sigterm-report")


@pytest.mark.parametrize("stage,send,what", [
    pytest.param(*c[1:], marks=pytest.mark.slow) if c[0] in SLOW_SIGNALS else c[1:]
    for c in SIGNAL_CASES], ids=[c[0] for c in SIGNAL_CASES])
def test_signal_cancels_and_keeps_earlier_results(stage: str, send: Any, what: str, case: Any,
                                                  hostile: Dict[str, Path], earlier_run: Path,
                                                  tmp_path: Path) -> None:
    case.describe("csbsr run --overwrite (process)", what + ", over earlier results",
                  "exit 130, earlier results kept")
    run = copy_run(earlier_run, tmp_path / "earlier")
    inputs_dir = hostile["good"].parent
    before_in, before_out = snapshot(inputs_dir), snapshot(run)
    _held_run(["-q", "run", hostile["good"], "--out", run, "--overwrite"], stage, send, case)
    check(case, 130, None, inputs_before=before_in, inputs_dir=inputs_dir, outputs=run,
          outputs_before=before_out)
    assert "csbsr: cancelled" in case.err


def test_kill9_then_rerun_removes_the_stale_files_and_says_so(case: Any,
                                                              hostile: Dict[str, Path],
                                                              tmp_path: Path) -> None:
    case.describe("csbsr run (process)", "kill -9 during vectorization, then the same run",
                  "the rerun removes the stale staging folder, says so, exit 0")
    out = tmp_path / "out"
    inputs_dir = hostile["good"].parent
    before_in = snapshot(inputs_dir)
    argv = ["-q", "run", hostile["good"], "--out", out, "--no-report"]
    _held_run(argv, "vectorize", lambda p: p.kill(), case)
    assert case.rc == -signal.SIGKILL
    assert partials(out), "kill -9 should leave the staging folder (what the rerun cleans)"
    res = subprocess.run([sys.executable, "-m", "csbsr.core.cli", *map(str, argv)],
                         env=_env(), capture_output=True, text=True, timeout=300)
    case.rc, case.err = res.returncode, res.stderr
    check(case, 0, None, inputs_before=before_in, inputs_dir=inputs_dir, outputs=out)
    assert "removed the unfinished files of an earlier interrupted run" in res.stderr
    assert (out / "good_cracks.gpkg").is_file()


def test_kill9_of_vectorize_then_rerun(case: Any, earlier_run: Path, tmp_path: Path) -> None:
    case.describe("csbsr vectorize", "hidden .tmp.gpkg / .partial files of a killed run "
                  "beside --out", "removed and said, exit 0")
    out = tmp_path / "lines.gpkg"
    stale = [tmp_path / ".lines.k3j9x2ab.tmp.gpkg", tmp_path / ".lines.gpkg.x1y2z3.partial"]
    for p in stale:
        p.write_bytes(b"half-written")
    keep = tmp_path / ".hidden_user_file"
    keep.write_text("mine")
    run_cli(["vectorize", earlier_run / "good_prob.tif", "--out", out], case)
    assert case.rc == 0 and out.is_file(), case.err
    assert not any(p.exists() for p in stale) and keep.exists()
    assert case.err.count("an unfinished file of an earlier interrupted run") == 2


def test_disk_full_during_the_report_keeps_earlier_results(case: Any, hostile: Dict[str, Path],
                                                           earlier_run: Path, tmp_path: Path,
                                                           monkeypatch: Any,
                                                           one_thread: None) -> None:
    import csbsr.core.report.html as html

    case.describe("csbsr run --overwrite", "the disk fills up while the report is written "
                  "(after detection and vectorization)", "exit 2, earlier results kept")

    def full(*_a: Any, **_k: Any) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "x.html"))

    monkeypatch.setattr(html, "write_html_report", full)
    run = copy_run(earlier_run, tmp_path / "earlier")
    inputs_dir = hostile["good"].parent
    before_in, before_out = snapshot(inputs_dir), snapshot(run)
    run_cli(["run", hostile["good"], "--out", run, "--overwrite"], case)
    check(case, 2, "No space left", inputs_before=before_in, inputs_dir=inputs_dir,
          outputs=run, outputs_before=before_out)


RUNS_OK = [
    ("wgs84", "EPSG:4326 at ~8 mm/px (geographic: measured on the ellipsoid)"),
    ("nan", "float raster of NaN only"),
    ("nodata", "nodata-only raster"),
    ("tiny", "4 x 4 px raster"),
]


@pytest.mark.parametrize("name,what", RUNS_OK, ids=[f"run-ok-{n}" for n, _ in RUNS_OK])
def test_runs_cleanly(name: str, what: str, case: Any, hostile: Dict[str, Path],
                      tmp_path: Path, one_thread: None) -> None:
    case.describe("csbsr run", what, "exit 0, a complete run folder")
    out = tmp_path / "out"
    inputs_dir = hostile["good"].parent
    before_in = snapshot(inputs_dir)
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        run_cli(["-q", "run", hostile[name], "--out", out, "--no-report"], case)
    check(case, 0, None, inputs_before=before_in, inputs_dir=inputs_dir, outputs=out)
    assert (out / f"{name}_cracks.gpkg").is_file() and (out / f"{name}_summary.json").is_file()
    # no numpy noise such as "invalid value encountered in cast" for the user
    assert not [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]


def test_unicode_and_space_paths(case: Any, hostile: Dict[str, Path], tmp_path: Path,
                                 one_thread: None) -> None:
    import shutil

    case.describe("csbsr run", "input and --out with spaces and non-ASCII letters",
                  "exit 0, names kept")
    folder = tmp_path / "Brücke Nord - ортофото"
    folder.mkdir()
    src = Path(shutil.copyfile(hostile["good"], folder / "Überbau 1 Ø.tif"))
    before_in = snapshot(folder)
    out = tmp_path / "résultats 2024"
    run_cli(["-q", "run", src, "--out", out, "--no-report"], case)
    check(case, 0, None, inputs_before=before_in, inputs_dir=folder, outputs=out)
    assert (out / "Überbau 1 Ø_cracks.gpkg").is_file()


def test_huge_tiles_are_refused_before_any_work(case: Any, tmp_path: Path,
                                                one_thread: None) -> None:
    case.describe("csbsr run", "sparse 200000 x 200000 px raster, --tile-px 8192 --batch 64",
                  "exit 2 naming the parameter to lower, before any allocation")
    folder = tmp_path / "in"
    folder.mkdir()
    src = huge_sparse(folder / "huge.tif")
    before_in = snapshot(folder)
    out = tmp_path / "out"
    run_cli(["run", src, "--out", out, "--tile-px", "8192", "--batch", "64"], case)
    check(case, 2, "--tile-px|--batch", inputs_before=before_in, inputs_dir=folder,
          outputs=out, outputs_before={})
    assert not out.exists()


def test_overlap_1024_on_a_small_raster_is_bounded(case: Any, hostile: Dict[str, Path],
                                                   tmp_path: Path) -> None:
    case.describe("csbsr run (process)", "--overlap-px 1024 on a 96 px raster",
                  "halo capped at the raster: exit 0, peak memory < 2 GB")
    out, hwm = tmp_path / "out", tmp_path / "vmhwm_kb"
    # the run's own peak: VmHWM of its address space after exec, written when it exits
    # (getrusage's ru_maxrss of a child also counts the pytest process it was forked from)
    wrapper = ("import atexit, sys\n"
               "def hwm():\n"
               "    kb = [ln.split()[1] for ln in open('/proc/self/status') "
               "if ln.startswith('VmHWM')][0]\n"
               "    open(sys.argv[1], 'w').write(kb)\n"
               "atexit.register(hwm)\n"
               "from csbsr.core.cli import main\n"
               "sys.exit(main(sys.argv[2:]))\n")
    proc = subprocess.run([sys.executable, "-c", wrapper, str(hwm), "-q", "run",
                           str(hostile["good"]), "--out", str(out), "--no-report",
                           "--overlap-px", "1024"], env=_env(), stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, timeout=300, check=False)
    case.rc, case.err = proc.returncode, proc.stderr
    assert case.rc == 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    peak_gb = int(hwm.read_text()) / 1e6  # kB
    case.notes.append(f"peak RSS of the run {peak_gb:.2f} GB")
    assert peak_gb < 2.0
