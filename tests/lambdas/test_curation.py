"""Curation of labelled capture into versioned training data, the retrain data policy and the data gate.

Labels and captures are written where and as the team and SageMaker write them (ground-truth JSON Lines,
data-capture JSON Lines), then the retrain handler (or the curation module) runs against moto.
"""

from __future__ import annotations

import datetime as dt
import json

from moto.sns.models import sns_backends

from common import curation, runs
from common.capture import Window
from common.data_policy import select
from common.manifest import read_manifest
from contract.definitions import FeatureDefinitions
from lambdas.retrain.handler import handler
from tests.lambdas.mlp_aws import ACCOUNT, ARTIFACTS, CURATED, DEFINITIONS, ENDPOINT, REGION, TABLE, aws_env  # noqa: F401
from tests.recipe_examples import data_policy

MANUAL = {"source": "mlp.manual", "reason": "test", "requested_by": "ci"}
HOUR = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=2)
BASE_CSV = "transaction_id,amount,merchant_category,is_fraud\nb0,10,grocery,0\nb1,90,travel,1\nb2,15,grocery,0\nb3,85,travel,1\n"


def capture_line(request_id: str, values: str, at: dt.datetime, *, inference_id: bool = True) -> str:
    """One SageMaker data-capture line (CSV request); the id as inferenceId, or only as eventId."""
    metadata = {
        "eventId": request_id if not inference_id else f"event-{request_id}",
        "inferenceTime": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if inference_id:
        metadata["inferenceId"] = request_id
    return json.dumps(
        {
            "captureData": {
                "endpointInput": {"observedContentType": "text/csv", "mode": "INPUT", "data": values, "encoding": "CSV"},
                "endpointOutput": {"observedContentType": "text/csv", "mode": "OUTPUT", "data": "0.5", "encoding": "CSV"},
            },
            "eventMetadata": metadata,
            "eventVersion": "0",
        }
    )


def put_capture(env, lines: list[str], hour: dt.datetime = HOUR) -> None:
    env.client("s3").put_object(
        Bucket=ARTIFACTS,
        Key=f"data-capture/{ENDPOINT}/primary/{hour:%Y/%m/%d/%H}/c-{len(lines)}.jsonl",
        Body=("\n".join(lines) + "\n").encode(),
    )


def put_labels(env, items: list, hour: dt.datetime = HOUR, name: str = "labels") -> None:
    body = "\n".join(item if isinstance(item, str) else json.dumps(item) for item in items) + "\n"
    env.client("s3").put_object(
        Bucket=ARTIFACTS, Key=f"ground-truth/{ENDPOINT}/{hour:%Y/%m/%d/%H}/{name}.jsonl", Body=body.encode()
    )


def traffic(env, count: int, hour: dt.datetime = HOUR, prefix: str = "r") -> list[str]:
    """`count` valid captured requests in `hour`, labelled (fraud when amount > 50); returns their ids."""
    ids = [f"{prefix}{i:03d}" for i in range(count)]
    put_capture(
        env,
        [
            capture_line(i, f"{5 + 90 * (n % 2)},{'travel' if n % 2 else 'grocery'}", hour + dt.timedelta(minutes=1))
            for n, i in enumerate(ids)
        ],
        hour,
    )
    put_labels(env, [{"inference_id": i, "label": n % 2} for n, i in enumerate(ids)], hour, name=f"{prefix}-labels")
    return ids


def curate(env, min_labels: int = 2):
    return curation.curate(
        FeatureDefinitions.from_dict(DEFINITIONS),
        artifact_bucket=ARTIFACTS,
        endpoint=ENDPOINT,
        curated_bucket=CURATED,
        training_prefix="training/",
        span=Window(HOUR - dt.timedelta(hours=1), HOUR + dt.timedelta(hours=2)),
        label_delay_hours=24,
        min_labels=min_labels,
        problem_type="binary",
        kms_key_arn=env.kms_key_arn,
    )


def test_labels_join_capture_into_one_window_and_every_bad_label_is_counted(aws_env):
    at = HOUR + dt.timedelta(minutes=5)
    put_capture(
        aws_env,
        [
            capture_line("a", "10,grocery", at),
            capture_line("b", "90,travel", at),
            capture_line("c", "20,grocery", at),
            capture_line("d", "30,grocery", at, inference_id=False),  # joined by its event id
            capture_line("e", "500,grocery", at),  # outside the declared range [0, 100]
            capture_line("f", ",travel", at),  # amount missing
            capture_line("g", "80,travel", at),
            capture_line("h", "70,travel", at),
        ],
    )
    put_labels(
        aws_env,
        [
            {"inference_id": "a", "label": 0},
            {"inference_id": "b", "label": 1},
            {"inference_id": "c", "label": 0},
            {"event_id": "d", "label": 1},
            {"inference_id": "e", "label": 1},
            {"inference_id": "f", "label": 0},
            {"inference_id": "a", "label": 0},  # duplicate, same value: kept once
            {"inference_id": "g", "label": 1},
            {"inference_id": "g", "label": 0},  # conflicting: g is not trained on
            {"inference_id": "h", "label": "yes"},  # wrong type
            {"inference_id": "zzz", "label": 1},  # matches no capture
            "not json",
        ],
    )
    [window] = curate(aws_env)
    counts = window.counts
    assert window.status == "written" and window.key == f"training/labelled/{HOUR:%Y/%m/%d/%H}.csv"
    assert (counts.labels, counts.rows, counts.unmatched, counts.invalid_inputs) == (12, 4, 1, 2)
    assert (counts.malformed, counts.duplicate, counts.conflicting) == (2, 1, 2) and counts.missing == {"amount": 1}
    body = aws_env.client("s3").get_object(Bucket=CURATED, Key=window.key, VersionId=window.version_id)["Body"].read().decode()
    assert (
        body
        == "transaction_id,amount,merchant_category,is_fraud\na,10.0,grocery,0\nb,90.0,travel,1\nc,20.0,grocery,0\nd,30.0,grocery,1\n"
    )

    # Idempotent per window: the same labels and captures write no new version.
    [again] = curate(aws_env)
    assert (again.status, again.version_id) == ("unchanged", window.version_id)
    assert len([k for k in aws_env.bucket_keys(CURATED) if "labelled" in k]) == 1
    # A late label for the same hour changes the window: a new version, the old one kept.
    put_labels(aws_env, [{"inference_id": "h", "label": 1}], name="late")
    [late] = curate(aws_env)
    assert late.status == "written" and late.version_id != window.version_id and late.counts.rows == 5


def test_a_window_with_too_few_labels_is_reported_and_not_written(aws_env):
    traffic(aws_env, 3)
    [window] = curate(aws_env, min_labels=10)
    assert (window.status, window.counts.rows, window.version_id) == ("too_few_labels", 3, None)
    assert not [k for k in aws_env.bucket_keys(CURATED) if "labelled" in k]


def test_retrain_pins_base_data_and_fresh_windows_by_version_and_reports_them(aws_env):
    base_version = aws_env.put_training_data("training/base.csv", BASE_CSV)
    traffic(aws_env, 6)
    result = handler(MANUAL, None)
    assert result["started"] is True
    run = runs.get_run(TABLE, result["run_id"])
    manifest = read_manifest(run["manifest_uri"], run["manifest_sha256"])
    pinned = {o["key"]: o["version_id"] for o in manifest["objects"]}
    window_key = f"training/labelled/{HOUR:%Y/%m/%d/%H}.csv"
    assert pinned == {"training/base.csv": base_version, window_key: pinned[window_key]}
    report = json.loads(
        aws_env.client("s3").get_object(Bucket=ARTIFACTS, Key=f"manifests/{result['run_id']}.data-report.json")["Body"].read()
    )
    assert run["data_report_uri"] == f"s3://{ARTIFACTS}/manifests/{result['run_id']}.data-report.json"
    assert report["passed"] is True and report["rows"] == 10 and report["selection"]["rows"] == 10
    assert [w["status"] for w in report["curated_windows"]] == ["written"]
    assert {c["check"] for c in report["checks"]} >= {"rows", "invalid rate", "missing rate amount", "label problem rate"}


def test_policy_since_last_run_recency_and_row_cap(aws_env):
    aws_env.put_training_data("training/base.csv", BASE_CSV)
    old_hour, new_hour = HOUR - dt.timedelta(hours=30), HOUR
    traffic(aws_env, 4, old_hour, prefix="o")
    traffic(aws_env, 6, new_hour, prefix="n")
    curation.curate(
        FeatureDefinitions.from_dict(DEFINITIONS),
        artifact_bucket=ARTIFACTS,
        endpoint=ENDPOINT,
        curated_bucket=CURATED,
        training_prefix="training/",
        span=Window(old_hour, new_hour + dt.timedelta(hours=1)),
        label_delay_hours=1,
        min_labels=2,
        problem_type="binary",
        kms_key_arn=aws_env.kms_key_arn,
    )
    now = new_hour + dt.timedelta(hours=2)
    keys = lambda selection: [o["key"] for o in selection.objects]
    old_key, new_key = (f"training/labelled/{h:%Y/%m/%d/%H}.csv" for h in (old_hour, new_hour))

    everything = select(data_policy(), CURATED, "training/", now, None)
    assert keys(everything) == [new_key, old_key, "training/base.csv"] and everything.rows == 14
    recent = select(data_policy(recency_hours=24), CURATED, "training/", now, None)
    assert keys(recent) == [new_key, "training/base.csv"] and "older than" in recent.left_out[0]["reason"]
    capped = select(data_policy(max_rows=7), CURATED, "training/", now, None)
    assert keys(capped) == [new_key] and [o["key"] for o in capped.left_out] == [old_key, "training/base.csv"]
    no_base = select(data_policy(include_base=False), CURATED, "training/", now, None)
    assert keys(no_base) == [new_key, old_key]
    # since_last_run: the window versions the last run pinned are left out; a new version is not.
    last = {"objects": [o for o in everything.manifest_objects() if o["key"] == old_key]}
    since = select(data_policy(labelled_windows="since_last_run"), CURATED, "training/", now, last)
    assert keys(since) == [new_key, "training/base.csv"]


def alerts(env) -> list[dict]:
    topic = sns_backends[ACCOUNT][REGION].topics[env.topic_arn]
    return [json.loads(message) for _, message, *_ in topic.sent_notifications]


def test_the_data_gate_refuses_bad_rows_before_any_job_alerts_and_releases_the_trigger(aws_env):
    aws_env.put_training_data("training/base.csv", BASE_CSV + "b4,250,grocery,0\nb5,20,boats,1\nb6,30,grocery,\n")
    result = handler(MANUAL, None)
    assert result["started"] is False and result["reason"] == "data gate failed"
    assert aws_env.training_jobs() == [] and runs.get_lock(TABLE) is None
    run = runs.get_run(TABLE, result["run_id"])
    assert run["status"] == "Failed" and run["failure_reason"].startswith("data gate: ")
    assert "rows the training code refuses 3" in run["failure_reason"]
    report = json.loads(
        aws_env.client("s3").get_object(Bucket=ARTIFACTS, Key=f"manifests/{result['run_id']}.data-report.json")["Body"].read()
    )
    examples = " | ".join(report["invalid_examples"])
    assert "outside the declared range" in examples and "'boats' is not one of the declared categories" in examples
    assert "label missing" in examples
    [alert] = alerts(aws_env)
    assert alert["run_id"] == result["run_id"] and alert["data_report_uri"] == run["data_report_uri"]
    # The trigger is released: once the data is fixed, the next request starts a job.
    aws_env.put_training_data("training/base.csv", BASE_CSV)
    assert handler(MANUAL, None)["started"] is True


def test_the_data_gate_refuses_a_window_whose_labels_mostly_match_nothing(aws_env):
    aws_env.put_training_data("training/base.csv", BASE_CSV)
    traffic(aws_env, 4)
    put_labels(aws_env, [{"inference_id": f"ghost-{i}", "label": 1} for i in range(6)], name="ghosts")
    result = handler(MANUAL, None)
    assert result["started"] is False and any(f.startswith("label problem rate 0.6") for f in result["failures"])
    assert aws_env.training_jobs() == []
