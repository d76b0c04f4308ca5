"""Device resolution: the CPU path here, clear errors for an unavailable GPU."""
from __future__ import annotations

import json
import os
import subprocess
import sys

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


_FAULTS = """
import json, resource, sys
import torch
from csbsr.core.device import keep_freed_memory
tuned = keep_freed_memory()
assert keep_freed_memory() == tuned  # idempotent
faults = []
for _ in range(20):  # a forward pass's feature maps, again and again
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    x = torch.empty(40 * 2 ** 20 // 4)  # a 40 MB block, over glibc's largest mmap threshold
    x.fill_(1.0)
    del x
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
print(json.dumps({"tuned": tuned, "faults": faults}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
@pytest.mark.parametrize("setting", ["", "system"])
def test_freed_feature_maps_are_reused_without_page_faults(setting: str) -> None:
    env = {**os.environ, "CSBSR_MALLOC": setting}
    out = subprocess.run([sys.executable, "-c", _FAULTS], env=env, capture_output=True,
                         text=True, check=True).stdout
    res = json.loads(out.strip().splitlines()[-1])
    pages = 40 * 2 ** 20 // 4096
    steady = res["faults"][-5:]  # glibc settles within a few blocks
    if setting == "system":  # glibc's default: every 40 MB block is mapped and faulted anew
        assert res["tuned"] is False and min(steady) > pages // 2
    else:
        assert res["tuned"] is True and max(steady) < pages // 20
