"""Resolve the compute device and precision: the only module that names CUDA.

``resolve_device("auto")`` picks the first CUDA GPU when one is usable and the CPU
otherwise, and says which it chose and why. On CPU, bf16 autocast is only chosen when the
CPU has native bf16 instructions (AMX or AVX512-BF16): on AVX2-only CPUs bf16 is emulated
and several times *slower* than fp32.
"""
from __future__ import annotations

import contextlib
import os
import platform
from dataclasses import dataclass
from typing import Iterator, Optional

from .errors import DeviceError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass(frozen=True)
class DeviceChoice:
    """The resolved device.

    Attributes:
        torch_device: string for ``torch.device`` ("cpu", "cuda:0", ...).
        kind: "cpu" or "gpu".
        precision: "fp32", "bf16" or "fp16" (autocast dtype; fp32 = no autocast).
        description: for users, e.g. "CUDA: NVIDIA A100 (80 GB)" or "CPU: 2 threads, bf16".
        reason: why this device and precision were chosen.
    """

    torch_device: str
    kind: str
    precision: str
    description: str
    reason: str

    @property
    def is_gpu(self) -> bool:
        """True when the device is a GPU."""
        return self.kind == "gpu"


def cpu_bf16_native() -> bool:
    """Return True if the CPU executes bf16 matmuls natively (AMX-BF16 or AVX512-BF16)."""
    if platform.system() != "Linux":
        return False
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool({"amx_bf16", "avx512_bf16"} & flags)
    except OSError:
        return False
    return False


def _cuda_available() -> bool:
    import torch

    try:
        return bool(torch.cuda.is_available())
    except RuntimeError:  # a broken driver raises on query
        return False


def _gpu_description(index: int) -> str:
    import torch

    props = torch.cuda.get_device_properties(index)
    return f"CUDA: {props.name} ({props.total_memory / 2**30:.0f} GB)"


def resolve_device(spec: str = "auto", precision: str = "auto") -> DeviceChoice:
    """Resolve ``auto | cpu | cuda | cuda:N`` and a precision into a :class:`DeviceChoice`.

    Args:
        spec: the requested device.
        precision: "auto" (bf16 on GPUs and on CPUs with native bf16, else fp32), or a
            forced "fp32" / "bf16" / "fp16" (fp16 only on GPU).

    Raises:
        DeviceError: when a GPU is requested but none is usable, or the spec is unknown.
    """
    import torch

    spec = (spec or "auto").strip().lower()
    if precision not in PRECISIONS:
        raise DeviceError(f"unknown precision {precision!r}; use one of {PRECISIONS}")
    if spec == "auto":
        if _cuda_available():
            return _gpu_choice(0, precision, "a CUDA GPU is available")
        return _cpu_choice(precision, "no CUDA device found")
    if spec == "cpu":
        return _cpu_choice(precision, "CPU requested")
    if spec == "cuda" or spec.startswith("cuda:") or spec == "gpu":
        index = 0
        if ":" in spec:
            try:
                index = int(spec.split(":", 1)[1])
            except ValueError as exc:
                raise DeviceError(f"bad device {spec!r}: use cuda or cuda:N") from exc
        if not _cuda_available():
            raise DeviceError(
                "a CUDA GPU was requested but torch sees none "
                f"(torch {torch.__version__}, built for CUDA {torch.version.cuda}); "
                "install the CUDA build of torch (see README, 'GPU') or use --device cpu"
            )
        if index >= torch.cuda.device_count():
            raise DeviceError(
                f"cuda:{index} requested but only {torch.cuda.device_count()} GPU(s) exist"
            )
        return _gpu_choice(index, precision, "CUDA requested")
    raise DeviceError(f"unknown device {spec!r}; use auto, cpu, cuda or cuda:N")


