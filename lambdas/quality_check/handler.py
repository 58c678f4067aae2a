"""Scheduled quality check: the endpoint's predictions of a window joined with the team's labels.

Labels (`ground-truth/<endpoint>/yyyy/mm/dd/hh/*.jsonl`, `{"inference_id"|"event_id": ..., "label": n}`)
are loaded for the window first (common.labels: wrong types counted malformed, duplicates kept once,
conflicting labels of one id dropped and counted) (they are the smaller side: one per labelled request), then the captured
requests of the same window are streamed and joined by inference id, falling back to event id. The
labels' hour prefix is the hour the team files them under; the window applies to both sides.

PROBLEM_TYPE `binary` publishes Accuracy, Precision, Recall, F1 (class = score >= 0.5) and AUC
(rank-based, ties get their average rank); `regression` publishes MAE, RMSE, R2. A metric that is
undefined for the sample (e.g. AUC with one class only, Precision with no positive prediction, R2 with
constant labels) is left out rather than published as a made-up number. QualitySampleCount and
UnmatchedGroundTruth (labels without a usable captured prediction) are always published; with fewer
joined samples than QUALITY_MIN_SAMPLES (the monitoring's `quality_min_samples`) nothing else is, and the
result's status says `too_few_samples`: a handful of labels is not evidence enough to fire the quality
alarm (which starts a retrain). The window's refused labels are counted either way.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from typing import Any

from common import capture
from common.labels import LabelSet, joined
from contract.environment import LambdaEnvironment

log = logging.getLogger()
log.setLevel(logging.INFO)

THRESHOLD = 0.5


def average_ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks of `values`; tied values share the average of their ranks."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        rank = (i + j) / 2 + 1
        for k in range(i, j + 1):
            ranks[order[k]] = rank
        i = j + 1
    return ranks


def auc(scores: Sequence[float], labels: Sequence[float]) -> float | None:
    """ROC AUC by the rank-sum (Mann-Whitney U) statistic; None with only one class present."""
    positives = sum(1 for y in labels if y == 1)
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return None
    ranks = average_ranks(scores)
    rank_sum = sum(r for r, y in zip(ranks, labels) if y == 1)
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def binary_metrics(scores: Sequence[float], labels: Sequence[float]) -> dict[str, float | None]:
    tp = fp = tn = fn = 0
    for score, label in zip(scores, labels):
        predicted = score >= THRESHOLD
        if predicted and label == 1:
            tp += 1
        elif predicted:
            fp += 1
        elif label == 1:
            fn += 1
        else:
            tn += 1
    n = tp + fp + tn + fn
    return {
        "Accuracy": (tp + tn) / n if n else None,
        "Precision": tp / (tp + fp) if tp + fp else None,
        "Recall": tp / (tp + fn) if tp + fn else None,
        "F1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None,
        "AUC": auc(scores, labels),
    }


def regression_metrics(predictions: Sequence[float], labels: Sequence[float]) -> dict[str, float | None]:
    n = len(labels)
    if n == 0:
        return {"MAE": None, "RMSE": None, "R2": None}
    errors = [p - y for p, y in zip(predictions, labels)]
    mean = sum(labels) / n
    total = sum((y - mean) ** 2 for y in labels)
    residual = sum(e * e for e in errors)
    return {
        "MAE": sum(abs(e) for e in errors) / n,
        "RMSE": math.sqrt(residual / n),
        "R2": 1 - residual / total if total > 0 else None,
    }


def handler(event: dict, context: Any) -> dict[str, Any]:
    """What Lambda calls (`handler.handler`): the function's environment is read here, once."""
    return handle(event, LambdaEnvironment.from_env())


def handle(event: Any, environment: LambdaEnvironment) -> dict[str, Any]:
    window = capture.window_from_event(event, environment.window_hours)
    problem_type = environment.problem_type  # binary | regression (checked by from_env)
    bucket = environment.artifact_bucket
    endpoint = environment.endpoint_name
    namespace = environment.metric_namespace

    truth = LabelSet(problem_type)
    label_stats = capture.ReadStats()
    for line in capture.iter_window_lines(bucket, f"{capture.GROUND_TRUTH_PREFIX}/{endpoint}", window, label_stats):
        truth.add_line(line)
    labels_loaded = len(truth)

    predictions: list[float] = []
    labels: list[float] = []
    capture_stats = capture.ReadStats()
    if labels_loaded:
        for record, label, _ in joined(capture.iter_capture(bucket, endpoint, window, None, capture_stats), truth):
            score = record.prediction()
            if score is None or not math.isfinite(score):
                capture_stats.reject(f"unreadable prediction for {record.inference_id or record.event_id}")
                continue
            predictions.append(score)
            labels.append(label)
    unmatched = labels_loaded - len(labels)

    scored = len(labels) >= environment.quality_min_samples
    values = (binary_metrics if problem_type == "binary" else regression_metrics)(predictions, labels) if scored else {}
    at = window.end
    datum = capture.MetricDimensions(environment.team, environment.environment, endpoint).datum
    data = [
        datum("QualitySampleCount", len(labels), at, "Count"),
        datum("UnmatchedGroundTruth", unmatched, at, "Count"),
    ]
    data += [datum(name, value, at) for name, value in values.items() if value is not None]
    capture.publish(namespace, data)

    result = {
        "endpoint": endpoint,
        **window.as_dict(),
        "status": "ok" if scored else "too_few_samples" if labels else "no_joined_samples",
        "min_samples": environment.quality_min_samples,
        "problem_type": problem_type,
        "sample_count": len(labels),
        "unmatched_ground_truth": unmatched,
        "malformed_ground_truth": truth.malformed,
        "duplicate_ground_truth": truth.duplicate,
        "conflicting_ground_truth": truth.conflicting,
        "malformed_capture": capture_stats.malformed,
        "metrics": values,
        "metrics_published": len(data),
    }
    log.info("quality check %s", json.dumps(result))
    return result
