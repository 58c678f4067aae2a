"""drift_check handler against moto: PSI equals an independent reference, empty windows, malformed lines."""

from __future__ import annotations

import json
import math
import random
from datetime import timedelta

import boto3
import pytest

from common import drift
from contract.events import BadEvent
from lambdas.drift_check.handler import handler
from tests.lambdas.test_capture import (  # noqa: F401  (aws_env is a fixture)
    BUCKET,
    DEFINITIONS_KEY,
    DEPLOYED_PARAMETER,
    ENDPOINT,
    WINDOW_END,
    aws_env,
    capture_key,
    capture_line,
    dims,
    metric_names,
    metric_values,
    put_lines,
)

EVENT = {"source": "aws.events", "detail-type": "Scheduled Event", "time": "2024-05-01T12:00:00Z", "detail": {}}
DEFINITIONS = {
    "schema": 1,
    "version": "feedfacecafebeef",
    "team": "fraud",
    "feature_sets": [
        {
            "name": "tx",
            "record_identifier": "id",
            "event_time_feature": "t",
            "features": [
                {"name": "id", "type": "String"},
                {"name": "amount", "type": "Fractional", "range": [0, 100]},
                {"name": "category", "type": "String", "categories": ["a", "b", "c"]},
            ],
        }
    ],
    "model_inputs": {"feature_set": "tx", "features": ["amount", "category"], "label": "y"},
}
CATEGORIES = ["a", "b", "c"]


def draw(rng: random.Random, n: int, low: float, high: float, weights: dict[str, float]) -> list[tuple[float, str]]:
    labels, probabilities = zip(*weights.items())
    return [(round(rng.uniform(low, high), 3), rng.choices(labels, probabilities)[0]) for _ in range(n)]


TRAINING = draw(random.Random(1), 5000, 0, 100, {"a": 0.5, "b": 0.3, "c": 0.2})


