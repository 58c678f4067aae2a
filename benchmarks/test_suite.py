#!/usr/bin/env python3
"""Test-suite wall time, interleaved in the same run (a shared machine's load falls on both sides):

    .venv/bin/python benchmarks/test_suite.py [--rounds 1] [--workers 2] [-- extra pytest args]
    .venv/bin/python benchmarks/test_suite.py --base main [--rounds 1] [--workers 2]

Default mode: `bash scripts/test.sh` with MLP_TEST_WORKERS=0 (one process) against
MLP_TEST_WORKERS=<workers>. `--base <commit>`: the suite of that commit (a temporary `git worktree`,
sharing this checkout's virtualenvs and node_modules, removed at the end) against the suite of this
working tree, both on <workers> workers: the before/after of a change to the suite. Each round
alternates which side goes first and prints each run's wall time (lint included) and pytest's closing
summary. Goal: the parallel suite under 6 minutes on CI.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUMMARY = re.compile(r"^=+ .*\b(passed|failed|error)\b.* in [\d.]+s.* =+$")
SHARED = (".venv", ".venv-scan", ".venv-models", ".venv-sdk", "node_modules")  # what a clean clone's setup would install


def run_suite(checkout: Path, workers: int, extra: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run(
        ["bash", "scripts/test.sh", "-q", *extra],
        cwd=checkout,
        capture_output=True,
        text=True,
        env={**os.environ, "MLP_TEST_WORKERS": str(workers)},
    )
    wall = time.perf_counter() - start
    lines = [
        line for line in result.stdout.splitlines() if SUMMARY.match(line.strip()) or re.match(r"^\d+ (passed|failed)", line)
    ]
    return wall, (lines[-1].strip() if lines else f"no summary line (exit {result.returncode}): {result.stdout[-500:]}")


@contextmanager
def checkout_of(commit: str) -> Iterator[Path]:
    """A temporary worktree of `commit` that shares this checkout's installed environments."""
    resolved = subprocess.run(["git", "rev-parse", "--verify", f"{commit}^{{commit}}"], cwd=ROOT, capture_output=True, text=True)
    if resolved.returncode != 0:
        raise SystemExit(f"--base {commit}: not a commit of this repository ({resolved.stderr.strip()})")
    parent = Path(tempfile.mkdtemp(prefix="mlp-suite-base-"))
    directory = parent / "base"
    subprocess.run(["git", "worktree", "add", "--detach", str(directory), resolved.stdout.strip()], cwd=ROOT, check=True)
    try:
        for name in SHARED:
            if (ROOT / name).exists():
                (directory / name).symlink_to((ROOT / name).resolve())
        yield directory
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(directory)], cwd=ROOT, check=False)
        shutil.rmtree(parent, ignore_errors=True)


def interleaved(sides: list[tuple[str, Path, int]], rounds: int, extra: list[str]) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {label: [] for label, _, _ in sides}
    for number in range(rounds):
        for label, checkout, workers in sides if number % 2 == 0 else reversed(sides):
            wall, summary = run_suite(checkout, workers, extra)
            times[label].append(wall)
            print(f"round {number + 1} {label:<12} ({workers} workers): {wall:6.0f} s  {summary}", flush=True)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--base", metavar="COMMIT", help="time the suite at COMMIT against this working tree's")
    parser.add_argument("extra", nargs="*", help="pytest arguments (after --)")
    args = parser.parse_args()
    print(f"load average at the start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    if args.base:
        with checkout_of(args.base) as base:
            times = interleaved(
                [("working tree", ROOT, args.workers), (f"base {args.base}", base, args.workers)], args.rounds, args.extra
            )
        after, before = (statistics.median(t) for t in times.values())
        print(
            f"median: {args.base} {before:.0f} s, working tree {after:.0f} s: {after / before:.2f}x "
            f"(goal < 360 s on CI; load average at the end: {os.getloadavg()[0]:.1f})"
        )
        return
    times = interleaved([("serial", ROOT, 0), ("parallel", ROOT, args.workers)], args.rounds, args.extra)
    serial, parallel = statistics.median(times["serial"]), statistics.median(times["parallel"])
    print(f"median: one process {serial:.0f} s, {args.workers} workers {parallel:.0f} s: {parallel / serial:.2f}x (goal < 360 s)")


if __name__ == "__main__":
    main()
