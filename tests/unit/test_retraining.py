"""Synth assertions for the retraining loop wiring and the Lambda packaging."""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import zipfile

import pytest

from contract.handlers import HANDLER_NAMES as HANDLERS
from modules.functions.packaging import build_package, package_files


@pytest.mark.parametrize("handler", HANDLERS)
def test_package_holds_handler_and_common_only(handler, tmp_path):
    names = [name for name, _ in package_files(handler)]
    assert "handler.py" in names
    assert any(name.startswith("common/") for name in names) and "contract/events.py" in names
    assert not any("test" in name or "__pycache__" in name for name in names)
    with zipfile.ZipFile(build_package(handler, build_dir=tmp_path)) as archive:
        assert sorted(archive.namelist()) == sorted(names)
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_package_is_deterministic_and_changes_with_code(tmp_path):
    first = build_package("deploy", build_dir=tmp_path / "a").read_bytes()
    second = build_package("deploy", build_dir=tmp_path / "b").read_bytes()
    assert first == second
    root = tmp_path / "repo"
    for folder in ("lambdas/deploy", "common", "contract"):
        (root / folder).mkdir(parents=True)
    (root / "lambdas" / "deploy" / "handler.py").write_text("def handler(event, context):\n    return 1\n")
    (root / "common" / "__init__.py").write_text("")
    one = build_package("deploy", root=root, build_dir=tmp_path / "c")
    (root / "lambdas" / "deploy" / "handler.py").write_text("def handler(event, context):\n    return 2\n")
    two = build_package("deploy", root=root, build_dir=tmp_path / "c")
    assert one.name != two.name and one.read_bytes() != two.read_bytes()


def test_missing_handler_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no Lambda handler"):
        package_files("nope")


def functions(stack):
    return {f["function_name"]: f for f in stack.resources("aws_lambda_function").values()}


def test_every_handler_is_deployed_with_dlq_encrypted_env_and_logs(stacks):
    stack = stacks["fraud-dev"]
    deployed = functions(stack)
    assert set(deployed) == {f"mlp-fraud-dev-{h.replace('_', '-')}" for h in HANDLERS}
    for function in deployed.values():
        assert function["runtime"] == "python3.11" and function["handler"] == "handler.handler"
        assert "aws_sqs_queue" in function["dead_letter_config"]["target_arn"]
        assert "aws_kms_key.data-lake_key" in function["kms_key_arn"]
        env = function["environment"]["variables"]
        assert env["PREFIX"] == "mlp-fraud-dev" and env["METRIC_NAMESPACE"] == "MLPlatform/mlp-fraud-dev"
        assert env["RETRAIN_ALARM_ARNS"] == ",".join(
            f"arn:aws:cloudwatch:us-east-1:111111111111:alarm:mlp-fraud-dev-{k}" for k in ("drift", "quality")
        )
        assert env["WATCH_RULE_ARN"] == "arn:aws:events:us-east-1:111111111111:rule/mlp-fraud-dev-retrain-watch"
        assert env["AUTO_APPROVE"] == "true"  # dev auto-approves in platform.yaml
    for group in stack.resources("aws_cloudwatch_log_group").values():
        assert group["retention_in_days"] == 365 and group["kms_key_id"]
    for queue in stack.resources("aws_sqs_queue").values():
        assert queue["kms_master_key_id"]
    assert functions(stacks["fraud-prod"])["mlp-fraud-prod-retrain"]["environment"]["variables"]["AUTO_APPROVE"] == "false"


def test_code_is_delivered_as_a_kms_encrypted_s3_object_keyed_by_its_hash(stacks):
    stack = stacks["fraud-dev"]
    objects = stack.resources("aws_s3_object")
    for handler in HANDLERS:
        function = functions(stack)[f"mlp-fraud-dev-{handler.replace('_', '-')}"]
        name = function["s3_key"].removeprefix("${aws_s3_object.").removesuffix(".key}")
        code = objects[name]
        assert "filename" not in function and function["s3_bucket"] == f"${{aws_s3_object.{name}.bucket}}"
        assert "aws_s3_bucket.data-lake_artifacts" in code["bucket"]
        assert code["server_side_encryption"] == "aws:kms" and "aws_kms_key.data-lake_key" in code["kms_key_id"]
        package = (stack.directory / code["source"]).read_bytes()
        digest = hashlib.sha256(package).digest()
        assert code["key"] == f"lambda-code/{handler}/{digest.hex()}.zip"
        assert function["source_code_hash"] == base64.b64encode(digest).decode()  # Lambda's CodeSha256


def rules(stack):
    return {r["name"]: r for r in stack.resources("aws_cloudwatch_event_rule").values()}


