"""One test per patch in emulator/patches_runtime.py, against a running patched emulator: an endpoint answers
with the deployed model's own inference script, fails as SageMaker fails, writes SageMaker's data capture
and publishes SageMaker's invocation metrics. Each fails against unpatched moto 5.2.5 (noted per test).

The model here is a few lines of standard-library Python (so these tests need no PyTorch); the fraud
reference model is served the same way in tests/integration/test_loop.py."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import uuid

import pytest
from botocore.exceptions import ClientError

from common.capture import parse_capture_line
from contract.names import TeamContext
from emulator import alarms
from emulator.patches_runtime import percentile
from emulator.server import running_emulator
from ops.code_bundle import deterministic_tar_gz
from tests.integration.clients import client_factory

ACCOUNT, REGION = "123456789012", "us-east-1"
IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.5.1-cpu-py311"  # AWS's: not checked here
INFERENCE = """
import json, os

class BadRequest(ValueError):
    status = 400

def model_fn(model_dir):
    print("loading the model")  # a script's own output must not disturb the answers
    with open(os.path.join(model_dir, "weights.json")) as f:
        return json.load(f)

def input_fn(body, content_type):
    if content_type != "text/csv":
        raise BadRequest(f"unsupported content type {content_type}")
    values = [float(v) for v in body.decode().split(",")]
    if any(v < 0 for v in values):
        raise BadRequest(f"negative value in {values}")
    return values

def predict_fn(values, model):
    if values[0] == 13:
        raise RuntimeError("unlucky input 13")
    return sum(w * v for w, v in zip(model["w"], values))

def output_fn(prediction, accept):
    return json.dumps({"predictions": [prediction], "pid": os.getpid()}), "application/json"
