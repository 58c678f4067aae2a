"""The whole loop on the emulator, on a stack applied with real Terraform:

first model -> clean traffic (no alarm) -> drifted traffic -> alarm -> retrain (exactly once under
duplicate delivery) -> register -> approve -> deploy -> lineage -> rebuild with identical inputs;
plus foreign and malformed events refused with nothing changed, and a failed job releasing the lock.
The tests run in order and share the deployed stack (module scope), like the demo.
"""
from __future__ import annotations

import datetime as dt
import json

import pytest

from common.events import BadEvent
from emulator import eventbridge
from emulator.loop import LoopDriver
from ops.functions import invoke
from ops.lineage import trace
from ops.training_runs import rebuild, train
from stacks.app import context_for
from stacks.config import load_config, with_emulator_override
from tests.integration.conftest import STACK

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def loop(deployed_stack, emulator, monkeypatch_module):
    emulator.restore(STACK)  # the loop starts from the stack as applied, whatever ran before
    for name, value in emulator.client_env().items():
        monkeypatch_module.setenv(name, value)
    ctx = context_for(with_emulator_override(load_config()), STACK)
    return LoopDriver(ctx)


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture(scope="module")
def state():
    return {}


def lock(loop):
    table = loop.env["RUNS_TABLE"]
    import boto3

    item = boto3.client("dynamodb").get_item(TableName=table, Key={"pk": {"S": "LOCK"}}).get("Item")
    return item and item["run_id"]["S"]


def training_jobs():
    import boto3

    return {j["TrainingJobName"] for j in boto3.client("sagemaker").list_training_jobs(MaxResults=100)["TrainingJobSummaries"]}


def train_to_deployment(loop, job_name):
    produced, deliveries = loop.complete_training(job_name)
    registered = next(d.result for d in deliveries if d.handler == "register")
    assert registered["registered"] and registered["approval_status"] == "PendingManualApproval"  # local: manual approval
    deployed = next(d.result for d in loop.approve(registered["model_package_arn"]) if d.handler == "deploy")
    assert deployed["deployed"] and deployed["updated"]
    return produced, registered, deployed


def test_first_model_is_trained_registered_approved_and_deployed(loop, state):
    loop.upload_training_data(rows=1500)
    first = train(loop.ctx, "first model")
    _, registered, deployed = train_to_deployment(loop, first["training_job_name"])
    assert deployed["model_package_arn"] == registered["model_package_arn"]
    state["first"] = registered["model_package_arn"]
    assert lock(loop) is None  # operator runs do not take the retrain cooldown lock


def test_clean_traffic_stays_under_threshold_and_alarms_stay_ok(loop):
    earlier = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=3)
    loop.send_traffic(400, drifted=False, when=earlier)
    clean = loop.run_check("drift_check", now=earlier)
    assert clean["sample_count"] == 400 and clean["max_psi"] < 0.2
    transitions, deliveries = loop.evaluate_alarms()
    assert not [t for t in transitions if t.state == "ALARM"]
    assert not deliveries


def test_events_of_other_teams_and_malformed_events_change_nothing(loop):
    jobs_before = training_jobs()
    foreign = eventbridge.envelope(
        "aws.cloudwatch", "CloudWatch Alarm State Change",
        {"alarmName": "mlp-recsys-local-drift", "state": {"value": "ALARM"}}, loop.ctx,
    )  # fmt: skip
    assert eventbridge.deliver(loop.ctx, foreign) == []  # the deployed rule does not match it
    with pytest.raises(BadEvent, match="mlp-recsys-local-drift"):
        invoke(loop.ctx, "retrain", foreign)  # and the handler refuses it if invoked directly
    for malformed in ({"detail-type": "CloudWatch Alarm State Change"}, {"source": "mlp.manual"}, ["not", "an", "object"]):
        with pytest.raises(BadEvent):
            invoke(loop.ctx, "retrain", malformed)
    with pytest.raises(BadEvent):
        invoke(loop.ctx, "deploy", {"detail-type": "SageMaker Model Package State Change", "detail": {
            "ModelPackageGroupName": "mlp-recsys-local-models", "ModelApprovalStatus": "Approved",
            "ModelPackageArn": "arn:aws:sagemaker:us-east-1:123456789012:model-package/mlp-recsys-local-models/1"}})
    assert training_jobs() == jobs_before and lock(loop) is None


def test_drift_alarm_retrains_exactly_once_and_deploys(loop, state):
    jobs_before = training_jobs()
    loop.send_traffic(400, drifted=True)
    drifted = loop.run_check("drift_check")
    assert drifted["max_psi"] > 0.2
    transitions, deliveries = loop.evaluate_alarms()
    assert any(t.alarm == loop.ctx.alarm_name("drift") and t.state == "ALARM" for t in transitions)
    started = [d.result for d in deliveries if d.handler == "retrain" and d.result.get("started")]
    assert len(started) == 1
    for _ in range(2):  # at-least-once delivery: duplicates are no-ops
        assert all(not d.result["started"] for d in loop.redeliver_alarm(loop.ctx.alarm_name("drift")))
    assert training_jobs() - jobs_before == {started[0]["training_job_name"]}
    assert lock(loop) == started[0]["run_id"]

    produced, registered, deployed = train_to_deployment(loop, started[0]["training_job_name"])
    assert registered["model_package_arn"] != state["first"]
    state["rows"] = produced["rows"]
    state["second"] = registered["model_package_arn"]
    duplicate = next(d.result for d in loop.package_state_changed(registered["model_package_arn"]) if d.handler == "deploy")
    assert duplicate["updated"] is False  # a duplicate approval event updates nothing


def test_lineage_names_the_deployed_model_and_its_inputs(loop, state):
    lineage = trace(loop.ctx)
    assert lineage.model_package_arn == state["second"]
    assert lineage.manifest_verified and lineage.manifest_objects >= 1
    assert lineage.training_job and lineage.training_job_status == "Completed"
    assert lineage.hyperparameters == json.loads(json.dumps(lineage.hyperparameters))
    state["lineage"] = lineage


def test_rebuild_starts_a_job_with_the_original_inputs(loop, state):
    lineage = state["lineage"]
    loop.upload_training_data(rows=300, seed=99)  # the data changed since: the rebuild must not see it
    rebuilt = rebuild(loop.ctx, lineage.model_package_version)
    assert rebuilt["inputs"] == {
        "manifest_uri": lineage.manifest_uri, "manifest_sha256": lineage.manifest_sha256,
        "image_uri": lineage.training_image, "hyperparameters": lineage.hyperparameters,
        "code_commit": lineage.code_commit,
    }  # fmt: skip
    produced, _ = loop.complete_training(rebuilt["training_job_name"])
    # Read by VersionId from the original manifest: the same rows, not the 300 uploaded since.
    assert produced["rows"] == state["rows"]
