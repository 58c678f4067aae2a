#!/usr/bin/env python3
"""Lambda packages: zip size and cold import time of each handler, against the SDK's own import.

    .venv/bin/python -m benchmarks.lambda_packages [--runs 5]

Cold import = a fresh interpreter importing the handler module from its unpacked zip (what a Lambda
cold start pays before the first event). The baseline, measured in the same run the same way, is
`import boto3` alone; the handler's own cost is the difference. Goals (issue 8): zip < 1 MB and own
import < 300 ms.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from modules.functions.packaging import LAMBDAS_DIR, build_package

HANDLERS = sorted(p.name for p in LAMBDAS_DIR.iterdir() if (p / "handler.py").is_file())


def cold_import(code: str, cwd: Path, runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", code], cwd=cwd, check=True, env={"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1"}
        )
        samples.append(time.perf_counter() - start)
    return samples


def fmt(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:7.0f} ms ({min(samples) * 1000:.0f}-{max(samples) * 1000:.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "empty"
        empty.mkdir()
        interpreter = cold_import("pass", empty, args.runs)
        sdk = cold_import("import boto3", empty, args.runs)
        print(f"{args.runs} runs each; median (min-max)")
        print(f"{'baseline: interpreter start':<34} {fmt(interpreter)}")
        print(f"{'baseline: import boto3':<34} {fmt(sdk)}")
        print(f"{'handler':<16}{'zip bytes':>10}  {'cold import (incl. boto3)':>28}  {'own cost':>9}")
        for handler in HANDLERS:
            package = build_package(handler)
            unpacked = Path(tmp) / handler
            with zipfile.ZipFile(package) as archive:
                archive.extractall(unpacked)
            # Alternate handler and baseline runs so machine noise hits both alike.
            samples, baseline = [], []
            for _ in range(args.runs):
                samples += cold_import("import boto3, handler", unpacked, 1)
                baseline += cold_import("import boto3", empty, 1)
            own = statistics.median(samples) - statistics.median(baseline)
            print(f"{handler:<16}{package.stat().st_size:>10}  {fmt(samples):>28}  {own * 1000:6.0f} ms")


if __name__ == "__main__":
    main()
