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
from common.training_data import prepare_for
from contract.environment import LambdaEnvironment
from contract.events import AlarmStateChange, BadEvent, ManualRetrain, ScheduledEvent, StaleEvent, parse_one_of
from contract.recipes import TrainingRecipe
from contract.runs import RunInputs

log = logging.getLogger()
log.setLevel(logging.INFO)

# The lease while this handler starts a job: three times the function's timeout, so a crashed or
# timed-out invocation's lock is free again soon after, and a live one never loses it.
LEASE_SECONDS = 900
# A job younger than this is not swept: its run record may still be on its way (operator runs write it
# after CreateTrainingJob).
SWEEP_GRACE_SECONDS = 900
RUNNING = ("InProgress", "Stopping")


class Trigger(NamedTuple):
    kind: str  # "alarm" | "schedule" | "watch" | "manual"
    label: str
    alarm: str | None = None


Event = AlarmStateChange | ScheduledEvent | ManualRetrain


def retrain_alarms(environment: LambdaEnvironment) -> dict[str, str]:
    """This team's retrain alarms, name -> ARN (RETRAIN_ALARM_ARNS, set by the stack)."""
    return {arn.rsplit(":alarm:", 1)[-1]: arn for arn in environment.retrain_alarm_arns}


def trigger_of(event: Event, environment: LambdaEnvironment) -> Trigger:
    """What asked for this run, or BadEvent for a foreign event (another team's alarm, another rule)."""
    if isinstance(event, ManualRetrain):
        return Trigger("manual", f"manual:{event.requested_by}:{event.reason}")
    resources = list(event.envelope.resources)
    if isinstance(event, ScheduledEvent):
        rule = resources[0] if len(resources) == 1 else None
        rules = {environment.watch_rule_arn: "watch", **dict.fromkeys(environment.retrain_schedule_rule_arns, "schedule")}
        if rule not in rules:
            raise BadEvent(f"event.resources {resources!r} is not one of this function's rules {sorted(rules)}")
        return Trigger(rules[rule], f"{rules[rule]}:{rule}")
    alarm, prefix = event.alarm_name, environment.prefix
    if not alarm.startswith(f"{prefix}-"):
        raise BadEvent(f"event.detail.alarmName {alarm!r} is not one of this team's alarms (prefix {prefix}-)")
    alarms = retrain_alarms(environment)
    if alarm not in alarms:
        raise BadEvent(f"event.detail.alarmName {alarm!r} is not one of this team's retrain alarms {sorted(alarms)}")
    if alarms[alarm] not in resources:
        raise BadEvent(f"event.resources does not name the alarm {alarms[alarm]}")
    if event.state != "ALARM":
        raise BadEvent(f"event.detail.state.value is {event.state!r}; expected 'ALARM'")
    return Trigger("alarm", f"alarm:{alarm}", alarm)


def alarm_states(names: list[str]) -> dict[str, str]:
    """The current state of each named alarm (metric or composite); absent alarms are left out."""
    if not names:
        return {}
    response = aws.client("cloudwatch").describe_alarms(AlarmNames=names, AlarmTypes=["CompositeAlarm", "MetricAlarm"])
    return {a["AlarmName"]: a["StateValue"] for a in response.get("MetricAlarms", []) + response.get("CompositeAlarms", [])}


def handler(event: dict, context: Any) -> dict[str, Any]:
    """What Lambda calls (`handler.handler`): the function's environment is read here, once."""
    return handle(event, LambdaEnvironment.from_env())


