#!/usr/bin/env python3
"""Test-suite wall time: the suite on parallel pytest-xdist workers against the same suite in one
process, interleaved in the same run (a shared machine's load falls on both).

    .venv/bin/python benchmarks/test_suite.py [--rounds 1] [--workers 2] [-- extra pytest args]

Each round runs `bash scripts/test.sh` with MLP_TEST_WORKERS=0 (one process, as before) and with
MLP_TEST_WORKERS=<workers>, alternating which goes first, and prints each run's wall time and pytest's
closing summary line. Goal: the parallel suite under 6 minutes on CI.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUMMARY = re.compile(r"^=+ .*\b(passed|failed|error)\b.* in [\d.]+s.* =+$")


def run_suite(workers: int, extra: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run(
        ["bash", "scripts/test.sh", "-q", *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "MLP_TEST_WORKERS": str(workers)},
    )
    wall = time.perf_counter() - start
    lines = [
        line for line in result.stdout.splitlines() if SUMMARY.match(line.strip()) or re.match(r"^\d+ (passed|failed)", line)
    ]
    return wall, (lines[-1].strip() if lines else f"no summary line (exit {result.returncode}): {result.stdout[-500:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("extra", nargs="*", help="pytest arguments (after --)")
    args = parser.parse_args()
    times: dict[str, list[float]] = {"serial": [], "parallel": []}
    for number in range(args.rounds):
        order = [("serial", 0), ("parallel", args.workers)]
        for label, workers in order if number % 2 == 0 else reversed(order):
            wall, summary = run_suite(workers, args.extra)
            times[label].append(wall)
            print(f"round {number + 1} {label:<8} ({workers} workers): {wall:6.0f} s  {summary}", flush=True)
    serial, parallel = statistics.median(times["serial"]), statistics.median(times["parallel"])
    print(f"median: one process {serial:.0f} s, {args.workers} workers {parallel:.0f} s: {parallel / serial:.2f}x (goal < 360 s)")


if __name__ == "__main__":
    main()
