"""quality_check handler against moto: metrics equal references on known labels; joins; empty joins."""

from __future__ import annotations

import base64
import json
import math
import random
from datetime import timedelta

import boto3
import pytest

from contract.events import BadEvent
from lambdas.quality_check.handler import auc, average_ranks, handler
from tests.lambdas.test_capture import (  # noqa: F401  (aws_env is a fixture)
    BUCKET,
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


def output_for(i: int, score: float) -> tuple[str, str]:
    """The endpoint's output in one of the supported response shapes."""
    shape = i % 5
    if shape == 0:
        return str(score), "CSV"
    if shape == 1:
        return f"{score},{1 - score}", "CSV"
    if shape == 2:
        return json.dumps({"predictions": [score]}), "JSON"
    if shape == 3:
        return json.dumps({"score": score}), "JSON"
    return base64.b64encode(json.dumps([score]).encode()).decode(), "BASE64"


def write_captures(scores: list[float], with_inference_id: bool = True) -> None:
    lines = []
    for i, score in enumerate(scores):
        output, encoding = output_for(i, score)
        at = WINDOW_END - timedelta(hours=1 + i % 4, minutes=i % 50)
        lines.append(
            capture_line(
                "1,a",
                output=output,
                output_encoding=encoding,
                event_id=f"ev-{i}",
                inference_id=f"inf-{i}" if with_inference_id and i % 3 else None,
                at=at,
            )
        )
    put_lines(capture_key(WINDOW_END - timedelta(hours=2)), lines)


def write_labels(labels: dict[int, float], extra: list[str] = ()) -> None:
    """Labels keyed by inference id where the capture has one, else by event id."""
    lines = [
        json.dumps({"inference_id": f"inf-{i}", "label": y} if i % 3 else {"event_id": f"ev-{i}", "label": y})
        for i, y in labels.items()
    ]
    key = f"ground-truth/{ENDPOINT}/{(WINDOW_END - timedelta(hours=1)):%Y/%m/%d/%H}/labels.jsonl"
    boto3.client("s3").put_object(Bucket=BUCKET, Key=key, Body=("\n".join([*lines, *extra]) + "\n").encode())


def brute_force_auc(scores: list[float], labels: list[float]) -> float:
    positives = [s for s, y in zip(scores, labels) if y == 1]
    negatives = [s for s, y in zip(scores, labels) if y == 0]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def test_binary_metrics_equal_reference(aws_env):
    rng = random.Random(7)
    n = 300
    scores = [round(rng.random(), 1) for _ in range(n)]  # one decimal: many ties for the AUC
    labels = {i: (1 if rng.random() < 0.3 + 0.5 * scores[i] else 0) for i in range(n) if i % 10}  # 270 labelled
    write_captures(scores)
    write_labels({**labels, 1000: 1, 1001: 0}, extra=["not json", json.dumps({"inference_id": "x", "label": 2})])

    result = handler(EVENT, None)

    joined = sorted(labels)
    s = [scores[i] for i in joined]
    y = [labels[i] for i in joined]
    tp = sum(1 for a, b in zip(s, y) if a >= 0.5 and b == 1)
    fp = sum(1 for a, b in zip(s, y) if a >= 0.5 and b == 0)
    fn = sum(1 for a, b in zip(s, y) if a < 0.5 and b == 1)
    tn = len(y) - tp - fp - fn
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    expected = {
        "Accuracy": (tp + tn) / len(y),
        "Precision": precision,
        "Recall": recall,
        "F1": 2 * precision * recall / (precision + recall),
        "AUC": brute_force_auc(s, y),
    }
    assert result["sample_count"] == 270
    assert result["unmatched_ground_truth"] == 2  # inf-1000 / ev-1001 have no capture
    assert result["malformed_ground_truth"] == 2
    assert result["metrics"] == pytest.approx(expected)
    for name, value in expected.items():
        assert metric_values(name, dims()) == [pytest.approx(value)]
    assert metric_values("QualitySampleCount", dims()) == [270]
    assert metric_values("UnmatchedGroundTruth", dims()) == [2]


def test_regression_metrics_equal_reference(aws_env, monkeypatch):
    monkeypatch.setenv("PROBLEM_TYPE", "regression")
    rng = random.Random(8)
    predictions = [rng.uniform(0, 50) for _ in range(120)]
    labels = {i: p + rng.gauss(0, 3) for i, p in enumerate(predictions)}
    write_captures([round(p, 6) for p in predictions])
    write_labels(labels)

    result = handler(EVENT, None)

    p = [round(predictions[i], 6) for i in labels]
    y = list(labels.values())
    mean = sum(y) / len(y)
    expected = {
        "MAE": sum(abs(a - b) for a, b in zip(p, y)) / len(y),
        "RMSE": math.sqrt(sum((a - b) ** 2 for a, b in zip(p, y)) / len(y)),
        "R2": 1 - sum((a - b) ** 2 for a, b in zip(p, y)) / sum((b - mean) ** 2 for b in y),
    }
    assert result["sample_count"] == 120 and result["unmatched_ground_truth"] == 0
    assert result["metrics"] == pytest.approx(expected)
    for name, value in expected.items():
        assert metric_values(name, dims()) == [pytest.approx(value)]
    assert metric_names() == {"MAE", "RMSE", "R2", "QualitySampleCount", "UnmatchedGroundTruth"}


def test_event_id_fallback_when_capture_has_no_inference_id(aws_env):
    write_captures([0.9, 0.1, 0.8], with_inference_id=False)
    boto3.client("s3").put_object(
        Bucket=BUCKET,
        Key=f"ground-truth/{ENDPOINT}/2024/05/01/11/l.jsonl",
        Body=b'{"event_id": "ev-0", "label": 1}\n{"event_id": "ev-1", "label": 0}\n{"inference_id": "inf-2", "label": 1}\n',
    )
    result = handler(EVENT, None)
    assert result["sample_count"] == 2 and result["unmatched_ground_truth"] == 1
    assert result["metrics"]["Accuracy"] == 1.0 and result["metrics"]["AUC"] == 1.0


def test_no_joined_samples_publishes_only_counts(aws_env):
    write_captures([0.3, 0.7])
    boto3.client("s3").put_object(
        Bucket=BUCKET, Key=f"ground-truth/{ENDPOINT}/2024/05/01/11/l.jsonl", Body=b'{"inference_id": "unknown", "label": 1}\n'
    )
    result = handler(EVENT, None)
    assert result["status"] == "no_joined_samples"
    assert metric_names() == {"QualitySampleCount", "UnmatchedGroundTruth"}
    assert metric_values("QualitySampleCount", dims()) == [0]
    assert metric_values("UnmatchedGroundTruth", dims()) == [1]


def test_a_window_under_the_minimum_sample_is_counted_but_not_scored(aws_env, monkeypatch):
    """Three joined labels, all scored wrong: with QUALITY_MIN_SAMPLES 4 no quality metric is published (the
    quality alarm cannot fire on a handful of labels); the counts are, and the refused labels still count."""
    monkeypatch.setenv("QUALITY_MIN_SAMPLES", "4")
    write_captures([0.9, 0.8, 0.1])
    write_labels({0: 0, 1: 0, 2: 1}, extra=['{"inference_id": "nobody-sent-this", "label": 1}'])
    result = handler(EVENT, None)
    assert result["status"] == "too_few_samples" and result["min_samples"] == 4
    assert result["sample_count"] == 3 and result["unmatched_ground_truth"] == 1 and result["metrics"] == {}
    assert metric_names() == {"QualitySampleCount", "UnmatchedGroundTruth"}
    assert metric_values("QualitySampleCount", dims()) == [3]


def test_a_window_at_the_minimum_sample_is_scored(aws_env, monkeypatch):
    monkeypatch.setenv("QUALITY_MIN_SAMPLES", "3")
    write_captures([0.9, 0.8, 0.1])
    write_labels({0: 0, 1: 0, 2: 1})
    result = handler(EVENT, None)
    assert result["status"] == "ok" and result["metrics"]["AUC"] == 0.0
    assert "AUC" in metric_names()


def test_undefined_metrics_are_not_published(aws_env):
    write_captures([0.2, 0.3, 0.4])
    write_labels({1: 0, 2: 0})
    result = handler(EVENT, None)
    assert result["metrics"]["AUC"] is None and result["metrics"]["Precision"] is None
    assert metric_names() == {"QualitySampleCount", "UnmatchedGroundTruth", "Accuracy"}


def test_rank_auc_helpers():
    assert average_ranks([3, 1, 3, 2]) == [3.5, 1, 3.5, 2]
    assert auc([0.1, 0.1], [0, 1]) == 0.5
    assert auc([0.1, 0.2], [1, 1]) is None


@pytest.mark.parametrize(
    "event",
    [
        {"window_start": "2024-05-01T12:00:00Z", "window_end": "2024-05-01T00:00:00Z"},
        {"window_start": None, "window_end": "2024-05-01T00:00:00Z"},
        {"detail-type": "Scheduled Event", "time": 12},
        "2024-05-01T12:00:00Z",
    ],
)
def test_bad_events_raise_and_publish_nothing(aws_env, event):
    write_captures([0.5])
    write_labels({1: 1})
    with pytest.raises(BadEvent):
        handler(event, None)
    assert metric_names() == set()


def test_one_huge_regression_prediction_publishes_finite_values_in_range(aws_env, monkeypatch):
    """One prediction of 1e200 makes the squared error overflow: RMSE inf, R2 -inf. CloudWatch refuses
    those (the whole call); what is published is clamped into +-2^360."""
    monkeypatch.setenv("PROBLEM_TYPE", "regression")
    write_captures([1e200, 1.0, 2.0])
    write_labels({0: 1.0, 1: 1.0, 2: 3.0})
    result = handler(EVENT, None)
    assert result["metrics"]["RMSE"] == math.inf
    for name in ("MAE", "RMSE", "R2"):
        for value in metric_values(name, dims()):
            assert math.isfinite(value) and abs(value) <= 2.0**360, (name, value)
    assert metric_values("RMSE", dims()) == [2.0**360] and metric_values("R2", dims()) == [-(2.0**360)]


def test_duplicate_conflicting_and_wrong_type_labels_are_counted_and_never_scored(aws_env):
    """One label twice (kept once), one request labelled both ways (neither trusted), a label of the wrong
    type and one for no captured request: each counted in the result, none of them scored."""
    write_captures([0.9, 0.1, 0.8, 0.2, 0.3])
    write_labels(
        {1: 0, 2: 1, 4: 1},
        extra=[
            json.dumps({"inference_id": "inf-1", "label": 0}),  # duplicate of inf-1's label
            json.dumps({"inference_id": "inf-2", "label": 0}),  # conflicts with inf-2's label
            json.dumps({"inference_id": "inf-4", "label": "yes"}),  # wrong type
            json.dumps({"inference_id": "inf-99", "label": 1}),  # no such request
        ],
    )
    result = handler(EVENT, None)
    counted = {k: result[f"{k}_ground_truth"] for k in ("malformed", "duplicate", "conflicting", "unmatched")}
    assert counted == {"malformed": 1, "duplicate": 1, "conflicting": 2, "unmatched": 1}
    assert result["sample_count"] == 2  # inf-1 (0.1, label 0) and inf-4 (0.3, label 1); inf-2 dropped
    assert result["metrics"]["AUC"] == 1.0 and result["metrics"]["Accuracy"] == 0.5
    assert metric_values("QualitySampleCount", dims()) == [2] and metric_values("UnmatchedGroundTruth", dims()) == [1]
