"""The command line: help, model-info JSON, error exit codes."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from csbsr.core.cli import main

REPO = Path(__file__).resolve().parents[3]
CSBSR = REPO / ".venv" / "bin" / "csbsr"


def test_help_runs_as_a_console_script() -> None:
    if not CSBSR.exists():
        pytest.skip("console script not installed (run make setup)")
    res = subprocess.run([str(CSBSR), "--help"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0
    assert "model-info" in res.stdout


def test_model_info_lite_json(capsys: pytest.CaptureFixture) -> None:
    assert main(["model-info", "--config", "lite", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert set(info) >= {"params_sr", "params_seg", "params_total", "gflops_per_64px_lr"}
    assert info["params_total"] == info["params_sr"] + info["params_seg"] + info["params_blurskip"]
    assert 1.0 < info["gflops_per_64px_lr"] < 20.0


def test_model_info_on_a_missing_model_exits_2(tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    assert main(["model-info", "--model", str(tmp_path / "none.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "error" in err and "not found" in err and len(err.strip().splitlines()) == 1


def test_unknown_command_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 2


def test_progress_json_lines_carry_stages_metrics_and_the_result(tmp_path) -> None:
    """What the QGIS plugin reads from an engine process: one JSON object per line."""
    if not CSBSR.exists():
        pytest.skip("console script not installed (run make setup)")
    import rasterio
    from rasterio.windows import Window

    sample = tmp_path / "crop.tif"  # a real 160 px piece of the sample: 9 tiles of 64 px
    with rasterio.open(REPO / "resources" / "sample" / "sample_ortho.tif") as src:
        win = Window(160, 160, 160, 160)
        prof = {**src.profile, "width": 160, "height": 160,
                "transform": src.window_transform(win)}
        with rasterio.open(sample, "w", **prof) as dst:
            dst.write(src.read(window=win))
    out = tmp_path / "run"
    res = subprocess.run([str(CSBSR), "--progress", "json", "run", str(sample), "--out",
                          str(out), "--tile-px", "64", "--no-report"],
                         capture_output=True, text=True, timeout=600,
                         env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr[-2000:]
    events = [json.loads(line) for line in res.stdout.splitlines()]
    stages = [e["stage"] for e in events if e["event"] == "metrics"]
    assert stages == ["detect", "vectorize", "export"]
    prog = [e for e in events if e["event"] == "progress"]
    assert prog and prog[-1]["percent"] == 100.0
    assert any("tiles_per_s" in e and "eta_s" in e and "device" in e for e in prog)
    done = events[-1]
    assert done["event"] == "result" and Path(done["outputs"]["cracks"]).is_file()
    assert done["summary"]["total_len_m"] >= 0


def test_progress_json_reports_a_bad_input_as_one_error_event(tmp_path) -> None:
    if not CSBSR.exists():
        pytest.skip("console script not installed (run make setup)")
    bad = tmp_path / "not_a_raster.tif"
    bad.write_text("hello")
    res = subprocess.run([str(CSBSR), "--progress", "json", "run", str(bad), "--out",
                          str(tmp_path / "o")], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    last = json.loads(res.stdout.splitlines()[-1])
    assert last["event"] == "error" and last["exit_code"] == 2 and "not_a_raster" in \
        last["message"]
    assert len(res.stderr.strip().splitlines()) == 1  # one line for a human, no traceback
