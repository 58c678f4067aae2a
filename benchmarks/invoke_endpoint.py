"""Benchmark of InvokeEndpoint on the emulator (emulator/endpoint_runtime.py): the model's inference script
in its long-lived child process, data capture written, metrics published, per request.

    .venv/bin/python -m benchmarks.invoke_endpoint [--requests 300]

Starts an emulator, deploys a model whose inference script is a few lines of standard-library Python
(so the figure is the emulator's own cost, not a network's), and times, in the same run:

* baseline: DescribeEndpoint, a plain moto request of the same size class (HTTP + botocore + moto);
* first request: the container's start (artifact unpacked, process started, model_fn);
* InvokeEndpoint: each later request (answer, capture object, seven metric data).

Prints per-request medians and the ratio to the baseline.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid

from emulator.server import running_emulator
from ops.code_bundle import deterministic_tar_gz
from tests.integration.clients import client_factory

SCRIPT = """
import json
def model_fn(model_dir):
    return 2.0
def input_fn(body, content_type):
    return [float(v) for v in body.decode().split(",")]
def predict_fn(values, model):
    return [model * v for v in values]
def output_fn(prediction, accept):
    return json.dumps({"predictions": prediction}), "application/json"
"""


def _timed(call, count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    with running_emulator() as emulator:
        aws = client_factory(emulator)
        name = f"bench-{uuid.uuid4().hex[:8]}"
        aws("s3").create_bucket(Bucket=name)
        aws("s3").put_object(
            Bucket=name, Key="model.tar.gz", Body=deterministic_tar_gz([("code/inference.py", SCRIPT.encode(), False)])
        )
        aws("sagemaker").create_model(
            ModelName=name,
            ExecutionRoleArn="arn:aws:iam::123456789012:role/r",
            PrimaryContainer={
                "Image": "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.5.1-cpu-py311",
                "ModelDataUrl": f"s3://{name}/model.tar.gz",
            },
        )
        aws("sagemaker").create_endpoint_config(
            EndpointConfigName=name,
            ProductionVariants=[
                {"VariantName": "primary", "ModelName": name, "InstanceType": "ml.g5.xlarge", "InitialInstanceCount": 1}
            ],
            DataCaptureConfig={
                "EnableCapture": True,
                "InitialSamplingPercentage": 100,
                "DestinationS3Uri": f"s3://{name}/capture",
                "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
                "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"]},
            },
        )
        aws("sagemaker").create_endpoint(EndpointName=name, EndpointConfigName=name)
        runtime, sagemaker = aws("sagemaker-runtime"), aws("sagemaker")

        def invoke():
            return json.loads(runtime.invoke_endpoint(EndpointName=name, Body=b"1.5,2", ContentType="text/csv")["Body"].read())

        baseline = _timed(lambda: sagemaker.describe_endpoint(EndpointName=name), args.requests)
        first = _timed(invoke, 1)[0]
        served = _timed(invoke, args.requests)
        captured = aws("s3").list_objects_v2(Bucket=name, Prefix="capture/")["KeyCount"]
    base, median = statistics.median(baseline), statistics.median(served)
    print(f"baseline DescribeEndpoint: median {base * 1000:.1f} ms over {len(baseline)} requests")
    print(f"first InvokeEndpoint (container start): {first * 1000:.0f} ms")
    print(
        f"InvokeEndpoint: median {median * 1000:.1f} ms, p90 {statistics.quantiles(served, n=10)[-1] * 1000:.1f} ms "
        f"over {len(served)} requests ({captured} capture objects): {median / base:.2f}x the baseline"
    )


if __name__ == "__main__":
    main()
