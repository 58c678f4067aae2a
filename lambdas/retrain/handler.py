"""Retrain: on our alarm, a schedule or a manual request, pin the data and start one training job.

Decided from AWS state, not from the event (docs/CONTRACTS.md, "Runs table"):

- an alarm event is accepted only for this team's retrain alarms (name and ARN) and only while
  DescribeAlarms says the alarm is in ALARM; a schedule only from this function's own rules;
- the runs-table lock lives as long as the run: a short lease while this handler starts the job, the
  job's longest possible life once it runs, the cooldown once it has ended; an expired lock whose job
  is still running is not taken over, and a lease left by a crashed handler simply runs out;
- the run id of an EventBridge event is derived from the event's id, and the run record (with its job
  name) is written before CreateTrainingJob, so a Lambda retry finds the run and the job the first
  attempt started instead of starting another;
- the data is prepared before any job (common.training_data): fresh labels curated into windows, the
  recipe's data policy pinned by VersionId, every pinned row through the data gate; a refused run starts
  no job, records why, alerts the owners and releases the lock; the live model goes to the job as the
  champion (common.champion), scored on the same holdout;
- the watch schedule re-examines the retrain alarms (one that stays in ALARM sends no new event, so a
  trigger lost to a crash would otherwise never come back) and stops this team's training jobs that
  no in-flight run owns.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any, NamedTuple

from common import aws, runs
from common.champion import live_champion
from common.training import (
    build_training_job_request,
    check_code,
    job_life_seconds,
    new_run_id,
    pin_image,
    run_id_for_event,
    run_of_job,
    user_hyperparameters,
)
from common.training_data import prepare
from contract.environment import env, env_list
from contract.events import BadEvent, StaleEvent, expect, require_str
from contract.recipes import TrainingRecipe
from contract.runs import RunInputs

log = logging.getLogger()
log.setLevel(logging.INFO)

ALARM = "CloudWatch Alarm State Change"
SCHEDULED = "Scheduled Event"
# The lease while this handler starts a job: three times the function's timeout, so a crashed or
# timed-out invocation's lock is free again soon after, and a live one never loses it.
LEASE_SECONDS = 900
# A job younger than this is not swept: its run record may still be on its way (operator runs write it
# after CreateTrainingJob).
SWEEP_GRACE_SECONDS = 900
RUNNING = ("InProgress", "Stopping")


class Trigger(NamedTuple):  # (not a dataclass: ops.functions loads handlers outside sys.modules)
    kind: str  # "alarm" | "schedule" | "watch" | "manual"
    label: str
    alarm: str | None = None


def retrain_alarms() -> dict[str, str]:
    """This team's retrain alarms, name -> ARN (RETRAIN_ALARM_ARNS, set by the stack)."""
    return {arn.rsplit(":alarm:", 1)[-1]: arn for arn in env_list("RETRAIN_ALARM_ARNS")}


def trigger_of(event: Any, prefix: str) -> Trigger:
    """What asked for this run, or BadEvent for a malformed or foreign event."""
    if not isinstance(event, dict):
        raise BadEvent(f"event must be an object, got {type(event).__name__}")
    if event.get("source") == "mlp.manual":
        reason = require_str(event, "reason")
        requested_by = require_str(event, "requested_by")
        return Trigger("manual", f"manual:{requested_by}:{reason}")
    detail_type = expect(event, "detail-type", (ALARM, SCHEDULED))
    if detail_type == SCHEDULED:
        expect(event, "source", ("aws.events",))
        resources = event.get("resources")
        rule = resources[0] if isinstance(resources, list) and len(resources) == 1 else None
        rules = {env("WATCH_RULE_ARN"): "watch", **dict.fromkeys(env_list("RETRAIN_SCHEDULE_RULE_ARNS"), "schedule")}
        if rule not in rules:
            raise BadEvent(f"event.resources {resources!r} is not one of this function's rules {sorted(rules)}")
        return Trigger(rules[rule], f"{rules[rule]}:{rule}")
    expect(event, "source", ("aws.cloudwatch",))
    alarm = require_str(event, "detail.alarmName")
    if not alarm.startswith(f"{prefix}-"):
        raise BadEvent(f"event.detail.alarmName {alarm!r} is not one of this team's alarms (prefix {prefix}-)")
    alarms = retrain_alarms()
    if alarm not in alarms:
        raise BadEvent(f"event.detail.alarmName {alarm!r} is not one of this team's retrain alarms {sorted(alarms)}")
    if alarms[alarm] not in (event.get("resources") or []):
        raise BadEvent(f"event.resources does not name the alarm {alarms[alarm]}")
    expect(event, "detail.state.value", ("ALARM",))
    return Trigger("alarm", f"alarm:{alarm}", alarm)


