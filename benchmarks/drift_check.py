"""Benchmark of the drift_check handler on a synthetic capture window in moto (in-process).

    python -m benchmarks.drift_check [--records 100000] [--features 20] [--runs 3]

Generates `--records` captured requests of `--features` model inputs (CSV payloads, a quarter of the
features categorical) spread over the 24 hours of the window, stores them in moto's S3 in objects of
`--per-object` lines, and times:

* reference: list the window's objects, `iter_lines()` them and `json.loads` each line -- the floor
  any handler reading this window pays (moto's S3 plus JSON decoding);
* handler: the full drift check (SSM + baseline + read + parse + bin + PSI/JS + PutMetricData).

Each is run `--runs` times without tracing (median/min/max wall time); one further handler run under
tracemalloc gives the Python-heap peak. ru_maxrss is the whole process's peak RSS, which includes moto
holding every generated object in memory, so it overstates what a Lambda would use. Goal: handler
< 5 s and < 512 MB at 100k x 20.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import statistics
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "TEAM": "bench",
    "ENVIRONMENT": "dev",
    "ENDPOINT_NAME": "mlp-bench-dev",
    "METRIC_NAMESPACE": "MLPlatform",
    "ARTIFACT_BUCKET": "mlp-bench-dev-artifacts-123456789012",
    "FEATURE_DEFINITIONS_KEY": "features/definitions.json",
    "DEPLOYED_MODEL_PARAMETER": "/mlp/bench/dev/deployed-model",
    "WINDOW_HOURS": "24",
}
WINDOW_END = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
CATEGORIES = ["alpha", "beta", "gamma", "delta", "epsilon"]


def definitions(features: int) -> dict:
    specs = []
    for i in range(features):
        if i % 4 == 3:
            specs.append({"name": f"f{i:02d}", "type": "String", "categories": CATEGORIES[:4]})
        else:
            specs.append({"name": f"f{i:02d}", "type": "Fractional", "range": [0, 100]})
    return {
        "schema": 1,
        "version": "bench",
        "team": "bench",
        "feature_sets": [{"name": "bench", "record_identifier": "id", "event_time_feature": "t", "features": specs}],
        "model_inputs": {"feature_set": "bench", "features": [s["name"] for s in specs], "label": "y"},
    }


def values(rng: random.Random, features: int, shift: float) -> list[str]:
    return [rng.choice(CATEGORIES) if i % 4 == 3 else f"{rng.uniform(0, 100) + shift:.3f}" for i in range(features)]


def seed(records: int, features: int, per_object: int) -> None:
    import boto3

    from common.drift import compute_baseline

    bucket, endpoint = ENV["ARTIFACT_BUCKET"], ENV["ENDPOINT_NAME"]
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)
    document = definitions(features)
    names = document["model_inputs"]["features"]
    s3.put_object(Bucket=bucket, Key=ENV["FEATURE_DEFINITIONS_KEY"], Body=json.dumps(document).encode())
    rng = random.Random(0)
    training = (dict(zip(names, values(rng, features, 0))) for _ in range(10_000))
    s3.put_object(Bucket=bucket, Key="baselines/bench.json", Body=json.dumps(compute_baseline(document, training)).encode())
    boto3.client("ssm").put_parameter(
        Name=ENV["DEPLOYED_MODEL_PARAMETER"],
        Type="String",
        Value=json.dumps(
            {"baseline_uri": f"s3://{bucket}/baselines/bench.json", "run_id": "bench", "model_package_arn": "bench"}
        ),
    )

    lines: list[str] = []
    part = 0

    def flush(at: datetime) -> None:
        nonlocal part, lines
        key = f"data-capture/{endpoint}/primary/{at:%Y/%m/%d/%H}/part-{part:05d}.jsonl"
        s3.put_object(Bucket=bucket, Key=key, Body=("\n".join(lines) + "\n").encode())
        part += 1
        lines = []

    for i in range(records):
        at = WINDOW_END - timedelta(seconds=1 + (i * 86_000) // records)
        lines.append(
            json.dumps(
                {
                    "captureData": {
                        "endpointInput": {
                            "observedContentType": "text/csv",
                            "mode": "INPUT",
                            "encoding": "CSV",
                            "data": ",".join(values(rng, features, 10)),
                        },
                        "endpointOutput": {
                            "observedContentType": "text/csv",
                            "mode": "OUTPUT",
                            "encoding": "CSV",
                            "data": f"{rng.random():.4f}",
                        },
                    },
                    "eventMetadata": {"eventId": f"e-{i}", "inferenceId": f"i-{i}", "inferenceTime": f"{at:%Y-%m-%dT%H:%M:%SZ}"},
                    "eventVersion": "0",
                }
            )
        )
        next_at = WINDOW_END - timedelta(seconds=1 + ((i + 1) * 86_000) // records)
        if len(lines) >= per_object or i == records - 1 or next_at.hour != at.hour:
            flush(at)


def read_and_parse() -> int:
    """Reference: read every line of the window and json-parse it, nothing else."""
    from common import capture

    window = capture.Window(WINDOW_END - timedelta(hours=24), WINDOW_END)
    stats = capture.ReadStats()
    count = 0
    for base in capture.capture_bases(ENV["ARTIFACT_BUCKET"], ENV["ENDPOINT_NAME"]):
        for line in capture.iter_window_lines(ENV["ARTIFACT_BUCKET"], base, window, stats):
            json.loads(line)
            count += 1
    return count


def configuration():
    """The drift check's function environment: ENV's values, placeholders for what the check does not read."""
    import dataclasses

    from contract.environment import LambdaEnvironment

    variables = {LambdaEnvironment.variable(f.name): "unused" for f in dataclasses.fields(LambdaEnvironment)}
    variables.update(COOLDOWN_SECONDS="0", AUTO_APPROVE="false", PROBLEM_TYPE="binary", PRODUCTION="false")
    variables.update(BUDGET_ACT_PERCENT="100", **{k: v for k, v in ENV.items() if not k.startswith("AWS_")})
    return LambdaEnvironment.from_env(variables)


def run_handler() -> int:
    from lambdas.drift_check.handler import handle

    event = {"window_start": (WINDOW_END - timedelta(hours=24)).isoformat(), "window_end": WINDOW_END.isoformat()}
    result = handle(event, configuration())
    assert result["status"] == "ok", result
    return result["sample_count"]


def timed(function, runs: int) -> tuple[list[float], int]:
    times, count = [], 0
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        count = function()
        times.append(time.perf_counter() - start)
    return times, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--per-object", type=int, default=1000, help="capture lines per S3 object")
    args = parser.parse_args()
    os.environ.update(ENV)
    os.environ.pop("AWS_ENDPOINT_URL", None)

    from moto import mock_aws

    from common import aws

    aws.reset_clients()
    with mock_aws():
        started = time.perf_counter()
        seed(args.records, args.features, args.per_object)
        seeding = time.perf_counter() - started

        reference_times, reference_count = timed(read_and_parse, args.runs)
        handler_times, handler_count = timed(run_handler, args.runs)
        assert reference_count == handler_count == args.records, (reference_count, handler_count)

        gc.collect()
        tracemalloc.start()
        run_handler()
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux

    print(
        f"records={args.records:,} features={args.features} per_object={args.per_object} runs={args.runs} "
        f"(seeding moto took {seeding:.1f} s)"
    )
    print(f"{'step':<24}{'median s':>10}{'min s':>10}{'max s':>10}{'records/s':>14}")
    for label, times in (("read+json.loads (ref)", reference_times), ("drift_check handler", handler_times)):
        median = statistics.median(times)
        print(f"{label:<24}{median:>10.3f}{min(times):>10.3f}{max(times):>10.3f}{args.records / median:>14,.0f}")
    overhead = statistics.median(handler_times) / statistics.median(reference_times)
    print(f"handler / reference: {overhead:.2f}x")
    print(f"tracemalloc peak (one handler run): {traced_peak / 2**20:.1f} MiB")
    print(f"ru_maxrss (whole process, incl. moto's copy of the data): {maxrss_mb:.0f} MiB")
    goal_time = statistics.median(handler_times) < 5
    print(
        f"goal < 5 s: {'met' if goal_time else 'NOT met'}; goal < 512 MB (tracemalloc peak): "
        f"{'met' if traced_peak < 512 * 2**20 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
