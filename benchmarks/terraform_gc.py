"""CPU of a Terraform command of a team stack with Go's default garbage collection (GOGC=100) against the
setting emulator/terraform.py runs Terraform with (GO_GC_PERCENT), interleaved in the same run:

    python -m benchmarks.terraform_gc [--rounds 3] [--stack fraud-local]

Each round runs `terraform validate` and `terraform plan` (of the whole stack, nothing applied, on an
emulator) once per setting, alternating which goes first, and prints wall time, CPU (user + sys of
Terraform and the provider) and the peak memory of the largest process (the provider). Most of a
command's CPU is the AWS provider building its schema at each of its starts (three per plan), which
allocates heavily: the collector's share is what GOGC moves.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from config.platform import load_config, with_emulator_override
from emulator.server import running_emulator
from emulator.terraform import GO_GC_PERCENT, Terraform
from tests.synth import synth

# A child that runs one command and reports its children's CPU and peak memory (its own rusage is clean).
MEASURE = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
result = subprocess.run(sys.argv[1:], capture_output=True, text=True)
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
if result.returncode not in (0, 2):
    sys.exit(result.stdout[-2000:] + result.stderr[-2000:])
print(json.dumps({"wall": time.perf_counter() - start, "cpu": usage.ru_utime + usage.ru_stime, "peak_mb": usage.ru_maxrss / 1024}))
"""
COMMANDS = {"validate": ["validate", "-no-color"], "plan": ["plan", "-no-color", "-input=false", "-detailed-exitcode"]}


def measure(terraform: Terraform, command: list[str], gogc: str) -> dict[str, float]:
    env = {**terraform._env, "GOGC": gogc}
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, terraform.binary, *command],
        cwd=terraform.workdir,
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise SystemExit(f"terraform {' '.join(command)} with GOGC={gogc} failed:\n{result.stderr}")
    return json.loads(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--stack", default="fraud-local")
    args = parser.parse_args()
    settings = ("100", GO_GC_PERCENT)
    with running_emulator() as emulator, tempfile.TemporaryDirectory() as scratch:
        os.environ.update(emulator.client_env())
        stack = synth(with_emulator_override(load_config()), Path(scratch), [args.stack])[args.stack]
        terraform = Terraform(Path(stack.directory), env=emulator.client_env())
        terraform.init()
        figures: dict[tuple[str, str], list[dict[str, float]]] = {}
        for number in range(args.rounds):
            order = settings if number % 2 == 0 else settings[::-1]
            for name, command in COMMANDS.items():
                for gogc in order:
                    figure = measure(terraform, command, gogc)
                    figures.setdefault((name, gogc), []).append(figure)
                    print(
                        f"round {number + 1} {name:8s} GOGC={gogc:3s} wall {figure['wall']:5.1f} s  "
                        f"cpu {figure['cpu']:5.1f} s  peak {figure['peak_mb']:4.0f} MB",
                        flush=True,
                    )
    print(f"\nmedians of {args.rounds} rounds, {args.stack} (nothing applied):")
    for name in COMMANDS:
        base, tuned = (figures[(name, gogc)] for gogc in settings)
        cpu = [statistics.median(f["cpu"] for f in side) for side in (base, tuned)]
        peak = [statistics.median(f["peak_mb"] for f in side) for side in (base, tuned)]
        print(
            f"  {name:8s} cpu {cpu[0]:5.1f} s -> {cpu[1]:5.1f} s ({cpu[1] / cpu[0]:.2f}x)   "
            f"peak {peak[0]:4.0f} MB -> {peak[1]:4.0f} MB   (GOGC=100 -> GOGC={GO_GC_PERCENT})"
        )


if __name__ == "__main__":
    main()
