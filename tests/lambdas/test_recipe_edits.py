"""A hand-edited recipe parameter (docs/CONTRACTS.md, "Recipes"): each handler that reads it refuses it
with one RecipeError naming the parameter and every bad field, before any side effect."""

from __future__ import annotations

import json

import pytest

from contract.recipes import RecipeError
from lambdas.deploy.handler import handler as deploy
from lambdas.register.handler import handler as register
from lambdas.retrain.handler import handler as retrain
from tests.lambdas.mlp_aws import aws_env, package_event, training_job_event  # noqa: F401  (fixture)

MANUAL = {"source": "mlp.manual", "reason": "test", "requested_by": "ci"}
DATA = "transaction_id,amount,merchant_category,is_fraud\nt0-659,10,grocery,0\nt1-1,90,travel,1\n"


def edit(env, which: str, change) -> None:
    """What a person does with `aws ssm put-parameter --overwrite`: the document, changed."""
    name = env.env[f"{which.upper()}_RECIPE_PARAMETER"]
    ssm = env.client("ssm")
    document = json.loads(ssm.get_parameter(Name=name)["Parameter"]["Value"])
    change(document)
    ssm.put_parameter(Name=name, Value=json.dumps(document), Type="String", Overwrite=True)


def refused(env, call, parameter: str, *named: str) -> None:
    before = env.snapshot()
    with pytest.raises(RecipeError) as raised:
        call()
    message = str(raised.value)
    assert message.startswith(f"SSM parameter {parameter} holds a malformed"), message
    for name in named:
        assert name in message, message
    after = env.snapshot()
    after["parameters"] = before["parameters"]  # (the edit itself)
    assert after == before


def test_retrain_refuses_a_hand_edited_training_recipe(aws_env):
    aws_env.put_training_data("training/a.csv", DATA)

    def change(document):
        del document["data_gate"]
        document["spot"]["max_wait_seconds"] = "2d"

    edit(aws_env, "training", change)
    refused(
        aws_env,
        lambda: retrain(MANUAL, None),
        "/mlp/fraud/dev/training-recipe",
        "data_gate: missing",
        'spot.max_wait_seconds: expected a whole number >= 0, got a string "2d"',
    )


def test_register_refuses_it_before_writing_the_baseline_or_the_package(aws_env):
    aws_env.put_training_data("training/a.csv", DATA)
    run = retrain(MANUAL, None)
    edit(aws_env, "training", lambda document: document["approval"].update(threshold="high"))
    refused(
        aws_env,
        lambda: register(training_job_event(run["training_job_name"]), None),
        "/mlp/fraud/dev/training-recipe",
        'approval.threshold: expected a finite number, got a string "high"',
    )


def test_deploy_refuses_a_hand_edited_serving_recipe(aws_env, monkeypatch):
    monkeypatch.setenv("AUTO_APPROVE", "true")
    aws_env.put_training_data("training/a.csv", DATA)
    run = retrain(MANUAL, None)
    registered = register(training_job_event(run["training_job_name"]), None)
    assert registered["approval_status"] == "Approved"

    def change(document):
        document["autoscaling"]["min_capacity"] = -1
        document["data_capture"] = "all"
        document["instance_typ"] = "ml.g5.xlarge"

    edit(aws_env, "serving", change)
    refused(
        aws_env,
        lambda: deploy(package_event(registered["model_package_arn"]), None),
        "/mlp/fraud/dev/serving-recipe",
        "instance_typ: unknown field",
        'data_capture: expected an object, got a string "all"',
        "autoscaling.min_capacity: expected a whole number >= 0, got an integer -1",
    )
