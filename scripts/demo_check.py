"""Compare a `csbsr run` on the shipped sample with the sample's ground-truth crack lines.

usage: python scripts/demo_check.py RUN_DIR [TRUTH_GPKG]

Prints where the outputs are and one line comparing total crack length with the ground
truth, plus length-based precision/recall of the detected lines within a tolerance buffer.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import shapely
from pyogrio.raw import read as ogr_read

REPO = Path(__file__).resolve().parents[1]
TOL_M = 0.02  # 2 cm: about 2.5 input pixels of the 8 mm/px sample


def main(run_dir: str, truth: str = str(REPO / "resources/sample/sample_truth.gpkg")) -> int:
    """Print the demo's outputs and its comparison with the ground truth."""
    out = Path(run_dir)
    summary = json.loads(next(out.glob("*_summary.json")).read_text())
    det_wkb = ogr_read(next(out.glob("*_cracks.gpkg")), layer="crack_seg")[2]
    gt_wkb = ogr_read(truth)[2]
    det_lines = shapely.union_all(shapely.from_wkb(det_wkb))
    gt_lines = shapely.union_all(shapely.from_wkb(gt_wkb))
    gt_len = float(shapely.length(gt_lines))
    det_len = float(summary["total_len_m"])
    recall = float(shapely.length(shapely.intersection(gt_lines, det_lines.buffer(TOL_M))))
    precision = float(shapely.length(shapely.intersection(det_lines, gt_lines.buffer(TOL_M))))
    print("\nOutputs in", out.resolve())
    for p in sorted(out.iterdir()):
        print("  ", p.name)
    print(f"\nsummary: detected {det_len:.2f} m of cracks in {summary['n_segments']} segments; "
          f"ground truth {gt_len:.2f} m (ratio {det_len / gt_len:.2f}); within {TOL_M * 100:.0f}"
          f" cm: recall {recall / gt_len:.0%} of the true length, precision "
          f"{precision / max(float(shapely.length(det_lines)), 1e-9):.0%} of the detected length")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
