"""Image degradation: blur kernels, blur, bicubic down-scaling and the named protocols.

Everything here is a pure function of its inputs and an explicit ``numpy.random.Generator``
(no global random state), so a degraded sample is reproducible from its seed.

Conventions:
    * Images are float32 torch tensors (B, 3, H, W) in [0, 1] (HR) on any device.
    * Kernels are (B, k, k) float32, non-negative, summing to 1, in HR pixels; the blur is a
      cross-correlation (``conv2d``), as in the reference.
    * ``scale`` is the integer SR factor; H and W must be multiples of it.

Protocols (selected by name with :func:`degrade`):
    * ``"paper"``: anisotropic Gaussian 21x21 kernel (sigma_x, sigma_y ~ U(0.2, 4.0) HR px,
      theta ~ U(0, pi)), blur (reflect padding; ``padding="zero"`` reproduces the
      reference exactly), bicubic down-scale with explicit ``antialias=True``.
    * ``"realistic"``: a drone / road-camera model on top: exposure change (gain and gamma)
      of the scene, a slight linear motion blur folded into the 21x21 kernel (so the true
      kernel stays known), the paper's down-scale, signal-dependent sensor noise and JPEG
      compression; the LR is clamped and quantised to 8 bit. The HR target carries the
      same exposure change (the camera saw that scene), nothing else. Its sensor part is a
      :class:`Camera` (noise on/off, JPEG quality range), so a study can switch one part off
      and keep every other random draw (``scripts/degradation_study.py``).

The fixed evaluation set (:func:`fixed_degradation`) is a deterministic function of
(dataset, stem, seed, protocol): every evaluation of every model sees the same LR input.
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Tuple

import numpy as np

from ..errors import InvalidInputError

if TYPE_CHECKING:  # pragma: no cover
    import torch

KERNEL_SIZE = 21
SIGMA_RANGE = (0.2, 4.0)
PROTOCOLS = ("paper", "realistic")
PADDINGS = ("reflect", "zero")
TEST_SEED = 5


def anisotropic_gaussian_kernel(
    sigma_x: float, sigma_y: float, theta: float, size: int = KERNEL_SIZE
) -> np.ndarray:
    """Return one anisotropic Gaussian kernel, normalised to sum 1.

    Density ∝ exp(-(a x² + 2 b x y + c y²)) on the grid -size//2..size//2 (x = column,
    y = row), with a, b, c from (sigma_x, sigma_y, theta) as in the reference.

    Args:
        sigma_x: standard deviation along the rotated x axis, HR pixels (> 0).
        sigma_y: standard deviation along the rotated y axis, HR pixels (> 0).
        theta: rotation in radians.
        size: odd support side in pixels.

    Returns:
        (size, size) float32, >= 0, sum 1.
    """
    if size % 2 != 1 or size < 1:
        raise InvalidInputError(f"kernel size must be odd and positive, got {size}")
    if sigma_x <= 0 or sigma_y <= 0:
        raise InvalidInputError(f"kernel sigmas must be > 0, got {sigma_x}, {sigma_y}")
    r = size // 2
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1].astype(np.float64)
    c, s = math.cos(theta), math.sin(theta)
    a = c * c / (2 * sigma_x ** 2) + s * s / (2 * sigma_y ** 2)
    b = s * c * (1 / (2 * sigma_y ** 2) - 1 / (2 * sigma_x ** 2))
    cc = s * s / (2 * sigma_x ** 2) + c * c / (2 * sigma_y ** 2)
    k = np.exp(-(a * xx * xx + 2 * b * xx * yy + cc * yy * yy))
    return (k / k.sum()).astype(np.float32)


def random_kernels(
    rng: np.random.Generator, n: int, size: int = KERNEL_SIZE,
    sigma_range: Tuple[float, float] = SIGMA_RANGE,
) -> np.ndarray:
    """Draw ``n`` paper kernels: sigma_x, sigma_y ~ U(sigma_range), theta ~ U(0, pi).

    Returns:
        (n, size, size) float32, each summing to 1.
    """
    sx = rng.uniform(sigma_range[0], sigma_range[1], n)
    sy = rng.uniform(sigma_range[0], sigma_range[1], n)
    th = rng.uniform(0.0, math.pi, n)
    return np.stack([anisotropic_gaussian_kernel(float(a), float(b), float(t), size)
                     for a, b, t in zip(sx, sy, th)]) if n else np.zeros((0, size, size),
                                                                      np.float32)


def motion_kernel(length: float, angle: float, size: int = KERNEL_SIZE) -> np.ndarray:
    """A linear motion-blur kernel of ``length`` HR pixels at ``angle`` radians (sum 1).

    Built by super-sampling the segment (8 sub-pixel steps per pixel) with bilinear
    splatting, so short lengths stay smooth. Returns (size, size) float32.
    """
    r = size // 2
    k = np.zeros((size, size), np.float64)
    n = max(2, math.ceil(length * 8) + 1)
    t = np.linspace(-length / 2.0, length / 2.0, n)
    xs = r + t * math.cos(angle)
    ys = r + t * math.sin(angle)
    x0 = np.floor(xs).astype(int)
    y0 = np.floor(ys).astype(int)
    fx, fy = xs - x0, ys - y0
    for dx, dy, w in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)),
                      (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        xi = np.clip(x0 + dx, 0, size - 1)
        yi = np.clip(y0 + dy, 0, size - 1)
        np.add.at(k, (yi, xi), w)
    return (k / k.sum()).astype(np.float32)


def compose_kernels(k1: np.ndarray, k2: np.ndarray) -> np.ndarray:
    """Full convolution of two (k, k) kernels cropped back to (k, k), renormalised."""
    from scipy.signal import fftconvolve

    full = fftconvolve(k1.astype(np.float64), k2.astype(np.float64), mode="same")
    full = np.clip(full, 0.0, None)
    return (full / full.sum()).astype(np.float32)


def blur(img: torch.Tensor, kernels: torch.Tensor, padding: str = "reflect"
         ) -> torch.Tensor:
    """Blur each image of a batch with its own kernel (one grouped conv for the batch).

    Args:
        img: (B, C, H, W) float.
        kernels: (B, k, k) float, k odd; the same kernel is used for every channel.
        padding: "reflect" (default) or "zero" (the reference; darkens borders).

    Returns:
        (B, C, H, W), same dtype and device as ``img``.
    """
    import torch.nn.functional as F

    if padding not in PADDINGS:
        raise InvalidInputError(f"padding must be one of {PADDINGS}, got {padding!r}")
    if img.dim() != 4 or kernels.dim() != 3 or kernels.shape[0] != img.shape[0]:
        raise InvalidInputError(
            f"blur expects img (B,C,H,W) and kernels (B,k,k) with the same B; got "
            f"{tuple(img.shape)} and {tuple(kernels.shape)}"
        )
    b, c, h, w = img.shape
    k = kernels.shape[-1]
    r = k // 2
    x = img.reshape(1, b * c, h, w)
    weight = kernels.to(img.dtype).repeat_interleave(c, dim=0).unsqueeze(1)  # (B*C,1,k,k)
    if padding == "reflect":
        if h <= r or w <= r:
            raise InvalidInputError(
                f"image {h}x{w} is too small for reflect padding of a {k}x{k} kernel: "
                f"use images larger than {r} px or padding='zero'"
            )
        x = F.pad(x, (r, r, r, r), mode="reflect")
        out = F.conv2d(x, weight, groups=b * c)
    else:
        out = F.conv2d(x, weight, padding=r, groups=b * c)
    return out.reshape(b, c, h, w)


def downscale(img: torch.Tensor, scale: int, antialias: bool = True) -> torch.Tensor:
    """Bicubic down-scale by an integer factor with explicit antialiasing.

    Args:
        img: (B, C, H, W) float with H and W multiples of ``scale``.
        scale: integer factor (>= 1).
        antialias: the explicit antialias flag (True = torchvision >= 0.17 tensor default).

    Returns:
        (B, C, H/scale, W/scale), not clamped.
    """
    import torch
    import torch.nn.functional as F

    h, w = img.shape[-2:]
    if h % scale or w % scale:
        raise InvalidInputError(
            f"image {h}x{w} is not a multiple of the scale {scale}: crop it first "
            "(data.crop_to_multiple)"
        )
    if scale == 1:
        return img
    # the antialiased bicubic kernel has no bf16/fp16 implementation on every device
    x = img if img.dtype in (torch.float32, torch.float64) else img.float()
    out = F.interpolate(x, size=(h // scale, w // scale), mode="bicubic",
                        align_corners=False, antialias=antialias)
    return out.to(img.dtype)


def redegrade(sr: torch.Tensor, kernels: torch.Tensor, scale: int,
              padding: str = "reflect") -> torch.Tensor:
    """The re-degradation operator of the LR loss: blur with ``kernels`` then bicubic down.

    Identical to the paper protocol's operator, so the LR loss compares like with like.
    Differentiable in ``sr`` and ``kernels``.
    """
    return downscale(blur(sr, kernels, padding), scale)


@dataclass
class Degraded:
    """One degraded batch.

    Attributes:
        lr: (B, 3, H/s, W/s) float32 LR input (paper: unclamped float; realistic and the
            fixed test set: clamped to [0, 1] and quantised to 8 bit).
        hr: (B, 3, H, W) float32 HR target in [0, 1].
        kernel: (B, k, k) float32 true blur kernel (sum 1).
    """

    lr: torch.Tensor
    hr: torch.Tensor
    kernel: torch.Tensor


@dataclass(frozen=True)
class Camera:
    """The sensor end of the "realistic" protocol, applied to the LR image (8 bit out).

    Attributes:
        noise: add signal-dependent Gaussian noise (read sigma ~ U(0.002, 0.015), shot
            sigma ~ U(0, 0.02) x sqrt(signal); intensities in [0, 1]).
        jpeg_quality: (low, high) JPEG quality range, drawn uniformly per image
            (inclusive); None = no JPEG (8-bit rounding only).

    The random draws are made whatever is switched off, so every other part of a
    degradation (kernel, exposure, motion, noise pattern) stays the same.
    """

    noise: bool = True
    jpeg_quality: Optional[Tuple[int, int]] = (50, 95)

    def __post_init__(self) -> None:
        q = self.jpeg_quality
        if q is not None and not 1 <= int(q[0]) <= int(q[1]) <= 100:
            raise InvalidInputError(f"jpeg_quality must be (low, high) with 1 <= low <= high "
                                    f"<= 100, got {q!r}")


#: the camera of the "realistic" protocol (what every figure labelled realistic used)
REALISTIC_CAMERA = Camera()


def degrade(hr: torch.Tensor, rng: np.random.Generator, protocol: str = "paper",
            scale: int = 4, padding: str = "reflect", quantise: bool = False,
            kernel_size: int = KERNEL_SIZE, camera: Camera = REALISTIC_CAMERA) -> Degraded:
    """Degrade a batch of HR images with the named protocol.

    Args:
        hr: (B, 3, H, W) float32 in [0, 1]; H, W multiples of ``scale``.
        rng: the only source of randomness.
        protocol: "paper" or "realistic".
        scale: SR factor.
        padding: blur padding, "reflect" or "zero" (reference parity).
        quantise: clamp the LR to [0, 1] and round to 8 bit (always on for "realistic").
        kernel_size: kernel support (odd), HR pixels.
        camera: the sensor part of "realistic" (ignored by "paper").

    Returns:
        :class:`Degraded` with the LR input, the HR target and the true kernel.
    """
    import torch

    if protocol not in PROTOCOLS:
        raise InvalidInputError(f"unknown degradation {protocol!r}; use one of {PROTOCOLS}")
    b = hr.shape[0]
    kernels = random_kernels(rng, b, kernel_size)
    target = hr
    if protocol == "realistic":
        gain = rng.uniform(0.75, 1.25, b)
        gamma = rng.uniform(0.8, 1.25, b)
        g = torch.as_tensor(gain, dtype=hr.dtype, device=hr.device).view(b, 1, 1, 1)
        gm = torch.as_tensor(gamma, dtype=hr.dtype, device=hr.device).view(b, 1, 1, 1)
        target = (hr.clamp(0, 1) ** gm * g).clamp(0, 1)
        lengths = rng.uniform(0.0, 3.0, b)
        angles = rng.uniform(0.0, math.pi, b)
        kernels = np.stack([
            compose_kernels(k, motion_kernel(float(ln), float(a), kernel_size)) if ln > 0.5
            else k for k, ln, a in zip(kernels, lengths, angles)
        ])
    kt = torch.as_tensor(kernels, dtype=hr.dtype, device=hr.device)
    lr = redegrade(target, kt, scale, padding)
    if protocol == "realistic":
        lr = _camera_noise_and_jpeg(lr, rng, camera)
    elif quantise:
        lr = quantise_8bit(lr)
    return Degraded(lr=lr, hr=target, kernel=kt)


def quantise_8bit(x: torch.Tensor) -> torch.Tensor:
    """Clamp to [0, 1] and round to the 8-bit grid (what saving as PNG does)."""
    return (x.clamp(0, 1) * 255.0).round() / 255.0


def _camera_noise_and_jpeg(lr: torch.Tensor, rng: np.random.Generator,
                           camera: Camera = REALISTIC_CAMERA) -> torch.Tensor:
    """Signal-dependent Gaussian noise (shot + read), then JPEG, 8 bit (see :class:`Camera`;
    the draws do not depend on what it switches off)."""
    import cv2
    import torch

    b = lr.shape[0]
    arr = lr.detach().float().clamp(0, 1).cpu().numpy()
    out = np.empty_like(arr)
    for i in range(b):
        read = rng.uniform(0.002, 0.015)
        shot = rng.uniform(0.0, 0.02)
        std = np.sqrt(read ** 2 + shot ** 2 * arr[i])
        z = rng.standard_normal(arr[i].shape)
        noisy = np.clip(arr[i] + z * std, 0, 1) if camera.noise else arr[i]
        img8 = np.round(noisy.transpose(1, 2, 0) * 255).astype(np.uint8)
        u = int(rng.integers(50, 96))
        if camera.jpeg_quality is None:
            out[i] = img8.transpose(2, 0, 1).astype(np.float32) / 255.0
            continue
        lo, hi = (int(q) for q in camera.jpeg_quality)
        quality = lo + (u - 50) * (hi - lo) // 45  # the same draw, mapped onto [lo, hi]
        ok, buf = cv2.imencode(".jpg", img8[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:  # pragma: no cover (cv2 always encodes uint8 RGB)
            raise InvalidInputError("JPEG encoding failed in the realistic degradation")
        dec = cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1]
        out[i] = dec.transpose(2, 0, 1).astype(np.float32) / 255.0
    return torch.as_tensor(out, dtype=lr.dtype, device=lr.device)


def image_seed(dataset: str, stem: str, seed: int = TEST_SEED) -> np.random.Generator:
    """The generator of the fixed test degradation of one manifest row.

    Depends only on (dataset, stem, seed), never on the order of rows, so a subset of
    a split sees exactly the inputs of the full split.
    """
    key = zlib.crc32(f"{dataset}/{stem}".encode())
    return np.random.default_rng([int(seed), int(key)])


def fixed_degradation(hr: torch.Tensor, dataset: str, stem: str, seed: int = TEST_SEED,
                      protocol: str = "paper", scale: int = 4,
                      padding: str = "reflect", camera: Camera = REALISTIC_CAMERA) -> Degraded:
    """Degrade one HR image (1, 3, H, W) deterministically for evaluation.

    The LR is clamped to [0, 1] and quantised to 8 bit (as the reference's saved PNG test
    set; we round where the reference truncates).
    """
    rng = image_seed(dataset, stem, seed)
    return degrade(hr, rng, protocol=protocol, scale=scale, padding=padding, quantise=True,
                   camera=camera)


def bicubic_upscale(lr: torch.Tensor, scale: int) -> torch.Tensor:
    """Bicubic up-scale (B, C, h, w) -> (B, C, h*scale, w*scale), clamped to [0, 1]."""
    import torch.nn.functional as F

    return F.interpolate(lr, scale_factor=scale, mode="bicubic",
                         align_corners=False).clamp(0, 1)

