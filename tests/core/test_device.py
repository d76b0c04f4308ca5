"""Device resolution: the CPU path here, clear errors for an unavailable GPU."""
from __future__ import annotations

import pytest
import torch
from csbsr.core.device import autocast, cpu_bf16_native, resolve_device
from csbsr.core.errors import DeviceError


def test_cpu_choice_says_why() -> None:
    choice = resolve_device("cpu")
    assert choice.torch_device == "cpu" and not choice.is_gpu
    assert choice.precision == ("bf16" if cpu_bf16_native() else "fp32")
    assert "CPU requested" in choice.reason
    assert choice.description.startswith("CPU:")


def test_auto_falls_back_to_cpu_without_cuda() -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    choice = resolve_device("auto")
    assert choice.torch_device == "cpu"
    assert "no CUDA device found" in choice.description


def test_forced_precision_and_invalid_values() -> None:
    assert resolve_device("cpu", "fp32").precision == "fp32"
    with pytest.raises(DeviceError, match="only supported on GPU"):
        resolve_device("cpu", "fp16")
    with pytest.raises(DeviceError, match="unknown device"):
        resolve_device("tpu")
    with pytest.raises(DeviceError, match="unknown precision"):
        resolve_device("cpu", "int8")


def test_requesting_a_missing_gpu_is_a_clear_error() -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(DeviceError, match="--device cpu"):
        resolve_device("cuda")


def test_autocast_bf16_on_cpu_runs_a_conv() -> None:
    choice = resolve_device("cpu", "bf16")
    conv = torch.nn.Conv2d(3, 4, 3)
    with torch.inference_mode(), autocast(choice):
        y = conv(torch.rand(1, 3, 8, 8))
    assert y.dtype == torch.bfloat16


@pytest.mark.gpu
def test_cuda_device_is_chosen_automatically() -> None:
    choice = resolve_device("auto")
    assert choice.is_gpu and choice.description.startswith("CUDA:")