def handle(event: Any, environment: LambdaEnvironment) -> dict[str, Any]:
    parsed: Event = parse_one_of(event, AlarmStateChange, ScheduledEvent, ManualRetrain)
    trigger = trigger_of(parsed, environment)
    prefix, table = environment.prefix, environment.runs_table
    now = dt.datetime.now(dt.UTC)
    swept: list[str] | None = None  # a watch tick reports what it swept, even nothing
    if trigger.kind == "watch":
        swept = sweep_orphan_jobs(table, prefix, now)
        states = alarm_states(sorted(retrain_alarms(environment)))
        firing = sorted(name for name, state in states.items() if state == "ALARM")
        if not firing:
            return {"started": False, "reason": "no retrain alarm in ALARM", "trigger": trigger.label, "swept": swept}
        trigger = Trigger("alarm", f"watch:alarm:{firing[0]}", firing[0])
    elif trigger.kind == "alarm":
        assert trigger.alarm is not None  # an alarm trigger always names its alarm
        state = alarm_states([trigger.alarm]).get(trigger.alarm, "missing")
        if state != "ALARM":
            raise StaleEvent(f"alarm {trigger.alarm} is {state} now, not ALARM: a stale event starts nothing")

    recipe = aws.recipe_parameter(environment.training_recipe_parameter, TrainingRecipe)
    envelope = None if isinstance(parsed, ManualRetrain) else parsed.envelope
    if envelope is not None and envelope.id:
        run_id = run_id_for_event(envelope.id, envelope.time or now)
    else:
        run_id = new_run_id(now)
    result = start_run(environment, run_id, trigger.label, recipe, now)
    return result if swept is None else {**result, "swept": swept}


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


