"""The champion/challenger gate: common.approval's decision, and register applying it from AWS state
(the run's champion channel, the job's evaluation.json, the recipe's policy, AUTO_APPROVE)."""

from __future__ import annotations

import json

import pytest

from common import runs
from common.approval import APPROVED, PENDING, REJECTED, decide
from contract.recipes import Approval
from lambdas.register.handler import handler as register
from lambdas.retrain.handler import handler as retrain
from tests.lambdas import mlp_aws
from tests.lambdas.mlp_aws import TABLE, aws_env, training_job_event  # noqa: F401

POLICY = Approval(metric="AUC", threshold=0.7, lower_is_better=False, min_improvement=0.02)
RMSE = Approval(metric="RMSE", threshold=1.5, lower_is_better=True, min_improvement=0.1)
MANUAL = {"source": "mlp.manual", "reason": "test", "requested_by": "ci"}


def evaluation(value, champion=None, metric="AUC"):
    document = {"metric": metric, "value": value, "metrics": {metric: value}}
    if champion is not None:
        document["champion"] = (
            champion if isinstance(champion, dict) else {"metric": metric, "value": champion, "metrics": {metric: champion}}
        )
    return document


@pytest.mark.parametrize(
    "evaluation_, policy, auto, had_champion, expected",
    [
        (evaluation(0.8), POLICY, True, False, APPROVED),  # first model: the threshold alone
        (evaluation(0.8), POLICY, False, False, PENDING),  # ... where the environment approves by hand
        (evaluation(0.6), POLICY, True, False, REJECTED),  # below the threshold
        (evaluation(0.6, 0.5), POLICY, True, True, REJECTED),  # below it even if better than the champion
        (evaluation(0.9, 0.8), POLICY, True, True, APPROVED),  # beats the champion by the margin
        (evaluation(0.81, 0.8), POLICY, True, True, PENDING),  # better, but not by the margin
        (evaluation(0.75, 0.8), POLICY, True, True, PENDING),  # worse than the champion
        (evaluation(0.9, 0.8), POLICY, False, True, PENDING),  # beats it, but approval is manual here
        (evaluation(0.9), POLICY, True, True, PENDING),  # the run had a champion its evaluation does not score
        (evaluation(0.9, {"error": "ValueError: 5 inputs"}), POLICY, True, True, PENDING),
        (evaluation(1.0, 1.2, "RMSE"), RMSE, True, True, APPROVED),  # lower is better
        (evaluation(1.15, 1.2, "RMSE"), RMSE, True, True, PENDING),
        (evaluation(1.6, None, "RMSE"), RMSE, True, False, REJECTED),
        ({"metric": "AUC", "value": float("nan")}, POLICY, True, False, PENDING),  # no finite score: a reviewer decides
    ],
)
def test_decision(evaluation_, policy, auto, had_champion, expected):
    decision = decide(evaluation_, policy, auto, had_champion)
    assert decision.status == expected, decision.reason


def _register_second_run(env, monkeypatch, champion_value, auto_approve=True):
    """A first model, deployed (the pointer names it), then a second run that gets it as its champion."""
    monkeypatch.setenv("AUTO_APPROVE", "true" if auto_approve else "false")
    env.put_training_data("training/a.csv", "transaction_id,amount,merchant_category,is_fraud\na,1,grocery,0\nb,90,travel,1\n")
    first = retrain(MANUAL, None)
    registered = register(training_job_event(first["training_job_name"]), None)
    assert registered["decision"]["status"] == ("Approved" if auto_approve else "PendingManualApproval")
    env.client("ssm").put_parameter(
        Name=env.env["DEPLOYED_MODEL_PARAMETER"],
        Type="String",
        Overwrite=True,
        Value=json.dumps({"model_package_arn": registered["model_package_arn"], "run_id": first["run_id"]}),
    )
    runs.release_lock(TABLE, first["run_id"])  # past the cooldown
    monkeypatch.setattr(mlp_aws, "CHAMPION_SCORE", {"metric": "AUC", "value": champion_value, "metrics": {"AUC": champion_value}})
    second = retrain(MANUAL, None)
    job = env.client("sagemaker").describe_training_job(TrainingJobName=second["training_job_name"])
    champion_channel = [c for c in job["InputDataConfig"] if c["ChannelName"] == "champion"]
    package = env.client("sagemaker").describe_model_package(ModelPackageName=registered["model_package_arn"])
    assert (
        champion_channel[0]["DataSource"]["S3DataSource"]["S3Uri"]
        == package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    )
    assert runs.get_run(TABLE, second["run_id"])["champion_package_arn"] == registered["model_package_arn"]
    return register(training_job_event(second["training_job_name"]), None)


def test_a_challenger_that_beats_the_champion_is_approved_with_both_metrics_attached(aws_env, monkeypatch):
    result = _register_second_run(aws_env, monkeypatch, champion_value=0.8)
    assert result["approval_status"] == "Approved"
    package = aws_env.client("sagemaker").describe_model_package(ModelPackageName=result["model_package_arn"])
    assert "challenger AUC 0.8750 vs champion 0.8000" in package["ModelPackageDescription"]
    assert package["CustomerMetadataProperties"]["champion_value"] == "0.8"
    uri = package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
    bucket, key = uri[5:].split("/", 1)
    metrics = json.loads(aws_env.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    assert (metrics["challenger"]["value"], metrics["champion"]["value"], metrics["decision"]) == (0.875, 0.8, "Approved")


def test_a_challenger_worse_than_the_champion_waits_for_a_reviewer(aws_env, monkeypatch):
    result = _register_second_run(aws_env, monkeypatch, champion_value=0.9)
    assert result["approval_status"] == "PendingManualApproval"
    package = aws_env.client("sagemaker").describe_model_package(ModelPackageName=result["model_package_arn"])
    assert (
        "does not beat the champion" in package["ModelPackageDescription"]
        and "vs champion 0.9000" in package["ModelPackageDescription"]
    )


def test_a_model_below_the_threshold_is_rejected(aws_env, monkeypatch):
    monkeypatch.setattr(mlp_aws, "EVALUATION", {**mlp_aws.EVALUATION, "value": 0.55})
    aws_env.put_training_data(
        "training/a.csv", "transaction_id,amount,merchant_category,is_fraud\na,1,grocery,0\nb,90,travel,1\n"
    )
    monkeypatch.setenv("AUTO_APPROVE", "true")
    started = retrain(MANUAL, None)
    result = register(training_job_event(started["training_job_name"]), None)
    assert result["approval_status"] == "Rejected" and "below the quality threshold 0.7" in result["decision"]["reason"]
