"""Peak memory of tiled inference, estimated before a run (so a run that cannot fit is
refused with the parameter to lower, instead of exhausting the machine).

The network's activations grow with the HR pixels of a tile: :func:`activation_elements`
counts, on a small input, the elements every layer outputs per HR pixel; the peak of an
inference-mode forward holds about ``PEAK_BYTES_PER_ELEMENT`` bytes per counted element
(measured for the lite and lite2 models in fp32 and bf16 on CPU: 0.7-1.1 bytes; the constant
keeps a margin). Weights and the strip buffers are small beside it.
"""
from __future__ import annotations

from typing import Any, Tuple

PEAK_BYTES_PER_ELEMENT = 1.4
#: share of the free memory a run may plan to use
MEMORY_SHARE = 0.8


def activation_elements(net: Any) -> float:
    """Elements output by the network's layers per HR pixel (cached on the network)."""
    cached = getattr(net, "_csbsr_act_per_hr_px", None)
    if cached is not None:
        return float(cached)
    import torch

    total = [0]

    def hook(mod: Any, inp: Any, out: Any) -> None:
        if isinstance(out, torch.Tensor) and not list(mod.children()):
            total[0] += out.numel()

    handles = [m.register_forward_hook(hook) for m in net.modules()]
    scale = int(getattr(net, "scale", 1) or 1)
    try:
        with torch.inference_mode():
            param = next(net.parameters(), None)
            x = torch.rand(1, 3, 16, 16, device=param.device if param is not None else "cpu")
            net(x)
    finally:
        for h in handles:
            h.remove()
    per = total[0] / float((16 * scale) ** 2)
    try:
        net._csbsr_act_per_hr_px = per
    except AttributeError:  # not a settable object: recompute next time
        pass
    return per


def estimate_peak_bytes(net: Any, tile_shape: Tuple[int, int], scale: int, batch: int) -> int:
    """Bytes one batch of ``batch`` tiles of ``tile_shape`` LR px (halo included) needs."""
    h, w = tile_shape
    params = sum(p.numel() * p.element_size() for p in net.parameters())
    acts = activation_elements(net) * PEAK_BYTES_PER_ELEMENT * batch * (h * scale) * (w * scale)
    return int(acts + 2 * params)


def fits(need: int, free: Any) -> bool:
    """True when ``need`` bytes fit in the share of ``free`` a run may use (unknown: True)."""
    return free is None or need <= MEMORY_SHARE * float(free)
