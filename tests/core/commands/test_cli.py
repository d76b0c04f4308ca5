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