# Reference computation, written independently of common.drift: direct bin arithmetic on raw values.
def reference_amount_proportions(values: list[float]) -> list[float]:
    counts = [0] * 12
    for v in values:
        if v < 0:
            counts[0] += 1
        elif v > 100:
            counts[11] += 1
        else:
            counts[1 + min(int(v // 10), 9)] += 1
    return [c / len(values) for c in counts]


def reference_category_proportions(values: list[str]) -> list[float]:
    return [values.count(c) / len(values) for c in CATEGORIES] + [sum(1 for v in values if v not in CATEGORIES) / len(values)]


def reference_psi(expected: list[float], actual: list[float]) -> float:
    return sum((max(a, 1e-4) - max(e, 1e-4)) * math.log(max(a, 1e-4) / max(e, 1e-4)) for e, a in zip(expected, actual))


def reference(live: list[tuple[float, str]]) -> dict[str, float]:
    return {
        "amount": reference_psi(
            reference_amount_proportions([v for v, _ in TRAINING]), reference_amount_proportions([v for v, _ in live])
        ),
        "category": reference_psi(
            reference_category_proportions([c for _, c in TRAINING]), reference_category_proportions([c for _, c in live])
        ),
    }


def deploy(with_baseline: bool = True) -> None:
    s3 = boto3.client("s3")
    s3.put_object(Bucket=BUCKET, Key=DEFINITIONS_KEY, Body=json.dumps(DEFINITIONS).encode())
    baseline_uri = f"s3://{BUCKET}/baselines/run-1.json"
    if with_baseline:
        rows = ({"amount": str(v), "category": c, "y": "0"} for v, c in TRAINING)
        s3.put_object(
            Bucket=BUCKET, Key="baselines/run-1.json", Body=json.dumps(drift.compute_baseline(DEFINITIONS, rows)).encode()
        )
    pointer = {
        "model_package_arn": "arn:aws:sagemaker:us-east-1:123456789012:model-package/m/1",
        "model_package_version": 1,
        "model_name": "m",
        "endpoint_config_name": "c",
        "baseline_uri": baseline_uri,
        "run_id": "run-1",
        "deployed_at": "2024-05-01T00:00:00Z",
    }
    boto3.client("ssm").put_parameter(Name=DEPLOYED_PARAMETER, Value=json.dumps(pointer), Type="String")


def write_window(live: list[tuple[float, str]], extra_lines: list[str] = ()) -> None:
    """Half CSV, half JSON captures, spread over three hours of the window."""
    by_hour: dict[int, list[str]] = {}
    for i, (amount, category) in enumerate(live):
        at = WINDOW_END - timedelta(hours=1 + i % 3, minutes=i % 60)
        if i % 2:
            line = capture_line(f"{amount},{category}", event_id=f"e{i}", at=at)
        else:
            line = capture_line(json.dumps({"amount": amount, "category": category}), encoding="JSON", event_id=f"e{i}", at=at)
        by_hour.setdefault(i % 3, []).append(line)
    by_hour.setdefault(0, []).extend(extra_lines)
    for hour, lines in by_hour.items():
        at = WINDOW_END - timedelta(hours=1 + hour)
        put_lines(capture_key(at, f"part-{hour}"), lines)


def test_shifted_window_psi_equals_reference(aws_env):
    deploy()
    live = draw(random.Random(2), 1000, 30, 130, {"a": 0.2, "b": 0.3, "c": 0.3, "d": 0.2})
    write_window(live)
    expected = reference(live)

    result = handler(EVENT, None)

    assert result["status"] == "ok" and result["sample_count"] == 1000 and result["malformed"] == 0
    assert result["psi"] == pytest.approx(expected, rel=1e-9)
    assert result["max_psi"] == pytest.approx(max(expected.values()))
    assert min(expected.values()) > 0.2  # the shift is a real one
    for feature, value in expected.items():
        assert metric_values("FeaturePSI", dims(feature)) == [pytest.approx(value)]
        js = metric_values("FeatureJSDistance", dims(feature))
        assert len(js) == 1 and 0 < js[0] <= 1
    assert metric_values("MaxFeaturePSI", dims()) == [pytest.approx(max(expected.values()))]
    assert metric_values("DriftSampleCount", dims()) == [1000]
    assert metric_values("MalformedCaptureRecords", dims()) == [0]
    assert metric_values("MaxMissingRateIncrease", dims()) == [0] and metric_values("UnscoredFeatures", dims()) == [0]


def test_window_without_shift_stays_under_threshold(aws_env):
    deploy()
    live = draw(random.Random(3), 2000, 0, 100, {"a": 0.5, "b": 0.3, "c": 0.2})
    write_window(live)
    result = handler({"window_start": "2024-05-01T06:00:00Z", "window_end": "2024-05-01T12:00:00Z"}, None)
    assert result["sample_count"] == 2000
    assert result["psi"] == pytest.approx(reference(live), rel=1e-9)
    assert all(value < 0.2 for value in result["psi"].values())
    assert metric_values("MaxFeaturePSI", dims()) == [pytest.approx(result["max_psi"])]


def test_empty_window_publishes_counts_but_no_drift_value(aws_env):
    deploy()
    result = handler(EVENT, None)
    assert result["status"] == "empty_window" and result["sample_count"] == 0 and result["max_psi"] is None
    assert metric_names() == {"DriftSampleCount", "MalformedCaptureRecords"}
    assert metric_values("DriftSampleCount", dims()) == [0]
    assert metric_values("MalformedCaptureRecords", dims()) == [0]


def test_malformed_lines_are_counted_and_published(aws_env):
    deploy()
    live = draw(random.Random(4), 50, 0, 100, {"a": 1})
    bad = ["{not json", capture_line("1,2,3"), capture_line("@@@", encoding="BASE64"), json.dumps({"x": 1})]
    write_window(live, bad)
    result = handler(EVENT, None)
    assert result["malformed"] == 4 and result["sample_count"] == 50
    assert metric_values("MalformedCaptureRecords", dims()) == [4]
    assert metric_values("DriftSampleCount", dims()) == [50]


def test_only_malformed_lines_is_an_empty_window(aws_env):
    deploy()
    put_lines(capture_key(WINDOW_END - timedelta(hours=1)), ["garbage", "[]"])
    result = handler(EVENT, None)
    assert result["status"] == "empty_window"
    assert metric_names() == {"DriftSampleCount", "MalformedCaptureRecords"}
    assert metric_values("MalformedCaptureRecords", dims()) == [2]


def test_no_deployed_model_publishes_nothing(aws_env):
    result = handler(EVENT, None)
    assert result["status"] == "no_deployed_model"
    assert metric_names() == set()


def test_missing_baseline_publishes_nothing(aws_env):
    deploy(with_baseline=False)
    write_window(draw(random.Random(5), 10, 0, 100, {"a": 1}))
    result = handler(EVENT, None)
    assert result["status"] == "no_baseline"
    assert metric_names() == set()


@pytest.mark.parametrize(
    "event",
    [
        [],
        {"window_start": 1714550400, "window_end": "2024-05-01T12:00:00Z"},
        {"window_start": "2024-05-01T12:00:00Z", "window_end": "2024-05-01T06:00:00Z"},
        {"window_start": "2024-05-01T06:00:00Z"},
        {"detail-type": "Scheduled Event", "time": ["2024-05-01T12:00:00Z"]},
        {"detail-type": "Object Created", "time": "2024-05-01T12:00:00Z"},
    ],
)
def test_bad_events_raise_and_publish_nothing(aws_env, event):
    deploy()
    write_window(draw(random.Random(6), 10, 0, 100, {"a": 1}))
    with pytest.raises(BadEvent):
        handler(event, None)
    assert metric_names() == set()


# --- missing values, NaN/inf and unscored features are drift signals --------------------------------


def write_records(records: list[dict]) -> None:
    at = WINDOW_END - timedelta(hours=1)
    put_lines(
        capture_key(at, "records"),
        [capture_line(json.dumps(r), encoding="JSON", event_id=f"e{i}", at=at) for i, r in enumerate(records)],
    )


@pytest.mark.parametrize("value, share", [(None, 1.0), (float("nan"), 1.0), ("inf", 1.0), (None, 0.9)])
def test_a_feature_gone_null_or_nan_is_a_drift_signal(aws_env, value, share):
    deploy()
    rng = random.Random(9)
    live = draw(rng, 200, 0, 100, {"a": 0.5, "b": 0.3, "c": 0.2})
    missing = int(len(live) * share)
    records = [{"amount": value if i < missing else amount, "category": category} for i, (amount, category) in enumerate(live)]
    # json.dumps writes NaN for float("nan"): the capture carries what the endpoint received
    write_records(records)
    result = handler(EVENT, None)
    assert result["missing_rate"]["amount"] == pytest.approx(share)
    assert metric_values("FeatureMissingRate", dims("amount")) == [pytest.approx(share)]
    assert metric_values("FeatureMissingRateIncrease", dims("amount")) == [pytest.approx(share)]  # training had none
    assert metric_values("MaxMissingRateIncrease", dims()) == [pytest.approx(share)]
    if share == 1.0:  # no PSI can be computed for it: counted as unscored
        assert result["unscored_features"] == ["amount"] and metric_values("UnscoredFeatures", dims()) == [1]
        assert "amount" not in result["psi"]


def test_a_feature_absent_from_the_training_rows_is_unscored(aws_env):
    s3 = boto3.client("s3")
    deploy()
    rows = ({"category": c, "y": "0"} for _, c in TRAINING)  # no amount column at all
    s3.put_object(Bucket=BUCKET, Key="baselines/run-1.json", Body=json.dumps(drift.compute_baseline(DEFINITIONS, rows)).encode())
    write_window(draw(random.Random(10), 100, 0, 100, {"a": 1}))
    result = handler(EVENT, None)
    assert result["unscored_features"] == ["amount"] and metric_values("UnscoredFeatures", dims()) == [1]
    assert metric_values("FeatureMissingRateIncrease", dims("amount")) == [0]  # as missing as in training


def test_published_values_are_finite_and_within_cloudwatch_range(aws_env):
    from common import capture

    assert capture.cloudwatch_value(float("inf")) == 2.0**360 and capture.cloudwatch_value(-1e400) == -(2.0**360)
    assert capture.cloudwatch_value(1e100) == 1e100 and capture.cloudwatch_value(1e200) == 2.0**360  # 2^360 ~ 2.3e108
    at = WINDOW_END
    datum = capture.MetricDimensions("fraud", "dev", ENDPOINT).datum
    calls = capture.publish("MLPlatform", [datum("A", float("nan"), at), datum("B", float("inf"), at)])
    assert calls == 1 and metric_names() == {"B"} and metric_values("B") == [2.0**360]