def _cpu_choice(precision: str, why: str) -> DeviceChoice:
    import torch

    threads = torch.get_num_threads()
    native = cpu_bf16_native()
    if precision == "auto":
        precision = "bf16" if native else "fp32"
        prec_why = ("the CPU has native bf16 (AMX/AVX512-BF16)" if native
                    else "the CPU lacks native bf16, where bf16 would be slower")
    elif precision == "fp16":
        raise DeviceError("fp16 is only supported on GPU; use fp32 or bf16 on CPU")
    else:
        prec_why = f"{precision} requested"
    return DeviceChoice(
        torch_device="cpu", kind="cpu", precision=precision,
        description=f"CPU: {threads} threads, {precision}" + ("" if why != "no CUDA device found"
                                                             else " (no CUDA device found)"),
        reason=f"{why}; {prec_why}",
    )


def _gpu_choice(index: int, precision: str, why: str) -> DeviceChoice:
    import torch

    if precision == "auto":
        precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return DeviceChoice(
        torch_device=f"cuda:{index}", kind="gpu", precision=precision,
        description=_gpu_description(index), reason=why,
    )


def autocast(choice: DeviceChoice) -> contextlib.AbstractContextManager:
    """Return the autocast context for ``choice`` (a no-op for fp32)."""
    import torch

    if choice.precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if choice.precision == "bf16" else torch.float16
    return torch.autocast(device_type="cuda" if choice.is_gpu else "cpu", dtype=dtype)


def is_out_of_memory(exc: BaseException) -> bool:
    """True when ``exc`` is a GPU out-of-memory error (the caller may halve its batch)."""
    import torch

    oom = getattr(torch.cuda, "OutOfMemoryError", None)
    if oom is not None and isinstance(exc, oom):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def empty_cache(choice: DeviceChoice) -> None:
    """Release cached GPU memory after an out-of-memory error."""
    import torch

    if choice.is_gpu:
        torch.cuda.empty_cache()


def cuda_summary() -> str:
    """One line on torch's CUDA build and visible GPUs, for diagnostics."""
    import torch

    if not _cuda_available():
        build = torch.version.cuda or "none"
        return f"torch {torch.__version__}: CUDA build {build}, no usable GPU"
    names = ", ".join(_gpu_description(i) for i in range(torch.cuda.device_count()))
    return f"torch {torch.__version__}: CUDA {torch.version.cuda}, {names}"


@contextlib.contextmanager
def torch_threads(n: Optional[int]) -> Iterator[None]:
    """Temporarily set torch's intra-op thread count (None = leave it)."""
    import torch

    if not n:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def default_threads() -> int:
    """Physical-ish core count used for CPU inference."""
    return max(1, os.cpu_count() or 1)


def free_memory_bytes(choice: DeviceChoice) -> Optional[int]:
    """Memory a run can still use on the chosen device, in bytes (None when unknown): the
    GPU's free memory, or the system's available memory (``MemAvailable``) on the CPU."""
    if choice.is_gpu:
        import torch

        free, _total = torch.cuda.mem_get_info(torch.device(choice.torch_device))
        return int(free)
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        return None


#: glibc ``mallopt`` parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
_allocator_tuned = False


def keep_freed_memory() -> bool:
    """Let glibc's malloc reuse freed blocks instead of handing big ones back to the OS.

    A tile's HR feature maps are 10-120 MB each; glibc serves every block over 32 MB (its
    largest mmap threshold) with a fresh ``mmap`` and unmaps it on free, so every forward pass
    page-faults its whole working set in again (about 650,000 minor faults, a third of the
    time of a 304 x 304 LR tile of lite2 on 2 cores). With mmap off and trimming at 2 GB the
    blocks stay in the heap and are reused: no faults after the first tile; the process keeps
    its peak memory until it ends (a run's engine process ends with the run).

    Linux with glibc only (elsewhere, or with ``CSBSR_MALLOC=system``, nothing changes).
    Process-wide and idempotent. Returns whether the tuning is in effect.
    """
    global _allocator_tuned
    if _allocator_tuned:
        return True
    if platform.system() != "Linux" or os.environ.get("CSBSR_MALLOC", "") == "system":
        return False
    try:
        import ctypes

        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (musl...)
        return False
    _allocator_tuned = bool(mallopt(_M_MMAP_MAX, 0)) and bool(
        mallopt(_M_TRIM_THRESHOLD, 2 ** 31 - 1))
    return _allocator_tuned