def alarm_states(names: list[str]) -> dict[str, str]:
    """The current state of each named alarm (metric or composite); absent alarms are left out."""
    if not names:
        return {}
    response = aws.client("cloudwatch").describe_alarms(AlarmNames=names, AlarmTypes=["CompositeAlarm", "MetricAlarm"])
    return {a["AlarmName"]: a["StateValue"] for a in response.get("MetricAlarms", []) + response.get("CompositeAlarms", [])}


def handler(event: dict, context: Any) -> dict[str, Any]:
    prefix = env("PREFIX")
    trigger = trigger_of(event, prefix)
    now = dt.datetime.now(dt.UTC)
    swept: list[str] | None = None  # a watch tick reports what it swept, even nothing
    if trigger.kind == "watch":
        swept = sweep_orphan_jobs(prefix, now)
        states = alarm_states(sorted(retrain_alarms()))
        firing = sorted(name for name, state in states.items() if state == "ALARM")
        if not firing:
            return {"started": False, "reason": "no retrain alarm in ALARM", "trigger": trigger.label, "swept": swept}
        trigger = Trigger("alarm", f"watch:alarm:{firing[0]}", firing[0])
    elif trigger.kind == "alarm":
        assert trigger.alarm is not None  # an alarm trigger always names its alarm
        state = alarm_states([trigger.alarm]).get(trigger.alarm, "missing")
        if state != "ALARM":
            raise StaleEvent(f"alarm {trigger.alarm} is {state} now, not ALARM: a stale event starts nothing")

    recipe = aws.recipe_parameter(env("TRAINING_RECIPE_PARAMETER"), TrainingRecipe)
    event_id = event.get("id")
    run_id = run_id_for_event(event_id, _event_time(event, now)) if isinstance(event_id, str) and event_id else new_run_id(now)
    result = start_run(prefix, run_id, trigger.label, recipe, now)
    return result if swept is None else {**result, "swept": swept}


def _event_time(event: dict, default: dt.datetime) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(str(event.get("time")).replace("Z", "+00:00"))
    except ValueError:
        return default


def _busy(lock: dict[str, Any] | None, trigger: str) -> dict[str, Any]:
    lock = lock or {}
    reason = "cooldown" if lock.get("phase", runs.PHASE_COOLDOWN) == runs.PHASE_COOLDOWN else "run in flight"
    log.info("retrain skipped (%s): lock held by %s until %s", reason, lock.get("run_id"), lock.get("expires_at"))
    return {
        "started": False,
        "reason": reason,
        "trigger": trigger,
        "locked_by": lock.get("run_id"),
        "lock_expires_at": lock.get("expires_at"),
    }


