#!/usr/bin/env python3
"""Emulator deploy: `terraform apply` of one team stack, and the demo end to end, against a baseline.

    .venv/bin/python -m benchmarks.emulator_deploy [--stack fraud-local] [--rounds 3] [--no-demo] [--trace-dir DIR]

Times init, apply, plan and destroy of the team stack, and, in the same rounds (interleaved, so a
shared machine's load falls on both), of a baseline stack that holds a single S3 bucket with one
lifecycle configuration: the AWS provider (5.100.0) waits for a lifecycle configuration to read back
identically many times in a row (about 55 s, whatever the emulator answers), which bounds any stack that
has one. Also times `python main.py demo` end to end (emulator start, synth, apply, plan, the whole
loop). Prints medians and the ratios to the baseline apply. Goals: team apply <= 1.05x, demo <= 1.4x.
`--trace-dir` keeps Terraform's DEBUG log of each apply there and prints the critical path of both
applies of the last round (benchmarks/apply_trace.py; DEBUG logging slows the provider a little).
Needs $MLP_TF_PROVIDER_MIRROR (scripts/setup.sh).
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


def demo_seconds(stack: str) -> float:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "main.py", "demo", "--stack", stack], cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"the demo failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default="fraud-local")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-demo", action="store_true", help="time the applies only")
    parser.add_argument(
        "--trace-dir", type=Path, help="keep Terraform's DEBUG log of each apply here and print the critical paths"
    )
    args = parser.parse_args()
    if args.trace_dir:
        args.trace_dir.mkdir(parents=True, exist_ok=True)

    def trace(side: str, number: int) -> Path | None:
        return args.trace_dir / f"round{number}-{side}-apply.log" if args.trace_dir else None

    from config.platform import load_config, with_emulator_override
    from stacks.app import build_app

    rounds: list[dict[str, dict[str, float]]] = []
    for number in range(1, args.rounds + 1):
        with running_emulator() as emulator, tempfile.TemporaryDirectory() as tmp:
            os.environ.update(emulator.client_env())
            env = {k: v for k, v in emulator.client_env().items() if k.startswith("AWS_")}
            base = timed(Terraform(baseline_stack(Path(tmp) / "baseline", emulator.endpoint), env=env), trace("baseline", number))
            start = time.perf_counter()
            build_app(with_emulator_override(load_config()), [args.stack], outdir=str(Path(tmp) / "out")).synth()
            synth = time.perf_counter() - start
            stack_dir = Path(tmp) / "out" / "stacks" / args.stack
            resources = sum(len(v) for v in json.loads((stack_dir / "cdk.tf.json").read_text())["resource"].values())
            team = {"synth": synth, **timed(Terraform(stack_dir, env=env), trace("team", number))}
        if not args.no_demo:
            team["demo"] = demo_seconds(args.stack)
        rounds.append({"base": base, "team": team})
        print(
            f"round {number}: baseline apply {base['apply']:.1f}s, {args.stack} apply {team['apply']:.1f}s"
            + ("" if args.no_demo else f", demo {team['demo']:.1f}s"),
            flush=True,
        )

    def median(side: str, step: str) -> float:
        return statistics.median(r[side][step] for r in rounds)

    print(f"\nmedians of {args.rounds} interleaved rounds")
    print(f"{'step':<10}{'baseline (1 bucket + lifecycle)':>34}{args.stack + f' ({resources} resources)':>34}{'ratio':>8}")
    print(f"{'synth':<10}{'-':>34}{median('team', 'synth'):>33.1f}s{'':>8}")
    for step in ("init", "apply", "plan", "destroy"):
        print(
            f"{step:<10}{median('base', step):>33.1f}s{median('team', step):>33.1f}s{median('team', step) / median('base', step):>7.2f}x"
        )
    apply_ratio = median("team", "apply") / median("base", "apply")
    print(f"\nteam-stack apply / baseline apply: {apply_ratio:.2f}x (goal <= 1.05x)")
    if not args.no_demo:
        demo_ratio = median("team", "demo") / median("base", "apply")
        print(f"demo end to end {median('team', 'demo'):.1f}s / baseline apply: {demo_ratio:.2f}x (goal <= 1.4x)")
    if args.trace_dir:
        from benchmarks.apply_trace import parse, report

        for side in ("baseline", "team"):
            print(f"\n{side} apply, round {args.rounds}:\n{report(parse(trace(side, args.rounds)))}")


if __name__ == "__main__":
    main()
