"""I/O of the scheduled monitoring checks: the time window, JSON Lines in S3, and CloudWatch metrics.

The drift and quality checks read the same things the same way: a window of hours from the event, the
JSON Lines objects SageMaker data capture (or the team's ground-truth upload) wrote under hour prefixes
`<base>/yyyy/mm/dd/hh/` of the artifacts bucket, and they publish metrics with the same dimensions.
Keeping that here means the two handlers only hold their own statistics.

Memory stays bounded however large the window: only the prefixes inside the window are listed (a day
prefix for a day the window covers whole, one LIST instead of 24: a week's window is 8 requests, not
168), each object is read with `iter_lines()` and each record is yielded and dropped. A line that cannot be
parsed is counted in `ReadStats.malformed` and skipped; it never raises.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from common import aws
from contract import metrics
from contract.events import BadEvent, CheckWindow, ScheduledEvent, parse_one_of, utc_time
from contract.layout import DATA_CAPTURE_PREFIX

log = logging.getLogger(__name__)

GROUND_TRUTH_PREFIX = "ground-truth"
READ_CHUNK_BYTES = 1 << 16
MAX_METRICS_PER_CALL = 1000
# CloudWatch refuses a value outside +-2^360, and NaN/inf (the whole PutMetricData call fails; moto
# accepts them): values are clamped into range, infinities to its ends, NaN is not published.
CLOUDWATCH_MAX_VALUE = 2.0**360


# --------------------------------------------------------------------------------------------------
# Window
# --------------------------------------------------------------------------------------------------


def parse_time(value: Any, field_name: str) -> datetime:
    """An ISO 8601 timestamp as an aware UTC datetime (naive means UTC); BadEvent otherwise."""
    if not isinstance(value, str) or not value:
        raise BadEvent(f"event.{field_name} must be an ISO 8601 string, got {type(value).__name__}")
    try:
        return utc_time(value)
    except ValueError as error:
        raise BadEvent(f"event.{field_name} is not ISO 8601: {value!r}") from error


@dataclass(frozen=True)
class Window:
    """Half-open time window [start, end) in UTC."""

    start: datetime
    end: datetime

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end

    def hours(self) -> list[datetime]:
        """Start of every clock hour that overlaps the window."""
        hour = self.start.replace(minute=0, second=0, microsecond=0)
        hours = []
        while hour < self.end:
            hours.append(hour)
            hour += timedelta(hours=1)
        return hours

    def as_dict(self) -> dict[str, str]:
        return {"window_start": self.start.isoformat(), "window_end": self.end.isoformat()}


def window_from_event(event: Any, window_hours: int) -> Window:
    """The window a check covers: an explicit `{"window_start", "window_end"}` (contract.events.CheckWindow),
    or the `window_hours` hours ending at a Scheduled Event's `time`. Raises BadEvent for anything else."""
    parsed = parse_one_of(event, CheckWindow, ScheduledEvent)
    if isinstance(parsed, CheckWindow):
        return Window(parsed.start, parsed.end)
    return Window(parsed.time - timedelta(hours=window_hours), parsed.time)


# --------------------------------------------------------------------------------------------------
# JSON Lines in S3
# --------------------------------------------------------------------------------------------------


@dataclass
class ReadStats:
    """What a read of a window saw; `malformed` counts lines that could not be used."""

    objects: int = 0
    lines: int = 0
    records: int = 0
    malformed: int = 0
    out_of_window: int = 0
    malformed_examples: list[str] = field(default_factory=list)

    def reject(self, reason: str) -> None:
        self.malformed += 1
        if len(self.malformed_examples) < 5:
            self.malformed_examples.append(reason)


def iter_window_lines(bucket: str, base: str, window: Window, stats: ReadStats) -> Iterator[bytes]:
    """Non-empty lines of every object under the window's hour prefixes of `base`, streamed."""
    for _, line in iter_hour_lines(bucket, base, window, stats):
        yield line


def iter_hour_lines(bucket: str, base: str, window: Window, stats: ReadStats) -> Iterator[tuple[datetime, bytes]]:
    """Non-empty lines of every object under the window's hour prefixes of `base`, each with the hour its
    object is filed under (oldest first), streamed."""
    s3 = aws.client("s3")
    for hour, key in _window_objects(s3, bucket, base, window):
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
        stats.objects += 1
        try:
            for line in body.iter_lines(chunk_size=READ_CHUNK_BYTES):
                if line.strip():
                    stats.lines += 1
                    yield hour, line
        finally:
            body.close()


def _window_objects(s3: Any, bucket: str, base: str, window: Window) -> Iterator[tuple[datetime, str]]:
    """(hour, key) of every object under `<base>/yyyy/mm/dd/hh/` for the window's hours, in key order.
    A day whose 24 hours all overlap the window is listed once by its day prefix; a key under it that is
    not under one of its hour folders is skipped, as listing the hour prefixes would never have seen it."""
    paginator = s3.get_paginator("list_objects_v2")
    days: dict[str, list[datetime]] = {}
    for hour in window.hours():
        days.setdefault(f"{base}/{hour:%Y/%m/%d}/", []).append(hour)
    for day_prefix, hours in days.items():
        by_folder = {f"{hour:%H}/": hour for hour in hours}
        prefixes = [day_prefix] if len(hours) == 24 else [day_prefix + folder for folder in by_folder]
        for prefix in prefixes:
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    filed_under = by_folder.get(item["Key"][len(day_prefix) : len(day_prefix) + 3])
                    if filed_under is not None:
                        yield filed_under, item["Key"]


