"""The AWS limits validation knows (config/aws_limits.py) hold where AWS applies them.

- The longest names validation accepts synthesize into names within AWS's limits, per resource type.
- The region list is the pinned provider's: every region occurs in its binary.
- Schedule expressions: what EventBridge accepts passes, what it refuses gets a reason.
- The recipe size estimate is Terraform's jsonencode size.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from config.aws_limits import AWS_REGIONS, schedule_problem, terraform_jsonencode_size
from config.features import MAX_SET_NAME
from config.platform import MAX_PREFIX, parse_config, resource_prefix
from tests.config_cases import example
from tests.synth import synth

# (resource type, name attribute) -> AWS's maximum length
NAME_LIMITS = {
    ("aws_s3_bucket", "bucket"): 63,
    ("aws_iam_role", "name"): 64,
    ("aws_iam_role_policy", "name"): 128,
    ("aws_lambda_function", "function_name"): 64,
    ("aws_cloudwatch_metric_alarm", "alarm_name"): 255,
    ("aws_cloudwatch_composite_alarm", "alarm_name"): 255,
    ("aws_sagemaker_feature_group", "feature_group_name"): 64,
    ("aws_sagemaker_model_package_group", "model_package_group_name"): 63,
    ("aws_sagemaker_endpoint", "name"): 63,
    ("aws_sagemaker_endpoint_configuration", "name"): 63,
    ("aws_sagemaker_model", "name"): 63,
    ("aws_sqs_queue", "name"): 80,
    ("aws_sns_topic", "name"): 256,
    ("aws_cloudwatch_event_rule", "name"): 64,
    ("aws_dynamodb_table", "name"): 255,
    ("aws_ecr_repository", "name"): 256,
    ("aws_budgets_budget", "name"): 100,
    ("aws_ssm_parameter", "name"): 2048,
    ("aws_kms_alias", "name"): 256,
    ("aws_cloudwatch_log_group", "name"): 512,
    ("aws_appautoscaling_policy", "name"): 255,
}


def test_longest_valid_names_fit_aws_limits(tmp_path):
    data = example()
    data["platform"]["name"] = "p" * 20
    team = data["teams"][0]
    team["name"] = "t" * (MAX_PREFIX - len(resource_prefix("p" * 20, "", "local")))
    team["environments"] = ["local"]
    team.pop("promotions")  # its other environments are gone
    data["teams"] = [team]
    settings = team["settings"]
    settings["registry"] = {"model_package_groups": ["g" * 20, "models"]}
    feature_set = settings["features"]["feature_sets"][0]
    feature_set["name"] = "s" * MAX_SET_NAME
    long_names = [("f" * 63) + str(i) for i in range(3)]
    feature_set["features"] += [{"name": n, "type": "Fractional"} for n in long_names]
    settings["features"]["model_inputs"].update(feature_set=feature_set["name"], features=long_names)
    settings["monitoring"].pop("feature_thresholds")
    config = parse_config(data)
    assert len(resource_prefix(config.platform.name, config.teams[0].name, "local")) == MAX_PREFIX
    stack = next(iter(synth(config, tmp_path).values()))
    checked = 0
    for (kind, attribute), limit in NAME_LIMITS.items():
        for address, body in stack.resources(kind).items():
            name = body.get(attribute)
            if isinstance(name, str) and "${" not in name:
                checked += 1
                assert len(name) <= limit, f"{kind}.{address}: {attribute} {name!r} is {len(name)} > {limit}"
    assert checked >= 40


def test_regions_are_the_pinned_providers():
    mirror = os.environ.get("MLP_TF_PROVIDER_MIRROR")
    if not mirror:
        pytest.fail("MLP_TF_PROVIDER_MIRROR is not set (source scripts/setup.sh)")
    binaries = list(Path(mirror).glob("registry.terraform.io/hashicorp/aws/5.100.0/*/terraform-provider-aws*"))
    assert binaries, f"no hashicorp/aws 5.100.0 in {mirror}"
    content = binaries[0].read_bytes()
    missing = sorted(r for r in AWS_REGIONS if r.encode() not in content)
    assert missing == []
    assert b"us-gov-west-1" in content  # known to the provider, refused here (other partition)
    assert "us-gov-west-1" not in AWS_REGIONS


@pytest.mark.parametrize(
    "expression",
    [
        "rate(1 minute)",
        "rate(5 minutes)",
        "rate(1 hour)",
        "rate(12 hours)",
        "rate(1 day)",
        "rate(7 days)",
        "cron(0 12 * * ? *)",
        "cron(0/15 * ? * MON-FRI *)",
        "cron(0 8 1 * ? *)",
        "cron(0 18 ? * MON#1 *)",
        "cron(0 10 L * ? *)",
        "cron(15 10 ? * 6L 2022-2030)",
        "cron(0 9 ? JAN,JUL SUN *)",
        "cron(5,35 14 * * ? *)",
        "cron(0 0 15W * ? *)",
    ],
)
def test_schedules_eventbridge_accepts(expression):
    assert schedule_problem(expression) is None


@pytest.mark.parametrize(
    "expression,reason",
    [
        ("rate(0 minutes)", "at least 1"),
        ("rate(1 hours)", "singular"),
        ("rate(5 minute)", "singular"),
        ("rate(1 week)", "neither"),
        ("rate(-1 days)", "neither"),
        ("cron(0 12 * * ?)", "6 fields"),
        ("cron(0 12 * * * *)", "'?'"),
        ("cron(0 12 ? * ? *)", "'?'"),
        ("cron(60 * * * ? *)", "minutes"),
        ("cron(0 24 * * ? *)", "hours"),
        ("cron(0 0 32 * ? *)", "day-of-month"),
        ("cron(0 0 ? 13 MON *)", "month"),
        ("cron(0 0 ? * FUNDAY *)", "day-of-week"),
        ("cron(0 0 1 * ? 1969)", "year"),
        ("cron(0/0 * * * ? *)", "step"),
        ("cron(0  12 * * ? *)", "6 fields"),
        ("every hour", "neither"),
    ],
)
def test_schedules_eventbridge_refuses(expression, reason):
    problem = schedule_problem(expression)
    assert problem is not None and reason in problem


@pytest.mark.parametrize(
    "value,size",
    [
        ({"b": 1, "a": "x"}, len('{"a":"x","b":1}')),
        ({"k": "<a&b>"}, len('{"k":"\\u003ca\\u0026b\\u003e"}')),
        ({"k": "é"}, len('{"k":"é"}'.encode())),
        ({"k": "\u2028"}, len('{"k":"\\u2028"}')),
        ({"k": None, "l": [True, 1.5]}, len('{"k":null,"l":[true,1.5]}')),
    ],
)
def test_recipe_size_is_terraforms_jsonencode_size(value, size):
    assert terraform_jsonencode_size(value) == size


def test_recipe_size_matches_terraform_console(tmp_path):
    """The estimate against Terraform itself, on a recipe-like value with characters Go's encoder escapes."""
    import json
    import subprocess

    from modules.training.tfjson import _hcl_string

    value = {"hyperparameters": {"a": "<x & y>", "b": 'é\u2028"q"\\', "c": "%{ not a directive }"}, "n": 3, "z": None}

    def hcl(v):
        if isinstance(v, dict):
            return "{" + ", ".join(f'"{_hcl_string(k)}" = {hcl(x)}' for k, x in v.items()) + "}"
        return "null" if v is None else f'"{_hcl_string(v)}"' if isinstance(v, str) else json.dumps(v)

    result = subprocess.run(
        ["terraform", "console"],
        input=f"jsonencode({hcl(value)})\n",
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TF_CLI_CONFIG_FILE": os.devnull},
    )
    rendered = json.loads(result.stdout.strip().splitlines()[0])  # console prints the string as a JSON string
    assert rendered == json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).replace(
        "<", "\\u003c"
    ).replace(">", "\\u003e").replace("&", "\\u0026").replace("\u2028", "\\u2028")
    assert terraform_jsonencode_size(value) == len(rendered.encode("utf-8"))
