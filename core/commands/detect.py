"""``csbsr detect``: crack probability and mask rasters (and the SR image) of an orthophoto."""
from __future__ import annotations

import argparse
from typing import Any

from . import result, say


def _bands(text: str) -> tuple:
    try:
        bands = tuple(int(b) for b in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"bands must look like 1,2,3, got {text!r}") from exc
    if len(bands) != 3:
        raise argparse.ArgumentTypeError(f"give exactly three bands (R,G,B), got {text!r}")
    return bands


def add_inference_arguments(p: argparse.ArgumentParser, single_input: bool = True) -> None:
    """Add the arguments shared by ``detect``, ``run`` and (without the input and
    ``--overwrite``: ``single_input=False``) ``survey``."""
    if single_input:
        p.add_argument("ortho", metavar="ORTHO", help="input orthophoto (any GDAL raster)")
        p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--model", default=None, metavar="M",
                   help="model file (.safetensors with its .json card); default: the shipped one")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"),
                   help="compute precision (default auto: bf16 where native, else fp32)")
    p.add_argument("--tile-px", type=int, default=None, metavar="N",
                   help="tile core side in input pixels (default 128 CPU / 256 GPU)")
    p.add_argument("--overlap-px", type=int, default=None, metavar="N",
                   help="halo per tile side in input pixels (default: the model card's)")
    p.add_argument("--batch", type=int, default=None, metavar="N",
                   help="tiles per forward pass (default 1 CPU / 8 GPU)")
    p.add_argument("--threshold", type=float, default=None, metavar="T",
                   help="mask threshold in (0, 1) (default: the model card's)")
    p.add_argument("--save-sr", action="store_true", help="also write the super-resolved RGB")
    p.add_argument("--bands", type=_bands, default=(1, 2, 3), metavar="R,G,B",
                   help="1-based input bands used as R,G,B (default 1,2,3)")
    p.add_argument("--prob-dtype", choices=("uint8", "float16"), default="uint8",
                   help="probability raster type (default uint8 = p x 255)")
    p.add_argument("--gsd", type=float, default=None, metavar="METRES",
                   help="input GSD to assume instead of the raster's own, in metres")
    p.add_argument("--gsd-policy", choices=("auto", "native"), default="auto",
                   help="auto: resample to the model's GSD when it differs; native: never")
    p.add_argument("--aoi", type=float, nargs=4, default=None,
                   metavar=("XMIN", "YMIN", "XMAX", "YMAX"),
                   help="process only this extent (raster CRS units)")
    p.add_argument("--value-range", type=float, nargs=2, default=None, metavar=("LOW", "HIGH"),
                   help="raster values mapped to 0 and 1 (default: 8-bit 0-255, else percentiles)")
    if single_input:
        p.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
        p.add_argument("--overwrite", action="store_true", help="replace existing outputs")


def inference_config_from_args(args: argparse.Namespace) -> Any:
    """Build an :class:`InferenceConfig` from parsed arguments."""
    from ..detect.config import InferenceConfig, TileConfig

    return InferenceConfig(
        model_path=args.model, device=args.device, precision=args.precision,
        tile=TileConfig(tile_px=args.tile_px, overlap_px=args.overlap_px, batch=args.batch),
        threshold=args.threshold, save_sr=args.save_sr, bands=tuple(args.bands),
        prob_dtype=args.prob_dtype, gsd_m=args.gsd, gsd_policy=args.gsd_policy,
        value_range=tuple(args.value_range) if args.value_range else None,
        aoi=tuple(args.aoi) if args.aoi else None, overwrite=args.overwrite,
        threads=args.threads,
    )


def summary_line(det: Any) -> str:
    """One line on a detection result."""
    return (f"{det.n_tiles} tiles ({det.n_skipped} skipped as nodata) in {det.seconds:.1f} s on "
            f"{det.device}; output GSD {det.gsd_out_m * 1000:.3g} mm/px (x{det.scale}), "
            f"threshold {det.threshold:.2f}")


def register(sub: Any) -> None:
    """Add the ``detect`` sub-command."""
    p = sub.add_parser("detect", help="crack probability/mask rasters of an orthophoto",
                       description="Tiled SR + crack segmentation of a georeferenced raster: "
                       "writes DIR/<stem>_prob.tif, _mask.tif (and _sr.tif) on a grid "
                       "scale x finer, plus DIR/<stem>_run.json.")
    add_inference_arguments(p)
    p.set_defaults(func=_run)


def _finish(progress: Any) -> None:
    if hasattr(progress, "finish"):
        progress.finish()


def _run(args: argparse.Namespace, progress: Any) -> int:
    from ..run import run_detect

    det = run_detect(args.ortho, args.out, inference_config_from_args(args), progress)
    _finish(progress)
    say(progress, f"probability: {det.prob_path}\nmask: {det.mask_path}")
    if det.sr_path is not None:
        say(progress, f"super-resolved image: {det.sr_path}")
    say(progress, f"run configuration: {det.config_path}\n{summary_line(det)}")
    outputs = {"prob": det.prob_path, "mask": det.mask_path, "run": det.config_path,
               **({"sr": det.sr_path} if det.sr_path is not None else {})}
    result(progress, outputs={k: str(v) for k, v in outputs.items()}, device=det.device,
           seconds=round(det.seconds, 2), n_tiles=det.n_tiles, threshold=det.threshold)
    return 0