def test_events_close_the_loop(stacks):
    stack = stacks["fraud-dev"]
    by_name = rules(stack)
    alarm = json.loads(by_name["mlp-fraud-dev-retrain-on-alarm"]["event_pattern"])
    assert alarm["detail-type"] == ["CloudWatch Alarm State Change"]
    assert alarm["detail"]["state"]["value"] == ["ALARM"]
    assert sorted(alarm["detail"]["alarmName"]) == ["mlp-fraud-dev-drift", "mlp-fraud-dev-quality"]
    training = json.loads(by_name["mlp-fraud-dev-training-state"]["event_pattern"])
    assert training["detail"]["TrainingJobName"] == [{"prefix": "mlp-fraud-dev-"}]
    approved = json.loads(by_name["mlp-fraud-dev-package-approved"]["event_pattern"])
    assert approved["detail"] == {"ModelPackageGroupName": ["mlp-fraud-dev-models"], "ModelApprovalStatus": ["Approved"]}
    assert by_name["mlp-fraud-dev-drift-schedule"]["schedule_expression"] == "rate(1 hour)"
    # A retrain alarm that stays in ALARM sends no second event: the watch re-examines it every hour.
    assert by_name["mlp-fraud-dev-retrain-watch"]["schedule_expression"] == "rate(1 hour)"
    targets = {t["rule"]: t for t in stack.resources("aws_cloudwatch_event_target").values()}
    assert len(targets) == len(by_name)
    permissions = stack.resources("aws_lambda_permission").values()
    # Every rule's, and the alert topic's delivery of budget notices to the deploy function (modules/off_hours).
    assert {p["principal"] for p in permissions} == {"events.amazonaws.com", "sns.amazonaws.com"}
    assert len([p for p in permissions if p["principal"] == "events.amazonaws.com"]) == len(by_name)
    (sns,) = [p for p in permissions if p["principal"] == "sns.amazonaws.com"]
    assert sns["function_name"].startswith("${aws_lambda_function.retraining_deploy_function")


def test_runs_table_encrypted_with_recovery_and_protected_in_real_envs(stacks):
    table = stacks["fraud-prod"].only("aws_dynamodb_table")
    assert table["name"] == "mlp-fraud-prod-runs" and table["hash_key"] == "pk"
    assert table["server_side_encryption"]["enabled"] is True and table["server_side_encryption"]["kms_key_arn"]
    assert table["point_in_time_recovery"]["enabled"] is True
    assert table["deletion_protection_enabled"] is True
    assert stacks["fraud-local"].only("aws_dynamodb_table")["deletion_protection_enabled"] is False


def statements_of(stack, handler):
    return json.loads(stack.by_path(f"retraining/{handler.replace('_', '-')}/policy")["policy"])["Statement"]


def as_list(value):
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("handler", HANDLERS)
def test_handler_policies_have_no_wildcards_and_stay_in_team(stacks, handler):
    for statement in statements_of(stacks["fraud-dev"], handler):
        assert statement["Effect"] == "Allow"
        assert all("*" not in action for action in as_list(statement["Action"])), statement
        for resource in as_list(statement["Resource"]):
            if resource == "*" and statement["Action"] == "cloudwatch:PutMetricData":  # no resource-level permissions
                # the team's own namespace only
                assert statement["Condition"] == {"StringEquals": {"cloudwatch:namespace": "MLPlatform/mlp-fraud-dev"}}
            elif resource == "*" and statement["Action"] == "sagemaker:ListTrainingJobs":  # no resource-level permissions
                assert "Condition" not in statement or statement["Condition"]
            elif resource == "*":  # a scalable target has no ARN before it exists: the team's tags scope it
                assert statement["Action"] in (
                    "application-autoscaling:RegisterScalableTarget",
                    "application-autoscaling:PutScalingPolicy",
                    "application-autoscaling:DeregisterScalableTarget",
                )
                (condition,) = statement["Condition"].values()
                assert sorted(condition.values()) == ["dev", "fraud"], statement
            elif statement["Action"] == "iam:CreateServiceLinkedRole":  # the account's one autoscaling role
                assert resource.endswith("/AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint")
                assert statement["Condition"] == {
                    "StringLike": {"iam:AWSServiceName": "sagemaker.application-autoscaling.amazonaws.com"}
                }
            else:
                assert "mlp-fraud-dev" in resource or "/mlp/fraud/dev/" in resource or resource.startswith("${"), resource
                assert "recsys" not in resource


def test_only_the_loop_handlers_may_pass_the_training_role(stacks):
    for handler in HANDLERS:
        passes = [s for s in statements_of(stacks["fraud-dev"], handler) if s["Action"] == "iam:PassRole"]
        if handler in ("retrain", "deploy"):
            assert passes and passes[0]["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
        else:
            assert not passes


def test_no_role_of_the_stack_can_overwrite_function_code(stacks):
    """The code objects are written by the deployer only: no handler or training role may put or delete
    under lambda-code/ (a role that could would change what the next deploy ships)."""
    code_object = "lambda-code/retrain/0123abcd.zip"
    for stack in stacks.values():
        for policy in stack.resources("aws_iam_role_policy").values():
            for statement in json.loads(policy["policy"])["Statement"]:
                actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
                resources = [statement["Resource"]] if isinstance(statement["Resource"], str) else statement["Resource"]
                writes = [a for a in actions if fnmatch.fnmatch("s3:PutObject", a) or fnmatch.fnmatch("s3:DeleteObject", a)]
                on_code = [
                    r
                    for r in resources
                    if "data-lake_artifacts.arn}" in r and fnmatch.fnmatch(code_object, r.split(".arn}", 1)[1].lstrip("/") or "-")
                ]
                assert statement["Effect"] == "Deny" or not (writes and on_code), (stack.name, policy["name"], statement)