def capture_bases(bucket: str, endpoint: str) -> list[str]:
    """`data-capture/<endpoint>/<variant>` for every variant that has captured anything."""
    s3 = aws.client("s3")
    paginator = s3.get_paginator("list_objects_v2")
    bases = []
    for page in paginator.paginate(Bucket=bucket, Prefix=f"{DATA_CAPTURE_PREFIX}{endpoint}/", Delimiter="/"):
        for common_prefix in page.get("CommonPrefixes", []):
            bases.append(common_prefix["Prefix"].rstrip("/"))
    return bases


# --------------------------------------------------------------------------------------------------
# SageMaker data-capture records
# --------------------------------------------------------------------------------------------------


class MalformedRecord(ValueError):
    """A capture line that cannot be used; counted, never propagated out of iter_capture."""


@dataclass
class CaptureRecord:
    """One captured request: its ids, time, input instances (feature name -> raw value) and output."""

    event_id: str | None
    inference_id: str | None
    inference_time: datetime | None
    instances: list[dict[str, Any]]
    output_data: str | None
    output_encoding: str | None
    output_content_type: str | None

    def prediction(self) -> float | None:
        """The model's (first) score, or None when the output cannot be read as one."""
        if self.output_data is None:
            return None
        try:
            text = decode_payload(self.output_data, self.output_encoding)
        except MalformedRecord:
            return None
        return parse_prediction(text)


