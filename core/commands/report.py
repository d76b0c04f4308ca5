"""``csbsr report``: the self-contained HTML inspection report (and CSV tables) of a run folder."""
from __future__ import annotations

import argparse
from typing import Any

from . import result, say


def register(sub: Any) -> None:
    """Add the ``report`` sub-command."""
    p = sub.add_parser(
        "report", help="HTML inspection report (maps, charts, tables) of a run folder",
        description="Write one self-contained HTML report of a `csbsr run` output folder: "
        "title block (orthophoto, model, device, GSD), key figures, overview and probability "
        "maps with the cracks by severity, length by type x severity, width histogram, zone "
        "detail maps, longest/widest cracks with ids; plus the tables as CSV next to it "
        "(REPORT_type_severity.csv, REPORT_longest.csv, REPORT_widest.csv, REPORT_zones.csv).")
    p.add_argument("run_dir", metavar="RUN_DIR", help="the --out folder of `csbsr run`")
    p.add_argument("--out", required=True, help="the report file (.html)")
    p.add_argument("--stem", default=None,
                   help="which run, when RUN_DIR holds several (orthophoto name, no extension)")
    p.add_argument("--title", default=None, help="project name shown as the title")
    p.add_argument("--top", type=int, default=10, metavar="N",
                   help="rows in the longest/widest crack tables (default 10)")
    p.add_argument("--zone-size", type=float, default=None, metavar="UNITS",
                   help="side of the zone grid cells in map units (metres in a projected CRS; "
                   "default: at most 3 cells along the longer side)")
    p.add_argument("--zones", default=None, metavar="FILE",
                   help="report per zone of this polygon file (spans, lanes, bays: GeoPackage, "
                   "Shapefile, GeoJSON) instead of a grid; any CRS")
    p.add_argument("--zone-field", default=None, metavar="FIELD",
                   help="the text field naming the zones (default: name, zone, label, id... "
                   "whichever exists)")
    p.add_argument("--no-csv", action="store_true", help="do not write the CSV tables")
    p.add_argument("--content-json", default=None, metavar="FILE",
                   help="also write the report content as JSON (what the QGIS PDF lays out)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace, progress: Any) -> int:
    from ..atomic import remove_stale_partials
    from ..errors import InvalidInputError
    from ..report.html import write_html_report

    if args.zone_size is not None and args.zones:
        raise InvalidInputError("--zone-size and --zones exclude each other: give the grid "
                                "cell size or your zone polygons, not both")
    if args.top < 1:
        raise InvalidInputError(f"--top must be >= 1, got {args.top}")
    for stale in remove_stale_partials([args.out, *([args.content_json] if args.content_json
                                                    else [])]):
        progress.warn(f"removed {stale}, an unfinished file of an earlier interrupted run")
    res = write_html_report(args.run_dir, args.out, overwrite=args.overwrite,
                            progress=progress, stem=args.stem, title=args.title,
                            top_n=args.top, zone_cell=args.zone_size,
                            write_csv=not args.no_csv, content_json=args.content_json,
                            zones_path=args.zones, zone_field=args.zone_field)
    say(progress, f"report: {res.html} ({res.n_zones} zone maps)")
    for name, path in res.csv.items():
        say(progress, f"{name}: {path}")
    extra = {"report_content": str(args.content_json)} if args.content_json else {}
    result(progress, outputs={"report": str(res.html), **extra,
                              **{k: str(v) for k, v in res.csv.items()}})
    return 0
