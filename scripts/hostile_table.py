"""Run the hostile suite (``tests/hostile``) and write the markdown table of its cases with their
outcome, plus the totals.

Each case appends a JSON line to the file named by ``CSBSR_HOSTILE_TABLE``
(``tests/hostile/conftest.py``); this script runs pytest with it set, then renders the rows.

Usage: ``python scripts/hostile_table.py [--out docs/hostile_table.md] [--rows ROWS.jsonl]
[-- PYTEST ARGS]``; with ``--rows`` it only renders rows recorded earlier.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def render(rows: list) -> str:
    """The markdown table and the totals line."""
    lines = ["| # | case | entry point | input | expected | outcome | result |",
             "|---|---|---|---|---|---|---|"]
    for k, r in enumerate(rows, 1):
        cells = [str(k), f"`{r['id']}`", r["entry"], r["input"], r["expected"],
                 r["outcome"], r["result"]]
        lines.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ")
                                       for c in cells) + " |")
    per_entry = Counter(r["entry"].split(" (")[0].split(" --")[0] for r in rows)
    results = Counter(r["result"] for r in rows)
    tracebacks = sum("Traceback" in r["outcome"] or r["outcome"].startswith("exit traceback")
                     for r in rows)
    failed = results.get("failed", 0)
    lines += ["", "Cases per entry point: " + ", ".join(f"{k} {v}" for k, v in
                                                       sorted(per_entry.items())),
              "",
              f"**Totals: {len(rows)} cases, {results.get('passed', 0)} passed, {failed} "
              f"failed, {results.get('skipped', 0)} skipped, "
              f"{results.get('xfailed', 0)} known open; {tracebacks} tracebacks.** Every "
              "passed case asserts 0 partial files and 0 user files lost or modified"
              + (f"; see the {failed} failed row(s) for what they found." if failed else ".")]
    return "\n".join(lines) + "\n"


def main() -> int:
    """Run the suite (or read recorded rows) and write the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="write the table here (default: stdout)")
    ap.add_argument("--rows", default=None, help="render these recorded rows, run nothing")
    ap.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = ap.parse_args()
    if args.rows:
        rows_path = Path(args.rows)
    else:
        rows_path = Path(tempfile.mkstemp(prefix="hostile_", suffix=".jsonl")[1])
        env = {**os.environ, "CSBSR_HOSTILE_TABLE": str(rows_path)}
        subprocess.run([sys.executable, "-m", "pytest", "tests/hostile", "-q",
                        *args.pytest_args], cwd=REPO, env=env, check=False)
    rows = [json.loads(line) for line in rows_path.read_text(encoding="utf-8").splitlines()
            if line.strip()]
    table = render(rows)
    if args.out:
        Path(args.out).write_text(table, encoding="utf-8")
    else:
        sys.stdout.write(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
