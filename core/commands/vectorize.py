"""``csbsr vectorize``: crack probability/mask raster -> measured crack line layers."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from ..atomic import check_output_file, remove_stale_partials
from ..errors import ConfigError
from . import result, say


def _thresholds(text: str) -> Tuple[float, float]:
    try:
        a, b = (float(v) for v in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected two widths in mm like 5,20, got {text!r}") from exc
    return a, b


def add_postprocess_arguments(p: argparse.ArgumentParser) -> None:
    """Add the measurement filters shared by ``vectorize`` and ``run`` (defaults: the
    :class:`VectorizeConfig` defaults)."""
    p.add_argument("--min-crack-length-cm", type=float, default=None, metavar="CM",
                   help="drop whole cracks shorter than this, in centimetres (default 5)")
    p.add_argument("--seed-threshold", type=float, default=None, metavar="S",
                   help="hysteresis: draw a crack region only if its peak probability reaches "
                   "S (0-1; default for run: the model card's, for vectorize: off; 0 = off)")
    p.add_argument("--min-elongation", type=float, default=None, metavar="E",
                   help="drop blobs (skeleton length^2 / area below E; default 5, 0 keeps them)")
    p.add_argument("--lengths", choices=("grid", "ellipsoid"), default=None,
                   help="lengths as grid distances in the raster CRS (default) or on its "
                   "ellipsoid")
    p.add_argument("--min-area-px", type=int, default=None, metavar="PX",
                   help="drop mask components smaller than this, in pixels (default 20)")
    p.add_argument("--min-length-px", type=float, default=None, metavar="PX",
                   help="drop isolated fragments shorter than this, in pixels (default 10)")
    p.add_argument("--simplify-px", type=float, default=None, metavar="PX",
                   help="simplify the stored lines by this tolerance in pixels (default 0.5)")
    p.add_argument("--aoi-polygon", default=None, metavar="WKT_FILE",
                   help="a text file holding one WKT (multi)polygon in the raster CRS: cracks "
                   "are measured only inside it")


def postprocess_from_args(args: argparse.Namespace) -> Dict[str, Any]:
    """The :class:`VectorizeConfig` keyword arguments set by :func:`add_postprocess_arguments`
    (unset flags are left out, so the config's defaults apply)."""
    kw: Dict[str, Any] = {}
    if args.min_crack_length_cm is not None:
        kw["min_crack_length_m"] = args.min_crack_length_cm / 100.0
    for flag, key in (("seed_threshold", "seed_threshold"),
                      ("min_elongation", "min_elongation"), ("lengths", "length_mode"),
                      ("min_area_px", "min_area_px"), ("min_length_px", "min_length_px"),
                      ("simplify_px", "simplify_px")):
        if getattr(args, flag) is not None:
            kw[key] = getattr(args, flag)
    return kw


def aoi_polygon_from_args(args: argparse.Namespace) -> Any:
    """The shapely polygon of ``--aoi-polygon`` (None when unset).

    Raises:
        InvalidInputError: unreadable file or not a polygon.
    """
    if not getattr(args, "aoi_polygon", None):
        return None
    import shapely

    from ..errors import InvalidInputError

    try:
        geom = shapely.from_wkt(open(args.aoi_polygon, encoding="utf-8").read().strip())
    except (OSError, shapely.errors.ShapelyError) as exc:
        raise InvalidInputError(f"cannot read the AOI polygon {args.aoi_polygon} ({exc}): "
                                "pass a text file with one WKT polygon") from exc
    if geom is None or geom.is_empty or geom.area <= 0:
        raise InvalidInputError(f"{args.aoi_polygon} holds no polygon with an area: pass a "
                                "WKT POLYGON or MULTIPOLYGON in the raster CRS")
    return geom


def register(subparsers: Any) -> None:
    """Add the ``vectorize`` sub-command."""
    p = subparsers.add_parser(
        "vectorize",
        help="turn a crack probability or mask GeoTIFF into measured crack lines",
        description="Vectorize a crack probability (0-1 float or 0-255) or binary mask GeoTIFF "
        "into crack centre-lines with length (m), width (mm), orientation, type and severity. "
        "Writes GeoPackage (crack_seg, crack_node, crack_sum) or Shapefile by extension.",
    )
    p.add_argument("raster", metavar="PROB_OR_MASK", help="probability or mask GeoTIFF")
    p.add_argument("--out", required=True, help="output FILE.gpkg or FILE.shp")
    p.add_argument("--threshold", type=float, default=0.5,
                   help="crack if probability >= T (0-1, default 0.5)")
    p.add_argument("--road-azimuth", type=float, default=None, metavar="DEG",
                   help="road axis, degrees clockwise from grid north: enables "
                   "longitudinal/transverse/diagonal typing")
    p.add_argument("--standard", choices=("d6433", "ltpp", "custom"), default="d6433",
                   help="severity standard (default ASTM D6433: <10 mm L, 10-75 M, >75 H)")
    p.add_argument("--custom-thresholds-mm", type=_thresholds, default=None, metavar="A,B",
                   help="width limits (mm) low/medium and medium/high for --standard custom")
    p.add_argument("--window", type=int, default=2048, help="processing window in pixels")
    add_postprocess_arguments(p)
    p.add_argument("--model-name", default="", help="recorded in the model_ver attribute")
    p.add_argument("--summary-json", default=None, help="also write the run summary as JSON")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.set_defaults(func=_run)


def _remove_written(path: Path) -> None:
    """Remove the output this command wrote (for a Shapefile: its parts and node file)."""
    from ..vectorize.export import SHP_PARTS

    files = [path]
    if path.suffix.lower() == ".shp":
        nodes = path.with_name(path.stem + "_nodes.shp")
        files = [p.with_suffix(s) for p in (path, nodes) for s in SHP_PARTS]
    for p in files:
        if p.is_file():
            p.unlink()


def _run(args: argparse.Namespace, progress: Optional[Any]) -> int:
    from ..vectorize.api import vectorize_raster
    from ..vectorize.config import VectorizeConfig
    from ..vectorize.export import write_network, write_summary_json

    if args.standard != "custom" and args.custom_thresholds_mm is not None:
        raise ConfigError("--custom-thresholds-mm needs --standard custom")
    cfg = VectorizeConfig(
        threshold=args.threshold,
        road_azimuth_deg=args.road_azimuth,
        standard=args.standard,
        custom_thresholds_mm=args.custom_thresholds_mm,
        window_px=args.window,
        **postprocess_from_args(args),
    )
    # every output is checked before any work, so a refused one never leaves the others
    check_output_file(args.out, args.overwrite, [args.raster])
    if Path(args.out).suffix.lower() not in (".gpkg", ".shp"):
        raise ConfigError(f"--out {args.out} must end in .gpkg (GeoPackage) or .shp (Shapefile)")
    if args.summary_json:
        check_output_file(args.summary_json, args.overwrite, [args.raster, args.out])
    written = [args.out, *([args.summary_json] if args.summary_json else [])]
    for stale in remove_stale_partials(written):
        if progress is not None:
            progress.warn(f"removed {stale}, an unfinished file of an earlier interrupted run")
    net = vectorize_raster(args.raster, cfg, progress=progress, model_name=args.model_name,
                           aoi=aoi_polygon_from_args(args))
    out = write_network(net, args.out, overwrite=args.overwrite)
    if args.summary_json:
        try:
            write_summary_json(net, args.summary_json, overwrite=args.overwrite)
        except BaseException:
            _remove_written(out)
            raise
    finish = getattr(progress, "finish", None)
    if finish is not None:
        finish()
    s = net.summary
    dens = s.density_m_m2
    say(progress,
        f"{out}: {s.n_segments} segments in {s.n_cracks} cracks, total "
        f"{s.total_len_m:.2f} m, density {dens if dens is None else round(dens, 4)} m/m2, "
        f"GSD {s.gsd_mm or 0.0:.2f} mm, standard {s.standard}"
    )
    result(progress, outputs={"cracks": str(out)}, summary=s.as_dict())
    return 0
