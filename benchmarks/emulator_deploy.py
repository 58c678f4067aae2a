#!/usr/bin/env python3
"""Emulator deploy: `terraform apply` of one team stack on the embedded emulator, against a baseline.

    .venv/bin/python benchmarks/emulator_deploy.py [--stack fraud-local]

Times init, apply, plan and destroy of the team stack, and, in the same run, of a baseline stack that
holds a single S3 bucket with one lifecycle configuration: the AWS provider (5.100.0) waits for a
lifecycle configuration to read back identically many times in a row (about 55 s, whatever the
emulator answers), which bounds any stack that has one. Needs $MLP_TF_PROVIDER_MIRROR (scripts/setup.sh).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emulator.server import running_emulator  # noqa: E402
from emulator.terraform import Terraform  # noqa: E402


def timed(terraform: Terraform) -> dict[str, float]:
    figures = {}
    for step, run in (("init", terraform.init), ("apply", terraform.apply), ("plan", terraform.plan_changes), ("destroy", terraform.destroy)):
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
        "provider": {"aws": [{
            "region": "us-east-1", "access_key": "test", "secret_key": "test", "skip_credentials_validation": True,
            "skip_requesting_account_id": True, "skip_metadata_api_check": "true", "s3_use_path_style": True,
            "max_retries": 1, "endpoints": [{"s3": endpoint, "sts": endpoint}],
        }]},
        "resource": {
            "aws_s3_bucket": {"b": {"bucket": "mlp-benchmark-baseline", "force_destroy": True}},
            "aws_s3_bucket_lifecycle_configuration": {"l": {
                "bucket": "${aws_s3_bucket.b.id}",
                "rule": [{"id": "r", "status": "Enabled", "filter": [{"prefix": ""}],
                          "noncurrent_version_expiration": [{"noncurrent_days": 30}]}],
            }},
        },
    }  # fmt: skip
    (directory / "main.tf.json").write_text(json.dumps(document))
    return directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default="fraud-local")
    args = parser.parse_args()
    from stacks.app import build_app
    from stacks.config import load_config

    with running_emulator() as emulator, tempfile.TemporaryDirectory() as tmp:
        os.environ.update(emulator.client_env())
        env = {k: v for k, v in emulator.client_env().items() if k.startswith("AWS_")}
        base = timed(Terraform(baseline_stack(Path(tmp) / "baseline", emulator.endpoint), env=env))
        start = time.perf_counter()
        build_app(load_config(), [args.stack], outdir=str(Path(tmp) / "out")).synth()
        synth = time.perf_counter() - start
        stack_dir = Path(tmp) / "out" / "stacks" / args.stack
        resources = sum(len(v) for v in json.loads((stack_dir / "cdk.tf.json").read_text())["resource"].values())
        team = timed(Terraform(stack_dir, env=env))
    print(f"{'step':<10}{'baseline (1 bucket + lifecycle)':>34}{args.stack + f' ({resources} resources)':>34}{'ratio':>8}")
    print(f"{'synth':<10}{'-':>34}{synth:>33.1f}s{'':>8}")
    for step in ("init", "apply", "plan", "destroy"):
        print(f"{step:<10}{base[step]:>33.1f}s{team[step]:>33.1f}s{team[step] / base[step]:>7.2f}x")


if __name__ == "__main__":
    main()
