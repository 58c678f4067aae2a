#!/usr/bin/env python3
"""Emulator reliability: apply and destroy one team stack N times in a row, and count the failures.

    .venv/bin/python -m benchmarks.emulator_cycles [--cycles 30] [--stack fraud-local] [--log-dir DIR [--terraform-debug [--keep-logs]]]

One emulator and one synthesized stack for all cycles (a destroy must leave the emulator able to take
the next apply, as AWS would). Prints one line per cycle as it ends, then the count of failed runs and
each failure's Terraform error lines. Goal: 0 failures in 30 cycles. `--log-dir` keeps the emulator's
stderr (one line per request, tracebacks, transport errors) and, with `--terraform-debug`, Terraform's
DEBUG log of each failed run (`--keep-logs`: of every run), to trace a failure to the request that
failed (DEBUG logging changes the provider's timing). A failure's error lines are printed as it happens.
Needs $MLP_TF_PROVIDER_MIRROR (scripts/setup.sh).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

from emulator.server import running_emulator
from emulator.terraform import Terraform, TerraformError


def error_lines(error: TerraformError) -> list[str]:
    """The `Error:` lines of a failed Terraform run, with the line after each (the failing call)."""
    lines = str(error).splitlines()
    found = [
        f"{line.strip()} {lines[i + 1].strip() if i + 1 < len(lines) else ''}".strip()
        for i, line in enumerate(lines)
        if re.search(r"Error:", line)
    ]
    return found or lines[-3:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=30)
    parser.add_argument("--stack", default="fraud-local")
    parser.add_argument("--log-dir", type=Path, help="keep the emulator's stderr here")
    parser.add_argument("--terraform-debug", action="store_true", help="and Terraform's DEBUG log of each failed run")
    parser.add_argument("--keep-logs", action="store_true", help="with --terraform-debug: keep the logs of runs that passed too")
    args = parser.parse_args()
    from config.platform import load_config, with_emulator_override
    from stacks.app import build_app

    if args.log_dir:
        args.log_dir.mkdir(parents=True, exist_ok=True)
    log = args.log_dir / "emulator.log" if args.log_dir else None
    failures: list[tuple[int, str, list[str]]] = []
    with running_emulator(log=log) as emulator, tempfile.TemporaryDirectory() as tmp:
        os.environ.update(emulator.client_env())
        build_app(with_emulator_override(load_config()), [args.stack], outdir=str(Path(tmp) / "out")).synth()
        env = {k: v for k, v in emulator.client_env().items() if k.startswith("AWS_")}
        terraform = Terraform(Path(tmp) / "out" / "stacks" / args.stack, env=env)
        terraform.init()
        started = time.perf_counter()
        for cycle in range(1, args.cycles + 1):
            for step in ("apply", "destroy"):
                if args.log_dir and args.terraform_debug:
                    terraform.set_log(args.log_dir / f"cycle{cycle:02d}-{step}.log")
                start = time.perf_counter()
                try:
                    getattr(terraform, step)()
                    outcome = "ok"
                except TerraformError as error:
                    failures.append((cycle, step, error_lines(error)))
                    outcome = "FAILED: " + " | ".join(failures[-1][2])  # at once: a long run may be stopped
                print(f"cycle {cycle:>2} {step:<8}{time.perf_counter() - start:>6.1f}s {outcome}", flush=True)
                if outcome == "ok" and args.log_dir and args.terraform_debug and not args.keep_logs:
                    (args.log_dir / f"cycle{cycle:02d}-{step}.log").unlink()  # ~3.5 MB each: keep the failed ones
            if failures and failures[-1][0] == cycle:
                terraform.destroy()  # leave nothing behind for the next cycle (a failure here ends the run)
        elapsed = time.perf_counter() - started
    runs = 2 * args.cycles
    print(
        f"{args.stack}: {len(failures)} failed of {runs} Terraform runs ({args.cycles} apply+destroy cycles) in {elapsed:.0f} s"
    )
    for cycle, step, lines in failures:
        print(f"  cycle {cycle} {step}:")
        for line in lines:
            print(f"    {line}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