def start_run(prefix: str, run_id: str, trigger: str, recipe: TrainingRecipe, now: dt.datetime) -> dict[str, Any]:
    now_s = now.timestamp()
    lock = runs.get_lock()
    if lock and lock["run_id"] != run_id and (lock["expires_at"] >= now_s or holder_still_running(lock, now_s)):
        return _busy(runs.get_lock(), trigger)
    if not runs.acquire_lock(run_id, trigger, LEASE_SECONDS, now_s):
        return _busy(runs.get_lock(), trigger)

    run = runs.get_run(run_id)
    if run is not None and run["status"] not in runs.IN_FLIGHT:
        # A late retry of an event whose run has ended: give back only the lease this call just took.
        if (runs.get_lock() or {}).get("phase") == runs.PHASE_STARTING:
            runs.release_lock(run_id)
        return {"started": False, "reason": f"run already {run['status']}", "run_id": run_id, "trigger": trigger}

    sagemaker = aws.client("sagemaker")
    try:
        if run is None:
            code = check_code(current_code())
            ecr = aws.client("ecr")
            image, inference_image = pin_image(ecr, recipe.image_uri), pin_image(ecr, recipe.inference_image_uri)
            champion = live_champion()
            prepared = prepare_data(run_id, recipe, now, champion)
            if not prepared.passed:
                return refuse_data(run_id, trigger, prepared)
            stored = prepared.manifest
            champion_uri = champion.model_data_url if champion else None
            request = _request(recipe, run_id, stored.uri, stored.sha256, image, code, champion_uri)
            run = runs.put_run(
                run_id,
                runs.STARTING,
                RunInputs(
                    training_job_name=request["TrainingJobName"],
                    manifest_uri=stored.uri,
                    manifest_sha256=stored.sha256,
                    object_count=len(stored.manifest["objects"]),
                    image_uri=image,
                    inference_image_uri=inference_image,
                    hyperparameters=user_hyperparameters(request["HyperParameters"]),
                    code=code,
                    trigger=trigger,
                ),
                data_report_uri=prepared.report_uri,
                training_rows=prepared.report.get("rows"),
                champion_package_arn=champion.package_arn if champion else None,
                champion_model_uri=champion_uri,
            )
        job = start_or_find_job(sagemaker, recipe, run)
        runs.update_run_status(run_id, runs.STARTING, runs.TRAINING, training_job_arn=job["TrainingJobArn"])
        # The lock now lasts as long as the job can: SageMaker stops it by then at the latest.
        runs.extend_lock(run_id, now_s + job_life_seconds(recipe) + LEASE_SECONDS, runs.PHASE_TRAINING)
    except Exception:
        _abandon_if_no_job(sagemaker, run_id, run)
        raise

    log.info("started %s for run %s (%s)", run["training_job_name"], run_id, trigger)
    return {
        "started": True,
        "run_id": run_id,
        "training_job_name": run["training_job_name"],
        "manifest_uri": run["manifest_uri"],
        "manifest_sha256": run["manifest_sha256"],
        "trigger": trigger,
    }


def prepare_data(run_id: str, recipe: TrainingRecipe, now: dt.datetime, champion: Any) -> Any:
    """Curate the fresh labels, pin the policy's data and gate it (common.training_data)."""
    return prepare(
        run_id,
        recipe,
        now,
        artifact_bucket=env("ARTIFACT_BUCKET"),
        kms_key_arn=env("KMS_KEY_ARN"),
        endpoint=env("ENDPOINT_NAME"),
        problem_type=env("PROBLEM_TYPE"),
        definitions_key=env("FEATURE_DEFINITIONS_KEY"),
        last_manifest=champion.manifest if champion else None,
    )


def refuse_data(run_id: str, trigger: str, prepared: Any) -> dict[str, Any]:
    """The data gate refused the run's data: no job. The run records why, the owners are alerted, and the
    lock is released so the next data (or the next trigger) can start a run."""
    reasons = prepared.report.get("reasons") or ["the data gate failed"]
    reason = "data gate: " + "; ".join(reasons)
    runs.put_refused_run(
        run_id,
        failure_reason=reason[:1000],
        data_report_uri=prepared.report_uri,
        manifest_uri=prepared.manifest.uri if prepared.manifest else None,
        manifest_sha256=prepared.manifest.sha256 if prepared.manifest else None,
        trigger=trigger,
    )
    released = runs.release_lock(run_id)
    aws.client("sns").publish(
        TopicArn=env("ALERT_TOPIC_ARN"),
        Subject=f"[{env('PREFIX')}] retrain refused by the data gate"[:100],
        Message=json.dumps(
            {"run_id": run_id, "trigger": trigger, "reasons": reasons, "data_report_uri": prepared.report_uri}, indent=2
        ),
    )
    log.warning("run %s: %s (report %s); lock released: %s", run_id, reason, prepared.report_uri, released)
    return {
        "started": False,
        "reason": "data gate failed",
        "run_id": run_id,
        "trigger": trigger,
        "failures": reasons,
        "data_report_uri": prepared.report_uri,
    }


def current_code() -> dict[str, Any] | None:
    """The team's published code bundle (the pointer `main.py publish-code` writes), or None."""
    return aws.optional_json_parameter(env("CODE_BUNDLE_PARAMETER"))


def _request(
    recipe: TrainingRecipe,
    run_id: str,
    manifest_uri: str,
    manifest_sha256: str,
    image_uri: str,
    code: dict[str, Any],
    champion_model_uri: str | None,
) -> dict[str, Any]:
    return build_training_job_request(
        recipe,
        run_id,
        manifest_uri,
        manifest_sha256,
        image_uri,
        code,
        prefix=env("PREFIX"),
        team=env("TEAM"),
        environment=env("ENVIRONMENT"),
        champion_model_uri=champion_model_uri,
    )


