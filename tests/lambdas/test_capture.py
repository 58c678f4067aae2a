"""Data-capture reading: window parsing, the listing of hour prefixes, line parsing, predictions, metric batching.

Also holds the moto fixture and capture-writing helpers the drift and quality handler tests import.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from common import aws, capture
from contract.environment import LambdaEnvironment
from contract.events import BadEvent
from tests.lambdas import moto_state

BUCKET = "mlp-fraud-dev-artifacts-123456789012"
ENDPOINT = "mlp-fraud-dev"
NAMESPACE = "MLPlatform"
DEPLOYED_PARAMETER = "/mlp/fraud/dev/deployed-model"
DEFINITIONS_KEY = "features/definitions.json"
WINDOW_END = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

# The checks' Lambda environment, complete (what the stack writes); the fields they do not read are
# placeholders.
FUNCTION = LambdaEnvironment(
    platform="mlp",
    team="fraud",
    environment="dev",
    prefix="mlp-fraud-dev",
    raw_bucket="mlp-fraud-dev-raw-123456789012",
    curated_bucket="mlp-fraud-dev-curated-123456789012",
    artifact_bucket=BUCKET,
    kms_key_arn="arn:aws:kms:us-east-1:123456789012:key/unused",
    endpoint_name=ENDPOINT,
    model_package_group="mlp-fraud-dev-models",
    runs_table="mlp-fraud-dev-runs",
    training_recipe_parameter="/mlp/fraud/dev/training-recipe",
    serving_recipe_parameter="/mlp/fraud/dev/serving-recipe",
    deployed_model_parameter=DEPLOYED_PARAMETER,
    code_bundle_parameter="/mlp/fraud/dev/code-bundle",
    metric_namespace=NAMESPACE,
    retrain_alarm_arns=(),
    watch_rule_arn="arn:aws:events:us-east-1:123456789012:rule/mlp-fraud-dev-retrain-watch",
    retrain_schedule_rule_arns=(),
    alert_topic_arn="arn:aws:sns:us-east-1:123456789012:mlp-fraud-dev-alerts",
    cooldown_seconds=3600,
    auto_approve=False,
    window_hours=24,
    quality_min_samples=1,  # the handler tests score small windows; the minimum has its own test
    problem_type="binary",
    production=False,
    budget_act_percent=100,
    feature_definitions_key=DEFINITIONS_KEY,
)
ENV = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    **FUNCTION.to_env(),
}


@pytest.fixture
def aws_env(monkeypatch):
    """moto in-process with the artifacts bucket (restored, not rebuilt: tests/lambdas/moto_state.py), the
    Lambda environment and fresh cached clients."""
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    aws.reset_clients()
    with moto_state.restored(monkeypatch, "capture", lambda: boto3.client("s3").create_bucket(Bucket=BUCKET)):
        yield
    aws.reset_clients()


def capture_line(
    payload: str,
    *,
    encoding: str = "CSV",
    content_type: str | None = None,
    output: str = "0.5",
    output_encoding: str = "CSV",
    event_id: str = "e-1",
    inference_id: str | None = None,
    at: datetime = WINDOW_END - timedelta(minutes=30),
) -> str:
    """One SageMaker data-capture JSON line."""
    content_type = content_type or ("application/json" if encoding == "JSON" else "text/csv")
    metadata: dict[str, Any] = {"eventId": event_id, "inferenceTime": at.strftime("%Y-%m-%dT%H:%M:%SZ")}
    if inference_id is not None:
        metadata["inferenceId"] = inference_id
    return json.dumps(
        {
            "captureData": {
                "endpointInput": {"observedContentType": content_type, "mode": "INPUT", "data": payload, "encoding": encoding},
                "endpointOutput": {
                    "observedContentType": "text/csv",
                    "mode": "OUTPUT",
                    "data": output,
                    "encoding": output_encoding,
                },
            },
            "eventMetadata": metadata,
            "eventVersion": "0",
        }
    )


def capture_key(at: datetime, name: str = "part-0", variant: str = "primary") -> str:
    return f"data-capture/{ENDPOINT}/{variant}/{at:%Y/%m/%d/%H}/{name}.jsonl"


def put_lines(key: str, lines: Iterable[str]) -> None:
    boto3.client("s3").put_object(Bucket=BUCKET, Key=key, Body=("\n".join(lines) + "\n").encode())


def metric_values(name: str, dimensions: Sequence[dict[str, str]] | None = None) -> list[float]:
    """All values moto holds for one metric (summed per period), via GetMetricData."""
    cloudwatch = boto3.client("cloudwatch")
    found = cloudwatch.list_metrics(Namespace=NAMESPACE, MetricName=name)["Metrics"]
    values: list[float] = []
    for metric in found:
        if dimensions is not None and sorted(metric["Dimensions"], key=str) != sorted(dimensions, key=str):
            continue
        response = cloudwatch.get_metric_data(
            MetricDataQueries=[{"Id": "m", "MetricStat": {"Metric": metric, "Period": 60, "Stat": "Sum"}}],
            StartTime=WINDOW_END - timedelta(days=30),
            EndTime=WINDOW_END + timedelta(days=30),
        )
        values += response["MetricDataResults"][0]["Values"]
    return values


def dims(feature: str | None = None) -> list[dict[str, str]]:
    out = [{"Name": "Team", "Value": "fraud"}, {"Name": "Environment", "Value": "dev"}, {"Name": "Endpoint", "Value": ENDPOINT}]
    if feature:
        out.append({"Name": "Feature", "Value": feature})
    return out


def metric_names() -> set[str]:
    return {m["MetricName"] for m in boto3.client("cloudwatch").list_metrics(Namespace=NAMESPACE)["Metrics"]}


# --------------------------------------------------------------------------------------------------
# Window
# --------------------------------------------------------------------------------------------------


def test_scheduled_event_window_ends_at_event_time():
    event = {"source": "aws.events", "detail-type": "Scheduled Event", "time": "2024-05-01T12:00:00Z"}
    window = capture.window_from_event(event, 24)
    assert window.end == WINDOW_END
    assert window.start == WINDOW_END - timedelta(hours=24)


def test_explicit_window_naive_means_utc():
    window = capture.window_from_event({"window_start": "2024-05-01T10:30:00", "window_end": "2024-05-01T12:00:00+00:00"}, 24)
    assert window.start == datetime(2024, 5, 1, 10, 30, tzinfo=UTC)
    assert window.hours() == [datetime(2024, 5, 1, 10, tzinfo=UTC), datetime(2024, 5, 1, 11, tzinfo=UTC)]


@pytest.mark.parametrize(
    "event",
    [
        None,
        [],
        "x",
        {"window_start": 5, "window_end": "2024-05-01T12:00:00Z"},
        {"window_start": "2024-05-01T12:00:00Z"},
        {"window_start": "2024-05-02T00:00:00Z", "window_end": "2024-05-01T00:00:00Z"},
        {"window_start": "2024-05-01T00:00:00Z", "window_end": "2024-05-01T00:00:00Z"},
        {"window_start": "yesterday", "window_end": "2024-05-01T00:00:00Z"},
        {"detail-type": "Scheduled Event"},
        {"detail-type": "Scheduled Event", "time": 1714564800},
        {"detail-type": "Something Else", "time": "2024-05-01T12:00:00Z"},
        {"detail-type": "Scheduled Event", "time": "2024-05-01T12:00:00Z"},  # no source
        {"source": "evil", "detail-type": "Scheduled Event", "time": "2024-05-01T12:00:00Z"},
        {"source": "aws.events", "detail-type": "Scheduled Event", "time": "2024-05-01T12:00:00Z", "window_end": "x"},
    ],
)
def test_bad_window_events(event):
    with pytest.raises(BadEvent):
        capture.window_from_event(event, 24)


# --------------------------------------------------------------------------------------------------
# Line parsing
# --------------------------------------------------------------------------------------------------

NAMES = ["amount", "category"]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "payload,encoding,content_type,expected",
    [
        ("12.5,grocery", "CSV", None, [{"amount": "12.5", "category": "grocery"}]),
        ('12.5,"gro,cery"', "CSV", None, [{"amount": "12.5", "category": "gro,cery"}]),
        ("1,a\n2,b\n", "CSV", None, [{"amount": "1", "category": "a"}, {"amount": "2", "category": "b"}]),
        ('{"amount": 3, "category": "a"}', "JSON", None, [{"amount": 3, "category": "a"}]),
        (
            '{"instances": [{"amount": 3, "category": "a"}, [4, "b"]]}',
            "JSON",
            None,
            [{"amount": 3, "category": "a"}, {"amount": 4, "category": "b"}],
        ),
        (b64("5,c"), "BASE64", "text/csv", [{"amount": "5", "category": "c"}]),
        (b64('{"instances": [[6, "d"]]}'), "BASE64", "application/json", [{"amount": 6, "category": "d"}]),
        (b64('{"amount": 7}'), "BASE64", "application/octet-stream", [{"amount": 7}]),
    ],
)
def test_parse_capture_line_inputs(payload, encoding, content_type, expected):
    line = capture_line(payload, encoding=encoding, content_type=content_type, event_id="ev", inference_id="inf")
    record = capture.parse_capture_line(line.encode(), NAMES)
    assert record.instances == expected
    assert (record.event_id, record.inference_id) == ("ev", "inf")
    assert record.inference_time == WINDOW_END - timedelta(minutes=30)


@pytest.mark.parametrize(
    "line",
    [
        "not json",
        "[1, 2]",
        json.dumps({"eventMetadata": {"eventId": "x"}}),
        capture_line("1,2,3"),
        capture_line("1"),
        capture_line("!!!not base64", encoding="BASE64"),
        capture_line("{broken", encoding="JSON"),
        capture_line('{"instances": [[1]]}', encoding="JSON"),
        capture_line('{"instances": "x"}', encoding="JSON"),
        capture_line("[1, 2]", encoding="JSON"),
        capture_line("1,a", at=WINDOW_END).replace("2024-05-01T12:00:00Z", "noon"),
    ],
)
def test_malformed_lines_raise_malformed_record(line):
    with pytest.raises(capture.MalformedRecord):
        capture.parse_capture_line(line, NAMES)


def test_quality_mode_skips_inputs():
    record = capture.parse_capture_line(capture_line("garbage with wrong width", output="0.9"), None)
    assert record.instances == [] and record.prediction() == 0.9


@pytest.mark.parametrize(
    "text,expected",
    [
        ("0.25", 0.25),
        ("0.25\n", 0.25),
        ("0.7,0.3", 0.7),
        ("1,0\n0,1", 1.0),
        ("[0.4]", 0.4),
        ('{"predictions": [0.6, 0.1]}', 0.6),
        ('{"predictions": [{"score": 0.8}]}', 0.8),
        ('{"score": 0.3}', 0.3),
        ('{"label": "x"}', None),
        ("abc", None),
        ("", None),
        ("{bad", None),
    ],
)
def test_parse_prediction(text, expected):
    assert capture.parse_prediction(text) == expected


def test_base64_prediction():
    record = capture.parse_capture_line(capture_line("1,a", output=b64('{"score": 0.42}'), output_encoding="BASE64"), NAMES)
    assert record.prediction() == 0.42


# --------------------------------------------------------------------------------------------------
# Reading a window from S3
# --------------------------------------------------------------------------------------------------


def test_iter_capture_lists_only_window_hours_and_counts_malformed(aws_env):
    inside = WINDOW_END - timedelta(hours=2)
    put_lines(capture_key(inside), [capture_line("1,a", at=inside), "garbage", "", capture_line("2,b", at=inside)])
    put_lines(capture_key(inside, variant="shadow"), [capture_line("3,c", at=inside)])
    # the hour before the window and the hour of its (exclusive) end are not listed at all
    before = WINDOW_END - timedelta(hours=25)
    put_lines(capture_key(before), [capture_line("9,z", at=before)])
    put_lines(capture_key(WINDOW_END), [capture_line("9,z", at=WINDOW_END)])
    # the window starts at 12:00 the day before: its first hour prefix is read, and a record in it whose
    # inference time is before the start is skipped (not malformed)
    edge = WINDOW_END - timedelta(hours=24, minutes=-5)
    early = WINDOW_END - timedelta(hours=24, seconds=1)
    put_lines(capture_key(edge, "edge"), [capture_line("4,d", at=edge), capture_line("8,y", at=early)])
    window = capture.Window(WINDOW_END - timedelta(hours=24), WINDOW_END)

    stats = capture.ReadStats()
    records = list(capture.iter_capture(BUCKET, ENDPOINT, window, NAMES, stats))
    amounts = sorted(i["amount"] for r in records for i in r.instances)
    assert amounts == ["1", "2", "3", "4"]
    assert stats.malformed == 1
    assert stats.objects == 3  # the hour before the window and the end hour are never read
    assert stats.records == 4 and stats.out_of_window == 1


def test_a_day_the_window_covers_whole_is_listed_once_and_reads_what_its_hours_hold(aws_env):
    """From 21:30 on one day to 02:00 two days later: the middle day is one LIST of its day prefix, the
    partial days one per hour; what is read is exactly what the hour folders inside the window hold."""
    start, end = datetime(2024, 5, 1, 21, 30, tzinfo=UTC), datetime(2024, 5, 3, 2, 0, tzinfo=UTC)
    base = f"data-capture/{ENDPOINT}/primary"
    inside = [
        start,
        datetime(2024, 5, 2, 0, tzinfo=UTC),
        datetime(2024, 5, 2, 13, tzinfo=UTC),
        datetime(2024, 5, 3, 1, 59, tzinfo=UTC),
    ]
    outside = [datetime(2024, 5, 1, 20, 59, tzinfo=UTC), end]
    for at in inside + outside:
        put_lines(capture_key(at, f"{at:%d%H%M}"), [f"{at:%d%H%M}"])
    # under the whole day but in no hour folder: listing hour prefixes never saw these, nor does the day's LIST
    for stray in ("notes.txt", "24/late.jsonl", "7/short.jsonl"):
        put_lines(f"{base}/2024/05/02/{stray}", ["stray"])
    lists: list[str] = []
    s3 = aws.client("s3")
    s3.meta.events.register("provide-client-params.s3.ListObjectsV2", lambda params, **_: lists.append(params["Prefix"]))

    read = list(capture.iter_hour_lines(BUCKET, base, capture.Window(start, end), capture.ReadStats()))

    assert [(hour, line.decode()) for hour, line in read] == [(at.replace(minute=0), f"{at:%d%H%M}") for at in inside]
    assert lists == [
        f"{base}/2024/05/01/21/",
        f"{base}/2024/05/01/22/",
        f"{base}/2024/05/01/23/",
        f"{base}/2024/05/02/",
        f"{base}/2024/05/03/00/",
        f"{base}/2024/05/03/01/",
    ]


def test_publish_batches_at_most_1000(aws_env):
    calls: list[int] = []
    cloudwatch = aws.client("cloudwatch")
    cloudwatch.meta.events.register(
        "provide-client-params.cloudwatch.PutMetricData", lambda params, **_: calls.append(len(params["MetricData"]))
    )
    datum = capture.MetricDimensions("fraud", "dev", ENDPOINT).datum
    data = [datum("FeaturePSI", 0.1, WINDOW_END, extra={"Feature": f"f{i}"}) for i in range(2500)]
    assert capture.publish(NAMESPACE, data) == 3
    assert calls == [1000, 1000, 500]
