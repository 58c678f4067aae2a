"""Curation: the team's ground-truth labels joined with the captured requests become versioned training data.

For every clock hour of the span, the labels filed under `ground-truth/<endpoint>/yyyy/mm/dd/hh/` are
joined by inference id (falling back to event id) with the endpoint's data capture (SageMaker's
data-capture JSON Lines, common.capture), looked up from `label_delay_hours` before the span to its end.
Each joined request becomes one training row (record identifier = the request's id, the model inputs as
captured, the label) of that hour's window object `<training prefix>labelled/yyyy/mm/dd/hh.csv` in the
curated bucket.

Idempotent per window: a window's rows are sorted, so the same labels and captures give the same bytes;
an object whose stored sha256 (object metadata) equals them is left alone (no new version). Nothing
is dropped silently: per window the object's metadata (`mlp-report`) and the returned report count the
labels refused (malformed, duplicate, conflicting: common.labels), the labels that match no capture,
the requests whose inputs the feature definitions refuse (and the missing values among them), and the
requests with more than one instance (one label cannot say which one it is for). A window with fewer
usable rows than `min_labels` is not written (status `too_few_labels`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from common import aws, capture
from common.features import parse_value
from common.labels import LabelSet, joined
from contract.definitions import FeatureDefinitions
from contract.layout import LABELLED_DIR

REPORT_METADATA = "mlp-report"
ROWS_METADATA = "mlp-rows"
SHA_METADATA = "sha256"


def labelled_prefix(training_prefix: str) -> str:
    """Where curated windows live: under the training data prefix, so the execution role reads them."""
    return f"{training_prefix}{LABELLED_DIR}"


def window_key(training_prefix: str, hour: datetime) -> str:
    return f"{labelled_prefix(training_prefix)}{hour:%Y/%m/%d/%H}.csv"


def window_hour(training_prefix: str, key: str) -> datetime | None:
    """The hour a curated window object holds, from its key (None for any other object)."""
    rest = key[len(labelled_prefix(training_prefix)) :] if key.startswith(labelled_prefix(training_prefix)) else ""
    try:
        return datetime.strptime(rest, "%Y/%m/%d/%H.csv").replace(tzinfo=UTC)
    except ValueError:
        return None


@dataclass
class WindowCounts:
    """What curation saw for one hour of labels."""

    labels: int = 0  # label lines filed under the hour
    rows: int = 0  # joined, usable rows
    unmatched: int = 0  # labels that match no captured request
    invalid_inputs: int = 0  # joined requests whose inputs the definitions refuse
    multi_instance: int = 0  # joined requests with several instances
    missing: dict[str, int] = field(default_factory=dict)  # per model input, among the refused requests
    malformed: int = 0
    duplicate: int = 0
    conflicting: int = 0
    examples: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class WindowResult:
    hour: str
    key: str
    status: str  # written | unchanged | too_few_labels
    counts: WindowCounts
    version_id: str | None = None


def _identifier_value(definitions: FeatureDefinitions, request_id: str) -> str:
    """The record identifier of a curated row: the request's id (a number derived from it when the
    identifier feature is numeric), so the holdout split by identifier is stable across runs."""
    feature_set = definitions.feature_set(definitions.model_inputs.feature_set)
    if feature_set.feature(feature_set.record_identifier).type == "String":
        return request_id
    return str(int(hashlib.sha256(request_id.encode()).hexdigest()[:15], 16))


def _hour_tag(hour: datetime) -> str:
    return hour.strftime("%Y-%m-%dT%H:00:00Z")


def curate(
    definitions: FeatureDefinitions,
    *,
    artifact_bucket: str,
    endpoint: str,
    curated_bucket: str,
    training_prefix: str,
    span: capture.Window,
    label_delay_hours: int,
    min_labels: int,
    problem_type: str,
    kms_key_arn: str,
) -> list[WindowResult]:
    """Curate every hour of `span` that has labels; returns one result per such hour (oldest first)."""
    labels = LabelSet(problem_type)
    counts: dict[str, WindowCounts] = {}
    base = f"{capture.GROUND_TRUTH_PREFIX}/{endpoint}"
    for hour, line in capture.iter_hour_lines(artifact_bucket, base, span, capture.ReadStats()):
        tag = _hour_tag(hour)
        before = (labels.malformed, labels.duplicate, labels.conflicting)
        labels.add_line(line, tag)
        window = counts.setdefault(tag, WindowCounts())
        window.labels += 1
        window.malformed += labels.malformed - before[0]
        window.duplicate += labels.duplicate - before[1]
        window.conflicting += labels.conflicting - before[2]
    if not counts:
        return []

    feature_set = definitions.feature_set(definitions.model_inputs.feature_set)
    order = definitions.model_input_order()
    features = [feature_set.feature(name) for name in order]
    label_column = definitions.model_inputs.label
    rows: dict[str, list[dict[str, str]]] = {tag: [] for tag in counts}
    reach = capture.Window(span.start - timedelta(hours=label_delay_hours), span.end)
    capture_stats = capture.ReadStats()
    for record, label, tag in joined(capture.iter_capture(artifact_bucket, endpoint, reach, order, capture_stats), labels):
        window = counts.setdefault(tag, WindowCounts())
        request_id = record.inference_id or record.event_id or ""
        if len(record.instances) != 1:
            window.multi_instance += 1
            _example(window, f"request {request_id}: {len(record.instances)} instances for one label")
            continue
        instance = record.instances[0]
        row = {feature_set.record_identifier: _identifier_value(definitions, request_id)}
        problems = []
        for feature in features:
            value, problem = parse_value(feature, instance.get(feature.name))
            if problem:
                problems.append(f"{feature.name}: {problem}")
                if problem == "missing value":
                    window.missing[feature.name] = window.missing.get(feature.name, 0) + 1
            elif value is not None:  # always, when parse_value found no problem
                row[feature.name] = feature.to_string(value)
        if problems:
            window.invalid_inputs += 1
            _example(window, f"request {request_id}: " + "; ".join(problems))
            continue
        row[label_column] = str(int(label)) if problem_type == "binary" else repr(label)
        rows[tag].append(row)
    # Labels nothing captured answers to: counted against the hour they were filed under.
    for tag in labels.filed_under.values():
        counts[tag].unmatched += 1

    columns = [feature_set.record_identifier, *order, label_column]
    results = []
    for tag in sorted(counts):
        window = counts[tag]
        window.rows = len(rows[tag])
        hour = datetime.strptime(tag, "%Y-%m-%dT%H:00:00Z").replace(tzinfo=UTC)
        key = window_key(training_prefix, hour)
        if window.rows < min_labels:
            results.append(WindowResult(tag, key, "too_few_labels", window))
            continue
        body = _csv(columns, sorted(rows[tag], key=lambda r: r[feature_set.record_identifier]))
        results.append(_store(curated_bucket, key, body, tag, window, kms_key_arn))
    return results


def _example(window: WindowCounts, text: str) -> None:
    if len(window.examples) < 5:
        window.examples.append(text[:300])


def _csv(columns: list[str], rows: list[Mapping[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def _store(bucket: str, key: str, body: bytes, tag: str, window: WindowCounts, kms_key_arn: str) -> WindowResult:
    digest = hashlib.sha256(body).hexdigest()
    s3 = aws.client("s3")
    try:
        current = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
            raise
        current = None
    if current is not None and current.get("Metadata", {}).get(SHA_METADATA) == digest:
        return WindowResult(tag, key, "unchanged", window, current.get("VersionId"))
    report = {k: v for k, v in window.as_dict().items() if k != "examples"}
    version = s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=body,
        ContentType="text/csv",
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId=kms_key_arn,
        Metadata={
            SHA_METADATA: digest,
            ROWS_METADATA: str(window.rows),
            REPORT_METADATA: json.dumps(report, sort_keys=True, separators=(",", ":")),
        },
    )["VersionId"]
    return WindowResult(tag, key, "written", window, version)