def start_or_find_job(sagemaker: Any, recipe: TrainingRecipe, run: dict[str, Any]) -> dict[str, Any]:
    """The run's job: the one a previous attempt started (same name, same manifest), else a new one."""
    name = run["training_job_name"]
    job = aws.describe_or_none(sagemaker.describe_training_job, TrainingJobName=name)
    if job is None:
        request = _request(
            recipe,
            run["run_id"],
            run["manifest_uri"],
            run["manifest_sha256"],
            run["image_uri"],
            run["code"],
            run.get("champion_model_uri"),
        )
        if request["TrainingJobName"] != name:
            raise RuntimeError(f"run {run['run_id']} recorded job {name}, the recipe now names {request['TrainingJobName']}")
        sagemaker.create_training_job(**request)
        return sagemaker.describe_training_job(TrainingJobName=name)
    if job.get("HyperParameters", {}).get("mlp_manifest_sha256") != run["manifest_sha256"]:
        raise RuntimeError(f"training job {name} exists but was not started for run {run['run_id']} (other manifest)")
    log.info("run %s: job %s was started by an earlier attempt; adopting it", run["run_id"], name)
    return job


def _abandon_if_no_job(sagemaker: Any, run_id: str, run: dict[str, Any] | None) -> None:
    """After a failure: with no job started, mark the run Failed and release the lock; with a job (or
    when that cannot be told), keep both, so the retry (same event, same run) adopts the job."""
    try:
        job = aws.describe_or_none(sagemaker.describe_training_job, TrainingJobName=run["training_job_name"]) if run else None
    except Exception:
        log.exception("run %s: cannot tell whether its job exists; keeping the lock", run_id)
        return
    if job is not None:
        log.error("run %s failed after its job %s started; lock kept for the retry", run_id, job["TrainingJobName"])
        return
    if run is not None:
        runs.update_run_status(run_id, runs.STARTING, runs.FAILED, failure_reason="retrain failed before the job started")
    released = runs.release_lock(run_id)
    log.exception("retrain %s failed before starting a job (lock released: %s)", run_id, released)


def holder_still_running(lock: dict[str, Any], now_s: float) -> bool:
    """An expired lock whose run's job still runs is kept (extended by a lease); a run left Starting
    without a job by a crashed handler is marked Failed, and the lock may be taken over."""
    holder = lock["run_id"]
    run = runs.get_run(holder)
    if run is None or run["status"] not in runs.IN_FLIGHT:
        return False
    job = aws.describe_or_none(aws.client("sagemaker").describe_training_job, TrainingJobName=run["training_job_name"])
    if job is not None and job["TrainingJobStatus"] in RUNNING:
        runs.extend_lock(holder, now_s + LEASE_SECONDS, runs.PHASE_TRAINING)
        log.warning(
            "lock of run %s expired while its job %s is %s; extended", holder, job["TrainingJobName"], job["TrainingJobStatus"]
        )
        return True
    if job is None and run["status"] == runs.STARTING:
        runs.update_run_status(
            holder, runs.STARTING, runs.FAILED, failure_reason="the retrain handler stopped before starting a job (lease expired)"
        )
    return False


def sweep_orphan_jobs(prefix: str, now: dt.datetime) -> list[str]:
    """Stop this team's running training jobs that no in-flight run owns (GPU time nobody will use)."""
    sagemaker = aws.client("sagemaker")
    stopped = []
    for page in sagemaker.get_paginator("list_training_jobs").paginate(NameContains=f"{prefix}-", StatusEquals="InProgress"):
        for summary in page["TrainingJobSummaries"]:
            name = summary["TrainingJobName"]
            if not name.startswith(f"{prefix}-") or (now - summary["CreationTime"]).total_seconds() < SWEEP_GRACE_SECONDS:
                continue
            run = run_of_job(sagemaker, prefix, name, summary["TrainingJobArn"])
            if run is not None and run["status"] in runs.IN_FLIGHT:
                continue
            sagemaker.stop_training_job(TrainingJobName=name)
            stopped.append(name)
            log.warning("stopped training job %s: no in-flight run owns it", name)
    return stopped
