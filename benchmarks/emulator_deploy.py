#!/usr/bin/env python3
"""Emulator deploy: `terraform apply` of one team stack, and the demo end to end, against a baseline.

    .venv/bin/python -m benchmarks.emulator_deploy [--stack fraud-local] [--rounds 3] [--no-demo | --demo-only]
        [--trace-dir DIR]

Times init, apply, plan and destroy of the team stack, and, in the same rounds (interleaved, so a
shared machine's load falls on both), of a baseline stack that holds a single S3 bucket with one
lifecycle configuration: the AWS provider (5.100.0) waits for a lifecycle configuration to read back
identically many times in a row (about 55 s, whatever the emulator answers), which bounds any stack that
has one. Also times `python main.py demo` end to end (emulator start, synth, apply, plan, the whole
loop), timed as it prints each step, and folds the steps into what bounds it (apply, plan, training
jobs, traffic...). Prints medians and the ratios to the baseline apply. Goals: team apply <= 1.05x, demo
<= 1.4x. `--demo-only` skips the team stack's own timed apply (the demo applies it anyway).
`--trace-dir` keeps Terraform's DEBUG log of each apply there and prints the critical path of both
applies of the last round (benchmarks/apply_trace.py; DEBUG logging slows the provider a little).
Needs $MLP_TF_PROVIDER_MIRROR (scripts/setup.sh).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from emulator.demo import PLAN_STARTED
from emulator.server import running_emulator
from emulator.terraform import Terraform

ROOT = Path(__file__).resolve().parents[1]


def timed(terraform: Terraform, trace: Path | None = None) -> dict[str, float]:
    figures = {}
    for step, run in (
        ("init", terraform.init),
        ("apply", terraform.apply),
        ("plan", terraform.plan_changes),
        ("destroy", terraform.destroy),
    ):
        terraform.set_log(trace if step == "apply" else None)
        start = time.perf_counter()
        result = run()
        figures[step] = time.perf_counter() - start
        if step == "plan" and result is not None:
            raise SystemExit(f"plan after apply wants changes:\n{result[-2000:]}")
    return figures


def baseline_stack(directory: Path, endpoint: str) -> Path:
    """One bucket and its lifecycle configuration, provider set up like the team stacks'."""
    directory.mkdir(parents=True)
    document = {
        "terraform": {"required_providers": {"aws": {"source": "aws", "version": "5.100.0"}}},
        "provider": {
            "aws": [
                {
                    "region": "us-east-1",
                    "access_key": "test",
                    "secret_key": "test",
                    "skip_credentials_validation": True,
                    "skip_requesting_account_id": True,
                    "skip_metadata_api_check": "true",
                    "s3_use_path_style": True,
                    "max_retries": 1,
                    "endpoints": [{"s3": endpoint, "sts": endpoint}],
                }
            ]
        },
        "resource": {
            "aws_s3_bucket": {"b": {"bucket": "mlp-benchmark-baseline", "force_destroy": True}},
            "aws_s3_bucket_lifecycle_configuration": {
                "l": {
                    "bucket": "${aws_s3_bucket.b.id}",
                    "rule": [
                        {
                            "id": "r",
                            "status": "Enabled",
                            "filter": [{"prefix": ""}],
                            "noncurrent_version_expiration": [{"noncurrent_days": 30}],
                        }
                    ],
                }
            },
        },
    }
    (directory / "main.tf.json").write_text(json.dumps(document))
    return directory


STEP = re.compile(r"^\[\s*(\d+)\] (.*?)  \(t\+\d+s\)$")
APPLIED = re.compile(r"^\s+applied \d+ resources in")


@dataclass
class Demo:
    """`python main.py demo`, timed line by line as it prints: each step's seconds (its title, from the
    demo's own `[n] title` lines); step 3 split at the apply's end and where the plan after it goes on
    alongside the next steps (its step "joined" is the time the demo still waits for it)."""

    seconds: float
    steps: list[tuple[str, float]]
    failed: str | None

    def phases(self) -> dict[str, float]:
        """The steps folded into what bounds the demo: the emulator's start, synth, init + apply, the
        outputs and the wait for the plan after the apply, training jobs, traffic and drift checks,
        approval + deploy, the rest."""
        folded: dict[str, float] = {}
        for title, seconds in self.steps:
            folded[_phase(title)] = folded.get(_phase(title), 0.0) + seconds
        return folded


def _phase(title: str) -> str:
    for phase, words in (
        ("emulator start", ("Starting the embedded",)),
        ("synth", ("Synthesizing",)),
        ("init + apply", ("terraform init",)),
        ("outputs + plan after apply (its wait at the join)", ("plan after apply",)),
        ("training jobs (train.py in .venv-models)", ("Training job", "Rebuild", "training run started")),
        ("traffic (InvokeEndpoint) + drift checks", ("requests", "traffic")),
        ("approval + deploy (endpoint start)", ("Approval",)),
    ):
        if any(word in title for word in words):
            return phase
    return "other loop steps (events, alarms, lineage, data)"