def decode_payload(data: Any, encoding: str | None) -> str:
    """The payload text; BASE64 payloads are decoded (UTF-8) first."""
    if not isinstance(data, str):
        raise MalformedRecord(f"payload data is {type(data).__name__}, not text")
    if (encoding or "").upper() == "BASE64":
        try:
            return base64.b64decode(data, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as error:
            raise MalformedRecord(f"bad BASE64 payload: {error}") from error
    return data


def _is_json(encoding: str | None, content_type: str | None, text: str) -> bool:
    encoding = (encoding or "").upper()
    if encoding == "JSON":
        return True
    if encoding == "CSV":
        return False
    content_type = (content_type or "").lower()
    if "json" in content_type:
        return True
    if "csv" in content_type:
        return False
    return text.lstrip()[:1] in ("{", "[")  # BASE64 without a telling content type


def _csv_instances(text: str, names: Sequence[str]) -> list[dict[str, Any]]:
    if '"' in text:
        rows = [row for row in csv.reader(io.StringIO(text)) if row]
    else:
        rows = [line.split(",") for line in text.splitlines() if line.strip()]
    if not rows:
        raise MalformedRecord("empty CSV payload")
    width = len(names)
    for row in rows:
        if len(row) != width:
            raise MalformedRecord(f"CSV row has {len(row)} values, model has {width} inputs")
    return [dict(zip(names, row)) for row in rows]


def _json_instance(item: Any, names: Sequence[str]) -> dict[str, Any]:
    if isinstance(item, dict):
        return item
    if isinstance(item, list):
        if len(item) != len(names):
            raise MalformedRecord(f"JSON instance has {len(item)} values, model has {len(names)} inputs")
        return dict(zip(names, item))
    raise MalformedRecord(f"JSON instance is {type(item).__name__}")


def _json_instances(text: str, names: Sequence[str]) -> list[dict[str, Any]]:
    try:
        document = json.loads(text)
    except ValueError as error:
        raise MalformedRecord(f"bad JSON payload: {error}") from error
    if isinstance(document, dict) and "instances" in document:
        items = document["instances"]
        if not isinstance(items, list) or not items:
            raise MalformedRecord("instances must be a non-empty list")
        return [_json_instance(item, names) for item in items]
    if isinstance(document, dict):
        return [document]
    raise MalformedRecord(f"JSON payload is {type(document).__name__}, expected an object")


def parse_capture_line(line: bytes | str, feature_names: Sequence[str] | None) -> CaptureRecord:
    """Parse one data-capture JSON line. With `feature_names` the input is mapped to instances
    (feature name -> raw value); with None the input is not read at all (the quality check only needs
    ids and output). Raises MalformedRecord."""
    try:
        document = json.loads(line)
    except ValueError as error:
        raise MalformedRecord(f"line is not JSON: {error}") from error
    if not isinstance(document, dict):
        raise MalformedRecord("line is not a JSON object")
    capture = document.get("captureData")
    metadata = document.get("eventMetadata") or {}
    if not isinstance(capture, dict) or not isinstance(metadata, dict):
        raise MalformedRecord("captureData/eventMetadata missing")

    raw_time = metadata.get("inferenceTime", document.get("inferenceTime"))
    inference_time = None
    if raw_time is not None:
        try:
            inference_time = parse_time(raw_time, "inferenceTime")
        except BadEvent as error:
            raise MalformedRecord(str(error)) from error

    instances: list[dict[str, Any]] = []
    if feature_names is not None:
        endpoint_input = capture.get("endpointInput")
        if not isinstance(endpoint_input, dict):
            raise MalformedRecord("captureData.endpointInput missing")
        encoding = endpoint_input.get("encoding")
        content_type = endpoint_input.get("observedContentType")
        text = decode_payload(endpoint_input.get("data"), encoding)
        if _is_json(encoding, content_type, text):
            instances = _json_instances(text, feature_names)
        else:
            instances = _csv_instances(text, feature_names)

    endpoint_output = capture.get("endpointOutput")
    output = endpoint_output if isinstance(endpoint_output, dict) else {}
    event_id = metadata.get("eventId")
    inference_id = metadata.get("inferenceId")
    return CaptureRecord(
        event_id=str(event_id) if event_id not in (None, "") else None,
        inference_id=str(inference_id) if inference_id not in (None, "") else None,
        inference_time=inference_time,
        instances=instances,
        output_data=output.get("data"),
        output_encoding=output.get("encoding"),
        output_content_type=output.get("observedContentType"),
    )


def iter_capture(
    bucket: str,
    endpoint: str,
    window: Window,
    feature_names: Sequence[str] | None,
    stats: ReadStats,
) -> Iterator[CaptureRecord]:
    """Captured records of every variant of `endpoint` whose inference time is inside the window.

    Records without an inference time are kept (their hour prefix is inside the window). Malformed
    lines are counted in `stats` and skipped.
    """
    for base in capture_bases(bucket, endpoint):
        for line in iter_window_lines(bucket, base, window, stats):
            try:
                record = parse_capture_line(line, feature_names)
            except MalformedRecord as error:
                stats.reject(str(error))
                continue
            if record.inference_time is not None and not window.contains(record.inference_time):
                stats.out_of_window += 1
                continue
            stats.records += 1
            yield record


def _first_number(value: Any) -> float | None:
    """A number from a JSON prediction: a number, the first of a list, or a {"score": x} object."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, list) and value:
        return _first_number(value[0])
    if isinstance(value, dict):
        for key in ("score", "predictions", "prediction", "predicted_value"):
            if key in value:
                return _first_number(value[key])
    return None


def parse_prediction(text: str) -> float | None:
    """The score in an endpoint response: a bare number, the first CSV value, or JSON (a number,
    {"predictions": [...]}, {"score": x}). None if it is none of these."""
    stripped = text.strip()
    if not stripped:
        return None
    try:
        return float(stripped)
    except ValueError:
        pass
    if stripped[0] in "{[":
        try:
            return _first_number(json.loads(stripped))
        except ValueError:
            return None
    first = stripped.splitlines()[0].split(",")[0].strip().strip('"')
    try:
        return float(first)
    except ValueError:
        return None


# --------------------------------------------------------------------------------------------------
# CloudWatch metrics
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricDimensions:
    """Team, Environment, Endpoint (CONTRACTS.md: on every platform metric)."""

    team: str
    environment: str
    endpoint: str

    def datum(
        self, name: str, value: float, timestamp: datetime, unit: str = "None", extra: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """One PutMetricData datum with the platform dimensions (plus `extra`, e.g. Feature).

        The checks stamp data with the window end. CloudWatch refuses timestamps more than two weeks old
        (moto does not check), so an explicit back-fill window older than that fails at PutMetricData."""
        base = {metrics.TEAM: self.team, metrics.ENVIRONMENT: self.environment, metrics.ENDPOINT: self.endpoint}
        dimensions = [{"Name": k, "Value": v} for k, v in {**base, **(extra or {})}.items()]
        return {
            "MetricName": name,
            "Dimensions": dimensions,
            "Timestamp": timestamp,
            "Value": cloudwatch_value(value),
            "Unit": unit,
        }


def cloudwatch_value(value: float) -> float:
    """`value` within CloudWatch's range (+-2^360; an infinity goes to the end of its side). NaN stays
    NaN: `publish` leaves it out (no number is the honest answer)."""
    number = float(value)
    if math.isnan(number):
        return number
    return max(-CLOUDWATCH_MAX_VALUE, min(CLOUDWATCH_MAX_VALUE, number))


def publish(namespace: str, data: Sequence[Mapping[str, Any]]) -> int:
    """PutMetricData in batches of at most 1000 data (the API limit); returns the number of calls.
    Data whose value is NaN are left out (logged): CloudWatch would refuse the whole call."""
    nan = [d["MetricName"] for d in data if math.isnan(d["Value"])]
    if nan:
        log.warning("not publishing NaN values of %s", sorted(set(nan)))
        data = [d for d in data if not math.isnan(d["Value"])]
    cloudwatch = aws.client("cloudwatch")
    calls = 0
    for offset in range(0, len(data), MAX_METRICS_PER_CALL):
        cloudwatch.put_metric_data(Namespace=namespace, MetricData=list(data[offset : offset + MAX_METRICS_PER_CALL]))
        calls += 1
    return calls