"""
CAPTURE_KEY = re.compile(
    r"^capture/(?P<endpoint>[^/]+)/primary/\d{4}/\d{2}/\d{2}/\d{2}/\d{2}-\d{2}-\d{3}-"
    r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.jsonl$"
)


@pytest.fixture(scope="module")
def emulator():
    with running_emulator() as server:
        yield server


@pytest.fixture(scope="module")
def aws(emulator):
    return client_factory(emulator)


@pytest.fixture(scope="module")
def bucket(aws):
    name = f"mlp-runtime-{uuid.uuid4().hex[:8]}"
    aws("s3").create_bucket(Bucket=name)
    return name


def _name(prefix: str = "mlp-runtime") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _model(aws, bucket: str, weights: list[float], code: str = INFERENCE) -> str:
    artifact = deterministic_tar_gz(
        [("code/inference.py", code.encode(), False), ("weights.json", json.dumps({"w": weights}).encode(), False)]
    )
    key = f"models/{uuid.uuid4().hex}/model.tar.gz"
    aws("s3").put_object(Bucket=bucket, Key=key, Body=artifact)
    name = _name()
    aws("sagemaker").create_model(
        ModelName=name,
        ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/r",
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": f"s3://{bucket}/{key}"},
    )
    return name


def _config(aws, bucket: str, model: str, capture_percent: int | None = 100, kms: str | None = None) -> str:
    name = _name()
    request = {
        "EndpointConfigName": name,
        "ProductionVariants": [
            {"VariantName": "primary", "ModelName": model, "InstanceType": "ml.g5.xlarge", "InitialInstanceCount": 1}
        ],
    }
    if capture_percent is not None:
        request["DataCaptureConfig"] = {
            "EnableCapture": True,
            "InitialSamplingPercentage": capture_percent,
            "DestinationS3Uri": f"s3://{bucket}/capture",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"], "JsonContentTypes": ["application/json"]},
            **({"KmsKeyId": kms} if kms else {}),
        }
    aws("sagemaker").create_endpoint_config(**request)
    return name


def _endpoint(aws, config: str) -> str:
    name = _name()
    aws("sagemaker").create_endpoint(EndpointName=name, EndpointConfigName=config)
    return name


def _invoke(aws, endpoint: str, body: str, **extra) -> dict:
    response = aws("sagemaker-runtime").invoke_endpoint(
        EndpointName=endpoint, Body=body.encode(), ContentType="text/csv", **extra
    )
    return {**response, "Body": json.loads(response["Body"].read())}


def _captured(aws, bucket: str, endpoint: str) -> list[tuple[str, dict, list[dict]]]:
    """(key, GetObject answer, its JSON lines) of each capture object of the endpoint."""
    listed = aws("s3").list_objects_v2(Bucket=bucket, Prefix=f"capture/{endpoint}/").get("Contents", [])
    objects = [(item["Key"], aws("s3").get_object(Bucket=bucket, Key=item["Key"])) for item in listed]
    return [(key, obj, [json.loads(line) for line in obj["Body"].read().splitlines()]) for key, obj in objects]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_invoke_endpoint_answers_with_the_models_inference_script(aws, bucket):
    """Patch sagemaker_runtime_invoke_endpoint_runs_the_model. Unpatched: Body "body", ContentType "content_type"."""
    endpoint = _endpoint(aws, _config(aws, bucket, _model(aws, bucket, [2.0, 10.0])))
    first = _invoke(aws, endpoint, "1.5,3", Accept="application/json")
    assert first["Body"]["predictions"] == [33.0]
    assert (first["ContentType"], first["InvokedProductionVariant"]) == ("application/json", "primary")
    second = _invoke(aws, endpoint, "0,1")
    assert second["Body"]["predictions"] == [10.0]
    assert second["Body"]["pid"] == first["Body"]["pid"]  # one container per variant, kept alive: loaded once


def test_invoke_endpoint_fails_as_sagemaker_does(aws, bucket):
    """Patch sagemaker_runtime_invoke_endpoint_runs_the_model. Unpatched: every request answers "body",
    for endpoints that do not exist too."""
    runtime = aws("sagemaker-runtime")
    endpoint = _endpoint(aws, _config(aws, bucket, _model(aws, bucket, [1.0])))
    with pytest.raises(ClientError) as error:
        runtime.invoke_endpoint(EndpointName=endpoint, Body=b"-4", ContentType="text/csv")
    response = error.value.response
    assert (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["OriginalStatusCode"]) == (
        "ModelError",
        424,
        400,
    )
    assert (
        "Received client error (400) from primary" in response["Error"]["Message"]
        and "negative value" in response["Error"]["Message"]
    )
    with pytest.raises(ClientError) as error:
        runtime.invoke_endpoint(EndpointName=endpoint, Body=b"13", ContentType="text/csv")
    assert error.value.response["OriginalStatusCode"] == 500 and "RuntimeError: unlucky input 13" in str(error.value)
    with pytest.raises(ClientError, match=r"ValidationError.*Endpoint mlp-runtime-absent of account \d+ not found"):
        runtime.invoke_endpoint(EndpointName="mlp-runtime-absent", Body=b"1", ContentType="text/csv")
    with pytest.raises(ClientError, match="ValidationError.*inferenceId"):
        runtime.invoke_endpoint(EndpointName=endpoint, Body=b"1", ContentType="text/csv", InferenceId="x" * 65)

    # A model whose data is not in S3: the endpoint ends Failed (the strict emulator) and serves nothing.
    broken = _model(aws, bucket, [1.0])
    aws("s3").delete_object(
        Bucket=bucket,
        Key=aws("sagemaker").describe_model(ModelName=broken)["PrimaryContainer"]["ModelDataUrl"].split(f"s3://{bucket}/")[1],
    )
    failed = _endpoint(aws, _config(aws, bucket, broken))
    with pytest.raises(ClientError, match=r"ValidationError.*is not in service \(EndpointStatus Failed\)"):
        runtime.invoke_endpoint(EndpointName=failed, Body=b"1", ContentType="text/csv")
    # A script that cannot load its model: the request fails with the reason, nothing hangs.
    unloadable = _endpoint(aws, _config(aws, bucket, _model(aws, bucket, [1.0], code="raise ImportError('no torch here')\n")))
    with pytest.raises(ClientError, match="ModelError.*did not start.*no torch here"):
        runtime.invoke_endpoint(EndpointName=unloadable, Body=b"1", ContentType="text/csv")


def test_containers_stop_when_the_endpoint_is_updated_or_deleted(aws, bucket):
    """Patch sagemaker_endpoint_containers_stop_with_the_endpoint. Unpatched: the old model's process
    serves on after an update and outlives a deleted endpoint."""
    sagemaker = aws("sagemaker")
    endpoint = _endpoint(aws, _config(aws, bucket, _model(aws, bucket, [1.0])))
    old = _invoke(aws, endpoint, "5")["Body"]
    sagemaker.update_endpoint(EndpointName=endpoint, EndpointConfigName=_config(aws, bucket, _model(aws, bucket, [3.0])))
    assert not _alive(old["pid"])
    new = _invoke(aws, endpoint, "5")["Body"]
    assert new["predictions"] == [15.0] and new["pid"] != old["pid"]  # the new config's model answers
    sagemaker.delete_endpoint(EndpointName=endpoint)
    assert not _alive(new["pid"])
    with pytest.raises(ClientError, match="not found"):
        _invoke(aws, endpoint, "5")


def test_data_capture_is_written_where_and_as_sagemaker_writes_it(aws, bucket):
    """Patch sagemaker_runtime_invoke_endpoint_runs_the_model. Unpatched: nothing is captured."""
    kms = aws("kms").create_key()["KeyMetadata"]["Arn"]
    endpoint = _endpoint(aws, _config(aws, bucket, _model(aws, bucket, [2.0, 1.0]), kms=kms))
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    _invoke(aws, endpoint, "1,2", InferenceId="request-1", Accept="application/json")
    _invoke(aws, endpoint, "3,4")
    with pytest.raises(ClientError):
        _invoke(aws, endpoint, "-1,2")  # a failed request has no output: not captured
    captured = _captured(aws, bucket, endpoint)
    assert len(captured) == 1 and CAPTURE_KEY.match(captured[0][0])  # one file collects the variant's lines
    assert (captured[0][1]["ServerSideEncryption"], captured[0][1]["SSEKMSKeyId"]) == ("aws:kms", kms)
    records = captured[0][2]
    assert len(records) == 2
    first = next(r for r in records if r["eventMetadata"].get("inferenceId") == "request-1")
    assert first["captureData"]["endpointInput"] == {
        "observedContentType": "text/csv",
        "mode": "INPUT",
        "data": "1,2",
        "encoding": "CSV",
    }
    output = first["captureData"]["endpointOutput"]
    assert (output["observedContentType"], output["mode"], output["encoding"]) == ("application/json", "OUTPUT", "JSON")
    assert json.loads(output["data"])["predictions"] == [4.0] and first["eventVersion"] == "0"
    assert dt.datetime.fromisoformat(first["eventMetadata"]["inferenceTime"]) >= before
    assert sum("inferenceId" in r["eventMetadata"] for r in records) == 1  # only when the caller gave one
    # The platform's checks read it unchanged.
    parsed = parse_capture_line(json.dumps(first), ["a", "b"])
    assert (parsed.inference_id, parsed.instances, parsed.prediction()) == ("request-1", [{"a": "1", "b": "2"}], 4.0)


def test_data_capture_follows_the_configs_sampling_and_content_types(aws, bucket):
    """Patch sagemaker_runtime_invoke_endpoint_runs_the_model. Unpatched: nothing is captured."""
    never = _endpoint(aws, _config(aws, bucket, _model(aws, bucket, [1.0]), capture_percent=0))
    none = _endpoint(aws, _config(aws, bucket, _model(aws, bucket, [1.0]), capture_percent=None))
    for endpoint in (never, none):
        for _ in range(5):
            _invoke(aws, endpoint, "1")
        assert _captured(aws, bucket, endpoint) == []
    half = _endpoint(aws, _config(aws, bucket, _model(aws, bucket, [1.0]), capture_percent=50))
    for _ in range(60):
        _invoke(aws, half, "1")
    assert 0 < sum(len(lines) for _, _, lines in _captured(aws, bucket, half)) < 60  # sampled (both ends: probability 2^-60)

    # Content types the config does not list are captured BASE64.
    odd = _name()
    aws("sagemaker").create_endpoint_config(
        EndpointConfigName=odd,
        ProductionVariants=[
            {
                "VariantName": "primary",
                "ModelName": _model(aws, bucket, [1.0]),
                "InstanceType": "ml.g5.xlarge",
                "InitialInstanceCount": 1,
            }
        ],
        DataCaptureConfig={
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": f"s3://{bucket}/capture",
            "CaptureOptions": [{"CaptureMode": "Input"}],
        },
    )
    endpoint = _endpoint(aws, odd)
    _invoke(aws, endpoint, "7")
    ((_, _, (record,)),) = _captured(aws, bucket, endpoint)
    assert record["captureData"] == {
        "endpointInput": {"observedContentType": "text/csv", "mode": "INPUT", "data": "Nw==", "encoding": "BASE64"}
    }


def _sum(aws, endpoint: str, metric: str, since: dt.datetime) -> float:
    points = aws("cloudwatch").get_metric_statistics(
        Namespace="AWS/SageMaker",
        MetricName=metric,
        StartTime=since,
        EndTime=since + dt.timedelta(hours=1),
        Period=3600,
        Statistics=["Sum"],
        Dimensions=[{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": "primary"}],
    )["Datapoints"]
    return sum(p["Sum"] for p in points)


def test_invocations_publish_the_endpoints_sagemaker_metrics(aws, bucket):
    """Patch sagemaker_runtime_invoke_endpoint_runs_the_model. Unpatched: no AWS/SageMaker metric at all."""
    since = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    endpoint = _endpoint(aws, _config(aws, bucket, _model(aws, bucket, [1.0])))
    for body in ("1", "2", "3", "-1", "-2", "13"):
        try:
            _invoke(aws, endpoint, body)
        except ClientError:
            pass
    figures = {
        m: _sum(aws, endpoint, m, since)
        for m in ("Invocations", "Invocation4XXErrors", "Invocation5XXErrors", "InvocationModelErrors")
    }
    assert figures == {"Invocations": 6, "Invocation4XXErrors": 2, "Invocation5XXErrors": 1, "InvocationModelErrors": 3}
    latency = aws("cloudwatch").get_metric_statistics(
        Namespace="AWS/SageMaker",
        MetricName="ModelLatency",
        StartTime=since,
        EndTime=since + dt.timedelta(hours=1),
        Period=3600,
        ExtendedStatistics=["p99"],
        Statistics=["SampleCount"],
        Dimensions=[{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": "primary"}],
    )["Datapoints"]
    assert len(latency) == 1 and latency[0]["SampleCount"] == 6 and 0 < latency[0]["ExtendedStatistics"]["p99"] < 60e6


def test_percentiles_of_raw_values(aws):
    """Patch cloudwatch_extended_statistics. Unpatched: datapoints carry no ExtendedStatistics."""
    now = dt.datetime.now(dt.UTC)
    namespace = _name("mlp-percentiles")
    aws("cloudwatch").put_metric_data(
        Namespace=namespace, MetricData=[{"MetricName": "Latency", "Value": float(v), "Timestamp": now} for v in range(1, 201)]
    )
    (point,) = aws("cloudwatch").get_metric_statistics(
        Namespace=namespace,
        MetricName="Latency",
        StartTime=now - dt.timedelta(minutes=5),
        EndTime=now + dt.timedelta(minutes=5),
        Period=600,
        ExtendedStatistics=["p50", "p99", "p99.9"],
    )["Datapoints"]
    assert point["ExtendedStatistics"] == {"p50": 100.0, "p99": 198.0, "p99.9": 200.0}
    assert percentile([], "p99") is None


def test_golden_signal_alarms_are_evaluated_on_real_invocations(aws, bucket, emulator, monkeypatch):
    """The rollback alarms' metrics (modules/monitoring: ModelLatency p99, Invocation5XXErrors,
    InvocationModelErrors of EndpointName/VariantName) come from the served requests, and the emulator's
    alarm evaluation reads them. Unpatched: no datapoints, the alarms stay as they are."""
    for key, value in emulator.client_env().items():
        monkeypatch.setenv(key, value)
    ctx = TeamContext("mlp", _name("t").replace("-", ""), "local", ACCOUNT, REGION, "CC-1", True)
    endpoint = _endpoint(aws, _config(aws, bucket, _model(aws, bucket, [1.0])))
    dimensions = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": "primary"}]
    cloudwatch = aws("cloudwatch")
    for kind, metric, statistic, threshold in (
        ("model-errors", "InvocationModelErrors", {"Statistic": "Sum"}, 2),
        ("latency-p99", "ModelLatency", {"ExtendedStatistic": "p99"}, 60e6),
    ):
        cloudwatch.put_metric_alarm(
            AlarmName=ctx.alarm_name(kind),
            Namespace="AWS/SageMaker",
            MetricName=metric,
            Dimensions=dimensions,
            Period=300,
            EvaluationPeriods=1,
            Threshold=threshold,
            ComparisonOperator="GreaterThanThreshold",
            TreatMissingData="notBreaching",
            **statistic,
        )
        cloudwatch.set_alarm_state(AlarmName=ctx.alarm_name(kind), StateValue="INSUFFICIENT_DATA", StateReason="new")
    _invoke(aws, endpoint, "1")
    transitions = {t.alarm: t for t in alarms.evaluate(ctx)}
    assert transitions[ctx.alarm_name("model-errors")].state == "OK" and transitions[ctx.alarm_name("latency-p99")].state == "OK"
    assert 0 < transitions[ctx.alarm_name("latency-p99")].value < 60e6  # the served request's latency, in microseconds
    for body in ("-1", "-2", "13"):
        with pytest.raises(ClientError):
            _invoke(aws, endpoint, body)
    transitions = {t.alarm: t for t in alarms.evaluate(ctx)}
    assert transitions[ctx.alarm_name("model-errors")].state == "ALARM" and transitions[ctx.alarm_name("model-errors")].value == 3


def test_capture_files_hold_at_most_their_share_of_records(aws, bucket):
    """Patch sagemaker_runtime_invoke_endpoint_runs_the_model: SageMaker writes captured records in files of
    many lines; a file takes CAPTURE_FILE_RECORDS lines at most, then the next one starts. Unpatched:
    nothing is captured."""
    from emulator.endpoint_runtime import CAPTURE_FILE_RECORDS

    endpoint = _endpoint(aws, _config(aws, bucket, _model(aws, bucket, [1.0])))
    for index in range(CAPTURE_FILE_RECORDS + 3):
        _invoke(aws, endpoint, "1", InferenceId=f"r{index}")
    files = _captured(aws, bucket, endpoint)
    ids = [record["eventMetadata"]["inferenceId"] for _, _, lines in files for record in lines]
    # Two files, unless an hour or a minute of file age passed meanwhile (then one more).
    assert max(len(lines) for _, _, lines in files) <= CAPTURE_FILE_RECORDS and len(files) >= 2
    assert sorted(ids) == sorted(f"r{index}" for index in range(CAPTURE_FILE_RECORDS + 3))  # each request exactly once
