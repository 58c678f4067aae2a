"""Retrain: on our alarm, a schedule or a manual request, pin the data and start one training job.

The runs-table lock (with its cooldown) makes duplicate and bursty triggers start exactly one job.
Anything that fails after the lock is taken releases it and re-raises, so a broken run never blocks
the next one for a whole cooldown.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from common import aws, runs
from common.events import BadEvent, env, expect, require_str
from common.manifest import write_manifest
from common.training import new_run_id, start_training_job

log = logging.getLogger()
log.setLevel(logging.INFO)

ALARM = "CloudWatch Alarm State Change"
SCHEDULED = "Scheduled Event"


def trigger_of(event: Any, prefix: str) -> str:
    """What asked for this run, or BadEvent for a malformed or foreign event."""
    if not isinstance(event, dict):
        raise BadEvent(f"event must be an object, got {type(event).__name__}")
    if event.get("source") == "mlp.manual":
        reason = require_str(event, "reason")
        requested_by = require_str(event, "requested_by")
        return f"manual:{requested_by}:{reason}"
    detail_type = expect(event, "detail-type", (ALARM, SCHEDULED))
    if detail_type == SCHEDULED:
        expect(event, "source", ("aws.events",))
        resources = event.get("resources") or []
        return f"schedule:{resources[0]}" if resources and isinstance(resources[0], str) else "schedule"
    expect(event, "source", ("aws.cloudwatch",))
    alarm = require_str(event, "detail.alarmName")
    if not alarm.startswith(f"{prefix}-"):
        raise BadEvent(f"event.detail.alarmName {alarm!r} is not one of this team's alarms (prefix {prefix}-)")
    expect(event, "detail.state.value", ("ALARM",))
    return f"alarm:{alarm}"


def handler(event: dict, context: Any) -> dict[str, Any]:
    prefix = env("PREFIX")
    trigger = trigger_of(event, prefix)
    recipe = json.loads(aws.client("ssm").get_parameter(Name=env("TRAINING_RECIPE_PARAMETER"))["Parameter"]["Value"])
    now = dt.datetime.now(dt.timezone.utc)
    run_id = new_run_id(now)

    if not runs.acquire_lock(run_id, trigger, int(env("COOLDOWN_SECONDS")), now.timestamp()):
        lock = runs.get_lock() or {}
        log.info("retrain skipped (cooldown): lock held by %s until %s", lock.get("run_id"), lock.get("expires_at"))
        return {"started": False, "reason": "cooldown", "trigger": trigger,
                "locked_by": lock.get("run_id"), "lock_expires_at": lock.get("expires_at")}

    try:
        stored = write_manifest(run_id, recipe.get("training_data") or {}, env("ARTIFACT_BUCKET"),
                                env("KMS_KEY_ARN"), now)
        job = start_training_job(aws.client("sagemaker"), recipe, run_id, stored.uri, stored.sha256)
        runs.put_run(
            run_id, "Training",
            training_job_name=job["training_job_name"],
            training_job_arn=job["training_job_arn"],
            manifest_uri=stored.uri,
            manifest_sha256=stored.sha256,
            object_count=len(stored.manifest["objects"]),
            image_uri=job["image_uri"],
            inference_image_uri=recipe.get("inference_image_uri") or job["image_uri"],
            hyperparameters=job["hyperparameters"],
            code_commit=job["code_commit"],
            trigger=trigger,
        )
    except Exception:
        released = runs.release_lock(run_id)
        log.exception("retrain %s failed after taking the lock (lock released: %s)", run_id, released)
        raise

    log.info("started %s for run %s (%s)", job["training_job_name"], run_id, trigger)
    return {"started": True, "run_id": run_id, "training_job_name": job["training_job_name"],
            "manifest_uri": stored.uri, "manifest_sha256": stored.sha256, "trigger": trigger}
