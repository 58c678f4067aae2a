#!/usr/bin/env python3
"""Synth benchmark: the example synth and 1/10/100-stack platforms against the stock provider import.

    .venv/bin/python benchmarks/synth.py [--runs 3] [--sizes 1,10,100]

Every figure is measured in this run, next to its baseline (the stock `import cdktf_cdktf_provider_aws`,
which a plain cdktf Python app pays before its first resource): median, min and max over `--runs`
runs, wall time and peak RSS of the largest process (Python or jsii's Node child). Goals (issue 8):
example synth <= 0.4 x stock import; marginal cost of a stack <= 150 ms; 100 stacks < 2 GB peak;
one named stack out of 100 no slower than the example synth.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
ENV = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
ENV.pop("MLP_STACKS", None)


def measure(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB of the largest process in the tree) for one run."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env=env or ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{process.stderr.read().decode()[-2000:]}")
    return wall, usage.ru_maxrss / 1024


def repeat(command: list[str], runs: int, env: dict[str, str] | None = None) -> dict[str, float]:
    samples = [measure(command, env) for _ in range(runs)]
    walls = [w for w, _ in samples]
    return {"median": statistics.median(walls), "min": min(walls), "max": max(walls), "rss_mb": max(m for _, m in samples)}


def generated_config(stacks: int, directory: Path) -> Path:
    """A platform with `stacks` team-environment stacks (teams x [dev, prod]), based on the example."""
    example = yaml.safe_load((ROOT / "platform.yaml").read_text())
    environments = [e for e in example["environments"] if e["name"] in ("dev", "prod")]
    per_team = min(2, stacks)
    teams = []
    for index in range((stacks + per_team - 1) // per_team):
        remaining = stacks - index * per_team
        teams.append(
            {
                "name": f"team{index:03d}",
                "cost_center": f"CC-{index:04d}",
                "owners": [f"team{index:03d}@example.com"],
                "environments": ["dev", "prod"][: min(per_team, remaining)],
            }
        )
    config = {"platform": example["platform"], "environments": environments, "teams": teams}
    path = directory / f"platform-{stacks}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def count_resources(outdir: Path) -> int:
    total = 0
    for stack in (outdir / "stacks").iterdir():
        document = json.loads((stack / "cdk.tf.json").read_text())
        total += sum(len(v) for v in document.get("resource", {}).values())
    return total


def row(label: str, result: dict[str, float], baseline: float | None = None) -> str:
    ratio = f"{result['median'] / baseline:5.2f}x" if baseline else "   -  "
    return (
        f"{label:<44} {result['median']:7.2f} s  ({result['min']:.2f}-{result['max']:.2f})  {ratio}  {result['rss_mb']:7.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sizes", default="1,10,100")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    print(
        f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; {args.runs} runs each; median (min-max), ratio to stock import, peak RSS"
    )
    stock = repeat([PYTHON, "-c", "import cdktf_cdktf_provider_aws"], args.runs)
    print(row("baseline: stock `import cdktf_cdktf_provider_aws`", stock))
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        example = repeat([PYTHON, "main.py", "--outdir", str(tmpdir / "example")], args.runs)
        resources = count_resources(tmpdir / "example")
        print(row(f"example synth (6 stacks, {resources} resources)", example, stock["median"]))

        by_size: dict[int, tuple[dict[str, float], int]] = {}
        for size in sizes:
            config = generated_config(size, tmpdir)
            outdir = tmpdir / f"gen-{size}"
            result = repeat([PYTHON, "main.py", "--config", str(config), "--outdir", str(outdir)], args.runs)
            by_size[size] = (result, count_resources(outdir))
            print(row(f"generated: {size} stack(s), {by_size[size][1]} resources", result, stock["median"]))

        if len(sizes) >= 2:
            small, large = min(sizes), max(sizes)
            (t_small, r_small), (t_large, r_large) = by_size[small], by_size[large]
            per_stack = (t_large["median"] - t_small["median"]) / (large - small)
            per_resource = (t_large["median"] - t_small["median"]) / max(1, r_large - r_small)
            print(f"{'marginal cost per stack':<44} {per_stack * 1000:7.1f} ms   (goal <= 150 ms)")
            print(f"{'marginal cost per resource':<44} {per_resource * 1000:7.2f} ms")
            config = generated_config(large, tmpdir)
            one = repeat(
                [PYTHON, "main.py", "--config", str(config), "--outdir", str(tmpdir / "one")],
                args.runs,
                env={**ENV, "MLP_STACKS": "team000-dev"},
            )
            print(row(f"one named stack out of {large}", one, stock["median"]))
            print(f"{'  ... vs the example synth':<44} {one['median'] / example['median']:7.2f}x  (goal <= 1.0x)")


if __name__ == "__main__":
    main()
