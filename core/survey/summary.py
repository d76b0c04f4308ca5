"""The survey summary: one row per orthophoto and the totals, as JSON and as an HTML table.

Per orthophoto: status (done, skipped = complete from an earlier survey, failed with its
error, cancelled), crack length (m), analysed area (m²), density (m/m²), length by severity
(m), segments, run time (s), where it ran. Totals: counts by status, length, area, density
(total length / total analysed area), length by severity, the survey's wall time.
"""
from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from .tasks import RunRecord

SEVERITIES = ("L", "M", "H", "NR")
FORMAT = "csbsr-survey-summary"


def severity_totals(summary: Dict[str, Any]) -> Dict[str, float]:
    """Length (m) by severity over every crack type of a run summary."""
    out = {s: 0.0 for s in SEVERITIES}
    for by_sev in (summary.get("len_by_type_sev_m") or {}).values():
        for sev, length in by_sev.items():
            out[sev] = out.get(sev, 0.0) + float(length)
    return out


def _row(rec: RunRecord, folder: Path) -> Dict[str, Any]:
    s = rec.summary or {}
    try:
        run = str(Path(rec.folder).relative_to(folder))
    except ValueError:
        run = rec.folder
    return {
        "source": Path(rec.input).name, "stem": rec.stem, "input": rec.input, "run": run,
        "status": rec.status, "error": rec.error, "seconds": rec.seconds,
        "total_len_m": s.get("total_len_m"), "area_m2": s.get("area_m2"),
        "density_m_m2": s.get("density_m_m2"), "n_segments": s.get("n_segments"),
        "len_by_sev_m": severity_totals(s) if s else None, "crs": s.get("crs"),
        "worker": rec.worker, "blocks": rec.blocks, "block_workers": rec.block_workers,
    }


def build_summary(records: Sequence[RunRecord], folder: Path, extra: Dict[str, Any]
                  ) -> Dict[str, Any]:
    """The summary document (``survey_summary.json``).

    Args:
        records: one per orthophoto, in input order.
        folder: the survey folder (run folders are given relative to it).
        extra: settings, fingerprint, CRS, cluster, outputs, seconds (copied in).
    """
    rows = [_row(r, folder) for r in records]
    measured = [r for r in rows if r["status"] in ("done", "skipped")]
    length = sum(float(r["total_len_m"] or 0.0) for r in measured)
    area = sum(float(r["area_m2"] or 0.0) for r in measured)
    sev = {s: sum(float((r["len_by_sev_m"] or {}).get(s, 0.0)) for r in measured)
           for s in SEVERITIES}
    counts = {k: sum(1 for r in rows if r["status"] == k)
              for k in ("done", "skipped", "failed", "cancelled")}
    totals = {"n_orthophotos": len(rows), **{f"n_{k}": v for k, v in counts.items()},
              "total_len_m": length, "area_m2": area,
              "density_m_m2": length / area if area > 0 else None, "len_by_sev_m": sev,
              "n_segments": sum(int(r["n_segments"] or 0) for r in measured),
              "run_seconds": sum(float(r["seconds"] or 0.0) for r in rows)}
    return {"format": FORMAT, **extra, "totals": totals, "orthophotos": rows}


def write_json(doc: Dict[str, Any], path: Path) -> Path:
    """Write the summary as indented UTF-8 JSON."""
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def read_previous(path: Path) -> Optional[Dict[str, Any]]:
    """An earlier survey's summary in the same folder, or None (absent or unreadable)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("format") == FORMAT else None


def _num(v: Any, fmt: str) -> str:
    return "" if v is None else format(float(v), fmt)


def _where(row: Dict[str, Any]) -> str:
    if row.get("blocks"):
        return (f"{row['blocks']} blocks on {len(row.get('block_workers') or [])} workers "
                f"(from {row.get('worker', '')})")
    return str(row.get("worker", ""))


CSS = """body{font-family:sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;font-size:0.9em}th,td{border:1px solid #ccc;padding:3px 8px}
th{background:#eee}td.n{text-align:right}tr.failed td{background:#fde8e8}
tr.cancelled td{background:#fff4d6}tr.total td{font-weight:bold;background:#f3f3f3}
.err{color:#a00;font-size:0.85em}"""


def render_html(doc: Dict[str, Any]) -> str:
    """A self-contained HTML page with the per-orthophoto table and the totals."""
    e = html.escape
    head = ["Orthophoto", "Status", "Length (m)", "Area (m²)", "Density (m/m²)",
            *[f"{s} (m)" for s in SEVERITIES], "Segments", "Time (s)", "Ran on"]
    lines: List[str] = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Crack survey</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>Crack survey</h1>",
        f"<p>{e(str(doc.get('folder', '')))} · CRS of the survey layer: "
        f"{e(str(doc.get('crs_name') or 'none'))} ({e(str(doc.get('crs_source', '')))}) · "
        f"{e(str(doc.get('where', '')))} · {_num(doc.get('seconds'), '.1f')} s</p>",
        "<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr>"]
    for r in doc["orthophotos"]:
        sev = r.get("len_by_sev_m") or {}
        err = f"<div class='err'>{e(r['error'])}</div>" if r.get("error") else ""
        cells = [f"<td>{e(r['source'])}{err}</td>", f"<td>{e(r['status'])}</td>",
                 *(f"<td class='n'>{v}</td>" for v in (
                     _num(r.get("total_len_m"), ".2f"), _num(r.get("area_m2"), ".1f"),
                     _num(r.get("density_m_m2"), ".4f"),
                     *(_num(sev.get(s), ".2f") if sev else "" for s in SEVERITIES),
                     "" if r.get("n_segments") is None else str(r["n_segments"]),
                     _num(r.get("seconds"), ".1f"))),
                 f"<td>{e(_where(r))}"
                 "</td>"]
        lines.append(f"<tr class='{e(r['status'])}'>" + "".join(cells) + "</tr>")
    t = doc["totals"]
    status = ", ".join(f"{t[f'n_{k}']} {k}" for k in ("done", "skipped", "failed", "cancelled")
                       if t[f"n_{k}"])
    tot = [f"Total ({t['n_orthophotos']})", status, _num(t["total_len_m"], ".2f"),
           _num(t["area_m2"], ".1f"), _num(t["density_m_m2"], ".4f"),
           *(_num(t["len_by_sev_m"].get(s), ".2f") for s in SEVERITIES), str(t["n_segments"]),
           _num(t["run_seconds"], ".1f"), ""]
    lines.append("<tr class='total'>" + "".join(f"<td>{e(v)}</td>" for v in tot) + "</tr>")
    lines.append("</table><p>Severity: L low, M medium, H high, NR width not resolvable. "
                 "Density = crack length / analysed area. Skipped = complete from an earlier "
                 "run of the same survey.</p></body></html>")
    return "\n".join(lines) + "\n"
