"""SageMaker's data-capture record, key layout and invocation metrics as emulator/endpoint_runtime.py writes
them (the served path is tested on a running emulator in tests/integration/test_runtime_patches.py)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re

import pytest

from emulator.endpoint_runtime import (
    PLAYED_AT,
    InvocationError,
    capture_key,
    capture_record,
    encode_payload,
    invocation_metrics,
    now,
)

HEADER = {"CsvContentTypes": ["text/csv"], "JsonContentTypes": ["application/json"]}
AT = dt.datetime(2026, 11, 28, 9, 5, 7, 123456, tzinfo=dt.UTC)


def test_payloads_are_text_for_the_configs_types_and_base64_otherwise():
    assert encode_payload(b"1,a", "text/csv; charset=utf-8", HEADER) == ("1,a", "CSV")
    assert encode_payload(b'{"a": 1}', "Application/JSON", HEADER) == ('{"a": 1}', "JSON")
    assert encode_payload(b"1,a", "text/plain", HEADER) == (base64.b64encode(b"1,a").decode(), "BASE64")
    assert encode_payload(b"\xff\xfe", "text/csv", HEADER) == (base64.b64encode(b"\xff\xfe").decode(), "BASE64")
    assert encode_payload(b"1,a", "text/csv", None) == (base64.b64encode(b"1,a").decode(), "BASE64")  # no header: BASE64


def test_capture_key_is_sagemakers_layout_under_the_destination():
    bucket, key = capture_key("s3://artifacts/data-capture/", "mlp-fraud-dev", "primary", AT)
    assert bucket == "artifacts"
    assert re.fullmatch(r"data-capture/mlp-fraud-dev/primary/2026/11/28/09/05-07-123-[0-9a-f-]{36}\.jsonl", key)
    assert capture_key("s3://artifacts", "e", "v", AT)[1].startswith("e/v/2026/11/28/09/")


def test_capture_record_follows_the_capture_modes_and_inference_id():
    both = {"CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}], "CaptureContentTypeHeader": HEADER}
    record = capture_record(both, b"1,a", "text/csv", b'{"predictions": [0.5]}', "application/json", "req-7", AT)
    assert record["captureData"] == {
        "endpointInput": {"observedContentType": "text/csv", "mode": "INPUT", "data": "1,a", "encoding": "CSV"},
        "endpointOutput": {
            "observedContentType": "application/json",
            "mode": "OUTPUT",
            "data": '{"predictions": [0.5]}',
            "encoding": "JSON",
        },
    }
    assert (
        record["eventMetadata"]["inferenceId"] == "req-7" and record["eventMetadata"]["inferenceTime"] == "2026-11-28T09:05:07Z"
    )
    assert record["eventVersion"] == "0" and len(record["eventMetadata"]["eventId"]) == 36
    output_only = capture_record({"CaptureOptions": [{"CaptureMode": "Output"}]}, b"x", "text/csv", b"1", "text/csv", None, AT)
    assert list(output_only["captureData"]) == ["endpointOutput"] and "inferenceId" not in output_only["eventMetadata"]
    json.dumps(record)  # one JSON line


def test_invocation_metrics_count_each_request_once_per_kind():
    def figures(status):
        return {d["MetricName"]: d["Value"] for d in invocation_metrics("e", "primary", status, 900 if status else None, 120, AT)}

    assert figures(200) == {
        "Invocations": 1,
        "InvocationsPerInstance": 1,
        "Invocation4XXErrors": 0,
        "Invocation5XXErrors": 0,
        "InvocationModelErrors": 0,
        "OverheadLatency": 120,
        "ModelLatency": 900,
    }
    assert (figures(415)["Invocation4XXErrors"], figures(415)["InvocationModelErrors"], figures(415)["Invocation5XXErrors"]) == (
        1,
        1,
        0,
    )
    assert (figures(None)["Invocation5XXErrors"], figures(None)["InvocationModelErrors"], "ModelLatency" in figures(None)) == (
        1,
        1,
        False,
    )
    data = invocation_metrics("e", "primary", 200, 1, 1, AT)
    assert all(
        d["Dimensions"] == [{"Name": "EndpointName", "Value": "e"}, {"Name": "VariantName", "Value": "primary"}] for d in data
    )


def test_a_request_is_stamped_at_its_played_time_or_refused_when_it_is_not_a_time():
    """The emulator's own header (emulator/loop.send_traffic); without it, the clock."""
    assert now({PLAYED_AT: AT.isoformat()}) == AT
    assert now({PLAYED_AT: "2026-11-28T09:05:07"}) == AT.replace(microsecond=0)  # naive: UTC
    before = dt.datetime.now(dt.UTC)
    assert before <= now({}) <= dt.datetime.now(dt.UTC)
    for garbage in ("yesterday", "2026-13-01T00:00:00", "${now}"):
        with pytest.raises(InvocationError) as refused:
            now({PLAYED_AT: garbage})
        assert refused.value.status == 400 and PLAYED_AT in refused.value.message