def run_demo(stack: str) -> Demo:
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-u", "main.py", "demo", "--stack", stack],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    marks: list[tuple[str, float]] = []  # (title, when it began)
    tail: list[str] = []
    for line in process.stdout:  # type: ignore[union-attr]
        now = time.perf_counter() - start
        tail = [*tail[-40:], line]
        if step := STEP.match(line.rstrip()):
            marks.append((step.group(2), now))
        elif APPLIED.match(line):  # split step 3 at the apply's end and where the plan goes on alongside
            marks.append(("outputs (plan after apply started)", now))
        elif PLAN_STARTED in line:
            marks.append(("deployed-code check", now))
    process.wait()
    seconds = time.perf_counter() - start
    ends = [when for _, when in marks[1:]] + [seconds]
    steps = [(title, end - begin) for (title, begin), end in zip(marks, ends)]
    failed = None if process.returncode == 0 else "".join(tail[-12:])
    return Demo(seconds, steps, failed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default="fraud-local")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-demo", action="store_true", help="time the applies only")
    parser.add_argument("--demo-only", action="store_true", help="time the baseline apply and the demo (no separate team apply)")
    parser.add_argument(
        "--trace-dir", type=Path, help="keep Terraform's DEBUG log of each apply here and print the critical paths"
    )
    args = parser.parse_args()
    if args.trace_dir:
        args.trace_dir.mkdir(parents=True, exist_ok=True)

    def trace(side: str, number: int) -> Path | None:
        return args.trace_dir / f"round{number}-{side}-apply.log" if args.trace_dir else None

    rounds: list[dict[str, dict[str, float]]] = []
    demos: list[Demo] = []
    for number in range(1, args.rounds + 1):
        with running_emulator() as emulator, tempfile.TemporaryDirectory() as tmp:
            os.environ.update(emulator.client_env())
            env = {k: v for k, v in emulator.client_env().items() if k.startswith("AWS_")}
            base = timed(Terraform(baseline_stack(Path(tmp) / "baseline", emulator.endpoint), env=env), trace("baseline", number))
            if args.demo_only:
                team: dict[str, float] = {}
            else:
                team = team_stack(args.stack, Path(tmp), env, trace("team", number))
        if not args.no_demo:
            demo = run_demo(args.stack)
            if demo.failed:
                print(f"round {number}: the demo FAILED after {demo.seconds:.1f}s (not timed):\n{demo.failed}", flush=True)
            else:
                demos.append(demo)
                team["demo"] = demo.seconds
        rounds.append({"base": base, "team": team})
        print(
            f"round {number}: baseline apply {base['apply']:.1f}s"
            + (f", {args.stack} apply {team['apply']:.1f}s" if "apply" in team else "")
            + (f", demo {team['demo']:.1f}s" if "demo" in team else ""),
            f"(load average {os.getloadavg()[0]:.1f})",
            flush=True,
        )

    def median(side: str, step: str) -> float:
        return statistics.median(r[side][step] for r in rounds if step in r[side])

    print(f"\nmedians of {args.rounds} interleaved rounds")
    if not args.demo_only:
        resources = int(rounds[-1]["team"]["resources"])
        print(f"{'step':<10}{'baseline (1 bucket + lifecycle)':>34}{args.stack + f' ({resources} resources)':>34}{'ratio':>8}")
        print(f"{'synth':<10}{'-':>34}{median('team', 'synth'):>33.1f}s{'':>8}")
        for step in ("init", "apply", "plan", "destroy"):
            team_step, base_step = median("team", step), median("base", step)
            print(f"{step:<10}{base_step:>33.1f}s{team_step:>33.1f}s{team_step / base_step:>7.2f}x")
        apply_ratio = median("team", "apply") / median("base", "apply")
        print(f"\nteam-stack apply / baseline apply: {apply_ratio:.2f}x (goal <= 1.05x)")
    else:
        print(f"baseline apply (1 bucket + lifecycle): {median('base', 'apply'):.1f}s")
    if demos:
        print_demo(demos, median("base", "apply"))
    if args.trace_dir:
        from benchmarks.apply_trace import parse, report

        for side in ("baseline",) if args.demo_only else ("baseline", "team"):
            print(f"\n{side} apply, round {args.rounds}:\n{report(parse(trace(side, args.rounds)))}")


def team_stack(stack: str, tmp: Path, env: dict[str, str], trace: Path | None) -> dict[str, float]:
    from config.platform import load_config, with_emulator_override
    from stacks.app import build_app

    start = time.perf_counter()
    build_app(with_emulator_override(load_config()), [stack], outdir=str(tmp / "out")).synth()
    synth = time.perf_counter() - start
    stack_dir = tmp / "out" / "stacks" / stack
    resources = sum(len(v) for v in json.loads((stack_dir / "cdk.tf.json").read_text())["resource"].values())
    return {"synth": synth, "resources": resources, **timed(Terraform(stack_dir, env=env), trace)}


def print_demo(demos: list[Demo], baseline: float) -> None:
    """The demo's median time as a ratio to the baseline apply, and where it goes: each phase's median
    seconds and its share of the ratio, then the steps of the last round."""
    total = statistics.median(d.seconds for d in demos)
    print(f"demo end to end {total:.1f}s / baseline apply: {total / baseline:.2f}x (goal <= 1.4x; {len(demos)} timed runs)")
    print(f"\nwhere the demo's time goes (medians; x = seconds / baseline apply {baseline:.1f}s)")
    phases = {name for d in demos for name in d.phases()}
    rows = sorted(((statistics.median(d.phases().get(n, 0.0) for d in demos), n) for n in phases), reverse=True)
    for seconds, name in rows:
        print(f"  {name:<48}{seconds:>8.1f}s {seconds / baseline:>6.2f}x")
    print("\nsteps of the last timed run:")
    for title, seconds in demos[-1].steps:
        print(f"  {seconds:>7.1f}s  {title[:100]}")


if __name__ == "__main__":
    main()