def start_run(
    environment: LambdaEnvironment, run_id: str, trigger: str, recipe: TrainingRecipe, now: dt.datetime
) -> dict[str, Any]:
    now_s, table = now.timestamp(), environment.runs_table
    lock = runs.get_lock(table)
    if lock and lock["run_id"] != run_id and (lock["expires_at"] >= now_s or holder_still_running(table, lock, now_s)):
        return _busy(runs.get_lock(table), trigger)
    if not runs.acquire_lock(table, run_id, trigger, LEASE_SECONDS, now_s):
        return _busy(runs.get_lock(table), trigger)

    run = runs.get_run(table, run_id)
    if run is not None and run["status"] not in runs.IN_FLIGHT:
        # A late retry of an event whose run has ended: give back only the lease this call just took.
        if (runs.get_lock(table) or {}).get("phase") == runs.PHASE_STARTING:
            runs.release_lock(table, run_id)
        return {"started": False, "reason": f"run already {run['status']}", "run_id": run_id, "trigger": trigger}

    sagemaker = aws.client("sagemaker")
    try:
        if run is None:
            code = check_code(aws.optional_json_parameter(environment.code_bundle_parameter))
            ecr = aws.client("ecr")
            image, inference_image = pin_image(ecr, recipe.image_uri), pin_image(ecr, recipe.inference_image_uri)
            champion = live_champion(environment.deployed_model_parameter, environment.artifact_bucket)
            prepared = prepare_for(environment, run_id, recipe, now, champion.manifest if champion else None)
            if not prepared.passed:
                return refuse_data(environment, run_id, trigger, prepared)
            stored = prepared.manifest
            assert stored is not None  # the gate passed: the data is pinned
            champion_uri = champion.model_data_url if champion else None
            request = _request(environment, recipe, run_id, stored.uri, stored.sha256, image, code, champion_uri)
            run = runs.put_run(
                table,
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
        job = start_or_find_job(environment, sagemaker, recipe, run)
        runs.update_run_status(table, run_id, runs.STARTING, runs.TRAINING, training_job_arn=job["TrainingJobArn"])
        # The lock now lasts as long as the job can: SageMaker stops it by then at the latest.
        runs.extend_lock(table, run_id, now_s + job_life_seconds(recipe) + LEASE_SECONDS, runs.PHASE_TRAINING)
    except Exception:
        _abandon_if_no_job(table, sagemaker, run_id, run)
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


def refuse_data(environment: LambdaEnvironment, run_id: str, trigger: str, prepared: Any) -> dict[str, Any]:
    """The data gate refused the run's data: no job. The run records why, the owners are alerted, and the
    lock is released so the next data (or the next trigger) can start a run."""
    reasons = prepared.report.get("reasons") or ["the data gate failed"]
    reason = "data gate: " + "; ".join(reasons)
    runs.put_refused_run(
        environment.runs_table,
        run_id,
        failure_reason=reason[:1000],
        data_report_uri=prepared.report_uri,
        manifest_uri=prepared.manifest.uri if prepared.manifest else None,
        manifest_sha256=prepared.manifest.sha256 if prepared.manifest else None,
        trigger=trigger,
    )
    released = runs.release_lock(environment.runs_table, run_id)
    aws.client("sns").publish(
        TopicArn=environment.alert_topic_arn,
        Subject=f"[{environment.prefix}] retrain refused by the data gate"[:100],
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


def _request(
    environment: LambdaEnvironment,
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
        prefix=environment.prefix,
        team=environment.team,
        environment=environment.environment,
        champion_model_uri=champion_model_uri,
    )


def start_or_find_job(
    environment: LambdaEnvironment, sagemaker: Any, recipe: TrainingRecipe, run: dict[str, Any]
) -> dict[str, Any]:
    """The run's job: the one a previous attempt started (same name, same manifest), else a new one."""
    name = run["training_job_name"]
    job = aws.describe_or_none(sagemaker.describe_training_job, TrainingJobName=name)
    if job is None:
        request = _request(
            environment,
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


def _abandon_if_no_job(table: str, sagemaker: Any, run_id: str, run: dict[str, Any] | None) -> None:
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
        runs.update_run_status(table, run_id, runs.STARTING, runs.FAILED, failure_reason="retrain failed before the job started")
    released = runs.release_lock(table, run_id)
    log.exception("retrain %s failed before starting a job (lock released: %s)", run_id, released)


def holder_still_running(table: str, lock: dict[str, Any], now_s: float) -> bool:
    """An expired lock whose run's job still runs is kept (extended by a lease); a run left Starting
    without a job by a crashed handler is marked Failed, and the lock may be taken over."""
    holder = lock["run_id"]
    run = runs.get_run(table, holder)
    if run is None or run["status"] not in runs.IN_FLIGHT:
        return False
    job = aws.describe_or_none(aws.client("sagemaker").describe_training_job, TrainingJobName=run["training_job_name"])
    if job is not None and job["TrainingJobStatus"] in RUNNING:
        runs.extend_lock(table, holder, now_s + LEASE_SECONDS, runs.PHASE_TRAINING)
        log.warning(
            "lock of run %s expired while its job %s is %s; extended", holder, job["TrainingJobName"], job["TrainingJobStatus"]
        )
        return True
    if job is None and run["status"] == runs.STARTING:
        runs.update_run_status(
            table,
            holder,
            runs.STARTING,
            runs.FAILED,
            failure_reason="the retrain handler stopped before starting a job (lease expired)",
        )
    return False


def sweep_orphan_jobs(table: str, prefix: str, now: dt.datetime) -> list[str]:
    """Stop this team's running training jobs that no in-flight run owns (GPU time nobody will use)."""
    sagemaker = aws.client("sagemaker")
    stopped = []
    for page in sagemaker.get_paginator("list_training_jobs").paginate(NameContains=f"{prefix}-", StatusEquals="InProgress"):
        for summary in page["TrainingJobSummaries"]:
            name = summary["TrainingJobName"]
            if not name.startswith(f"{prefix}-") or (now - summary["CreationTime"]).total_seconds() < SWEEP_GRACE_SECONDS:
                continue
            run = run_of_job(sagemaker, table, prefix, name, summary["TrainingJobArn"])
            if run is not None and run["status"] in runs.IN_FLIGHT:
                continue
            sagemaker.stop_training_job(TrainingJobName=name)
            stopped.append(name)
            log.warning("stopped training job %s: no in-flight run owns it", name)
    return stopped
