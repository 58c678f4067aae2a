"""Synth assertions for GPU training (modules/training) and GPU serving (modules/serving).

The example config (platform.yaml) is synthesized once per session (`stacks` fixture); a modified copy
(linear / all-at-once deployments, an EBS-only GPU type, a VPC, awkward hyperparameters) is synthesized
once per module into tmp_path.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess

import pytest
import yaml

from config.ml import CPU_INSTANCE_TYPES, GPU_INSTANCE_TYPES, DeploymentSettings, has_instance_storage
from config.platform import DEFAULT_CONFIG_FILE, parse_config
from config.recipes import deployment_config
from tests.synth import synth

ROLLBACK_KINDS = ("latency-p99", "errors-5xx", "model-errors")
TRAINING_RECIPE_KEYS = {
    "image_uri",
    "instance_type",
    "instance_count",
    "volume_size_gb",
    "max_runtime_seconds",
    "spot",
    "checkpoint_s3_uri",
    "output_s3_uri",
    "kms_key_arn",
    "volume_kms_key_arn",
    "role_arn",
    "hyperparameters",
    "vpc",
    "network_isolation",
    "training_data",
    "inference_image_uri",
    "definitions_s3_uri",
    "data_policy",
    "data_gate",
    "approval",  # the learning loop (config.recipes.learning_recipe)
}  # (docs/CONTRACTS.md, "Recipes")
SERVING_RECIPE_KEYS = {
    "endpoint_name",
    "autoscaling",
    "instance_type",
    "initial_instance_count",
    "variant_name",
    "execution_role_arn",
    "kms_key_arn",
    "volume_kms_key_arn",
    "network_isolation",
    "data_capture",
    "deployment_config",
}
TRICKY_HYPERPARAMETERS = {
    "layers": '["dense","dense"]',
    "path": "C:\\data\\x",
    "template": "${not_a_reference} %{ if x }",
    "multi": "line1\nline2\ttab",
}
VPC = {"subnet_ids": ["subnet-0123456789abcdef0"], "security_group_ids": ["sg-0123456789abcdef0"]}


# --- helpers -------------------------------------------------------------------------------------------


def tf_json(value: str):
    """The document a `${jsonencode({...})}` expression (as cdktf writes it) evaluates to, with Terraform
    references kept as `${address}` strings. Handles exactly what cdktf emits: quoted strings, `=`,
    bare references, numbers, true/false/null, braces and brackets."""
    assert value.startswith("${jsonencode(") and value.endswith(")}"), value[:80]
    body = value[len("${jsonencode(") : -2]
    out = []
    for m in re.finditer(r'"(?:[^"\\]|\\.)*"|[A-Za-z_][\w.\-]*|=|[^"A-Za-z_=]+', body):
        token = m.group()
        if token.startswith('"'):
            out.append(token.replace("$${", "${").replace("%%{", "%{"))
        elif token == "=":
            out.append(":")
        elif re.fullmatch(r"[A-Za-z_][\w.\-]*", token):
            out.append(token if token in ("true", "false", "null") else json.dumps("${" + token + "}"))
        else:
            out.append(token)
    return json.loads("".join(out))


def ref(stack, path: str, attribute: str) -> str:
    """`${aws_type.unique_id.attribute}` of the resource at a construct path."""
    for resource_type, resources in stack.document["resource"].items():
        for unique_id, body in resources.items():
            if body["//"]["metadata"]["path"].split("/", 1)[1] == path:
                return "${" + f"{resource_type}.{unique_id}.{attribute}" + "}"
    raise KeyError(path)


def recipe(stack, which: str) -> dict:
    return tf_json(stack.by_path(f"{which}/recipe")["value"])


def team_of(config, stack_name: str):
    return next(t for t in config.teams if t.name == stack_name.split("-")[0])


def prefix(name: str) -> str:
    return f"mlp-{name}"


def execution_policy(stack) -> list[dict]:
    return json.loads(stack.by_path("training/execution-policy")["policy"])["Statement"]


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


@pytest.fixture(scope="module")
def variant_config():
    data = yaml.safe_load(DEFAULT_CONFIG_FILE.read_text())
    fraud, recsys = (t["settings"] for t in data["teams"])
    fraud["serving"].update(instance_type="ml.p3.2xlarge", data_capture_percent=25)
    fraud["serving"]["deployment"] = {"strategy": "linear", "linear_step_percent": 20, "wait_minutes": 3}
    fraud["training"].update(vpc=copy.deepcopy(VPC), hyperparameters=TRICKY_HYPERPARAMETERS, spot=False)
    recsys["serving"]["deployment"] = {"strategy": "all_at_once", "wait_minutes": 0, "termination_wait_minutes": 0}
    recsys["serving"].update(
        min_instances=2,
        initial_instance_count=2,
        max_instances=8,
        target_invocations_per_instance=750,
        scale_in_cooldown_seconds=600,
    )
    return parse_config(data)


@pytest.fixture(scope="module")
def variants(variant_config, tmp_path_factory):
    return synth(variant_config, tmp_path_factory.mktemp("variants"), ["fraud-dev", "recsys-dev"])


# --- serving: no endpoint before a model; the recipe the deploy handler creates it from ------------


def test_no_endpoint_model_or_scaling_before_an_approved_model(stacks):
    """A fresh account gets no GPU endpoint: nothing to serve yet, and nothing a first apply could start
    (no image, no model data). The deploy handler creates the endpoint from the recipe."""
    for name, stack in stacks.items():
        for resource_type in (
            "aws_sagemaker_endpoint",
            "aws_sagemaker_endpoint_configuration",
            "aws_sagemaker_model",
            "aws_appautoscaling_target",
            "aws_appautoscaling_policy",
        ):
            assert not stack.resources(resource_type), f"{name}: {resource_type}"
        assert recipe(stack, "serving")["endpoint_name"] == prefix(name)


def test_recipe_variant_from_config(stacks, example_config):
    for name, stack in stacks.items():
        serving, document = team_of(example_config, name).settings.serving, recipe(stack, "serving")
        assert document["instance_type"] == serving.instance_type and document["instance_type"].startswith(("ml.g", "ml.p"))
        assert document["initial_instance_count"] == serving.initial_instance_count
    assert recipe(stacks["fraud-dev"], "serving")["instance_type"] == "ml.g5.xlarge"
    assert recipe(stacks["recsys-dev"], "serving")["instance_type"] == "ml.g6.2xlarge"


def test_volume_key_only_where_sagemaker_accepts_one(stacks, variants):
    # g5/g6 carry NVMe instance storage (hardware-encrypted): SageMaker refuses a KmsKeyId for them.
    for stack in stacks.values():
        assert recipe(stack, "serving")["volume_kms_key_arn"] is None
    # ml.p3 is EBS-only: its volume is encrypted with the team key.
    stack = variants["fraud-dev"]
    assert recipe(stack, "serving")["volume_kms_key_arn"] == ref(stack, "data-lake/key", "arn")


def test_instance_storage_families():
    assert has_instance_storage("ml.g5.xlarge") and has_instance_storage("ml.p4d.24xlarge")
    assert has_instance_storage("ml.g4dn.xlarge") and has_instance_storage("ml.p5.48xlarge")
    assert not has_instance_storage("ml.p3.2xlarge") and not has_instance_storage("ml.m5.xlarge")
    assert not any(has_instance_storage(t) for t in CPU_INSTANCE_TYPES)  # none of the allowed CPU types has one
    assert {t for t in GPU_INSTANCE_TYPES if not has_instance_storage(t)} == {"ml.p3.2xlarge", "ml.p3.8xlarge", "ml.p3.16xlarge"}


def test_data_capture_percent_from_config(stacks, example_config, variants):
    for name, stack in stacks.items():
        capture = recipe(stack, "serving")["data_capture"]
        assert capture["percent"] == team_of(example_config, name).settings.serving.data_capture_percent
    assert recipe(variants["fraud-dev"], "serving")["data_capture"]["percent"] == 25


def test_teardown_runs_at_destroy_before_what_the_endpoint_uses(stacks):
    """`cdktf destroy` removes what the deploy handler created: a destroy-time provisioner on
    `serving/teardown`, which depends on the recipe (so it is destroyed before the role, key and alarms)."""
    for name, stack in stacks.items():
        teardown = stack.by_path("serving/teardown")
        team, env = name.split("-")
        assert teardown["input"] == {"endpoint_name": prefix(name), "team": team, "environment": env, "region": "us-east-1"}
        (provisioner,) = [p["local-exec"] for p in teardown["provisioner"]]
        assert provisioner["when"] == "destroy" and provisioner["interpreter"][1:] == ["-m", "ops.endpoint_teardown"]
        assert provisioner["command"] == "${self.input.endpoint_name}"
        assert provisioner["environment"]["MLP_TEAM"] == "${self.input.team}"
        recipe_address = ref(stack, "serving/recipe", "x")[2:-1].rsplit(".", 1)[0]
        assert recipe_address in teardown["depends_on"]


# --- serving: blue/green, rollback --------------------------------------------------------------------


def test_canary_blue_green(stacks):
    policy = recipe(stacks["fraud-dev"], "serving")["deployment_config"]["BlueGreenUpdatePolicy"]
    assert policy["TrafficRoutingConfiguration"] == {
        "Type": "CANARY",
        "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
        "WaitIntervalInSeconds": 600,
    }
    assert policy["TerminationWaitInSeconds"] == 300
    assert policy["MaximumExecutionTimeoutInSeconds"] == 7200


def test_linear_blue_green(stacks, variants):
    routing = recipe(stacks["recsys-dev"], "serving")["deployment_config"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing == {
        "Type": "LINEAR",
        "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 25},
        "WaitIntervalInSeconds": 300,
    }
    routing = recipe(variants["fraud-dev"], "serving")["deployment_config"]["BlueGreenUpdatePolicy"][
        "TrafficRoutingConfiguration"
    ]
    assert routing == {
        "Type": "LINEAR",
        "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 20},
        "WaitIntervalInSeconds": 180,
    }


def test_all_at_once_blue_green(variants):
    policy = recipe(variants["recsys-dev"], "serving")["deployment_config"]["BlueGreenUpdatePolicy"]
    assert policy["TrafficRoutingConfiguration"] == {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}
    assert policy["TerminationWaitInSeconds"] == 0


def test_auto_rollback_on_the_teams_alarms(stacks):
    for name, stack in stacks.items():
        alarms = recipe(stack, "serving")["deployment_config"]["AutoRollbackConfiguration"]["Alarms"]
        assert [a["AlarmName"] for a in alarms] == [f"{prefix(name)}-{kind}" for kind in ROLLBACK_KINDS]
        # The alarms exist in the same stack, and the recipe waits for them (SageMaker checks they exist
        # when the handler creates the endpoint).
        defined = {body["alarm_name"]: key for key, body in stack.resources("aws_cloudwatch_metric_alarm").items()}
        depends_on = stack.by_path("serving/recipe")["depends_on"]
        for alarm in alarms:
            assert f"aws_cloudwatch_metric_alarm.{defined[alarm['AlarmName']]}" in depends_on


@pytest.mark.parametrize(
    ("strategy", "extra"),
    [
        ("canary", {"CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 15}}),
        ("linear", {"LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 30}}),
        ("all_at_once", {}),
    ],
)
def test_deployment_config_api_shape(strategy, extra):
    settings = DeploymentSettings(
        strategy=strategy,
        canary_percent=15,
        linear_step_percent=30,
        wait_minutes=2,
        termination_wait_minutes=1,
        maximum_execution_timeout_minutes=30,
    )
    assert deployment_config(settings, ["a", "b"]) == {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {"Type": strategy.upper(), "WaitIntervalInSeconds": 120, **extra},
            "TerminationWaitInSeconds": 60,
            "MaximumExecutionTimeoutInSeconds": 1800,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "a"}, {"AlarmName": "b"}]},
    }


# --- serving: autoscaling (registered by the deploy handler from the recipe) ---------------------------


def test_autoscaling_in_recipe(stacks, example_config, variants, variant_config):
    cases = [(name, stack, team_of(example_config, name).settings.serving) for name, stack in stacks.items()]
    cases.append(("recsys-dev", variants["recsys-dev"], team_of(variant_config, "recsys-dev").settings.serving))
    for name, stack, serving in cases:
        assert recipe(stack, "serving")["autoscaling"] == {
            "min_capacity": serving.min_instances,
            "max_capacity": serving.max_instances,
            "policy_name": f"{prefix(name)}-invocations-per-instance",
            "target_invocations_per_instance": serving.target_invocations_per_instance,
            "scale_in_cooldown_seconds": serving.scale_in_cooldown_seconds,
            "scale_out_cooldown_seconds": serving.scale_out_cooldown_seconds,
        }
    scaling = recipe(variants["recsys-dev"], "serving")["autoscaling"]
    assert (scaling["min_capacity"], scaling["max_capacity"], scaling["target_invocations_per_instance"]) == (2, 8, 750)
    assert recipe(stacks["fraud-dev"], "serving")["autoscaling"]["max_capacity"] == 4


# --- recipes ------------------------------------------------------------------------------------------


def test_recipe_parameters_named_by_contract(stacks):
    for name, stack in stacks.items():
        team, env = name.split("-")
        for which in ("training", "serving"):
            parameter = stack.by_path(f"{which}/recipe")
            assert parameter["name"] == f"/mlp/{team}/{env}/{which}-recipe"
            assert parameter["type"] == "String"
            assert parameter["value"].startswith("${jsonencode(")  # Terraform writes the JSON


def test_training_recipe_matches_contract(stacks, example_config):
    for name, stack in stacks.items():
        training = team_of(example_config, name).settings.training
        document = recipe(stack, "training")
        assert set(document) == TRAINING_RECIPE_KEYS
        # GPU types with instance storage take no volume key (SageMaker refuses one); p3 is EBS-only.
        assert (
            document["volume_kms_key_arn"] is None
            if has_instance_storage(document["instance_type"])
            else document["volume_kms_key_arn"]
        )
        artifacts = ref(stack, "data-lake/artifacts", "bucket")
        assert document["image_uri"] == f"{ref(stack, 'registry/training', 'repository_url')}:latest"
        assert document["instance_type"] == training.instance_type and document["instance_type"] in GPU_INSTANCE_TYPES
        assert document["instance_count"] == training.instance_count
        assert document["volume_size_gb"] == training.volume_size_gb
        assert document["max_runtime_seconds"] == training.max_runtime_hours * 3600
        assert document["spot"] == {"enabled": True, "max_wait_seconds": training.max_wait_hours * 3600}
        assert document["spot"]["max_wait_seconds"] >= document["max_runtime_seconds"]
        assert document["checkpoint_s3_uri"] == f"s3://{artifacts}/checkpoints"
        assert document["output_s3_uri"] == f"s3://{artifacts}/models"
        assert document["kms_key_arn"] == ref(stack, "data-lake/key", "arn")  # output and volume encryption
        assert document["role_arn"] == ref(stack, "training/execution-role", "arn")
        assert document["hyperparameters"] == training.hyperparameters
        assert document["vpc"] is None and document["network_isolation"] is False
        settings = team_of(example_config, name).settings
        assert document["data_policy"] == settings.retraining.training_data.model_dump()
        assert document["data_gate"] == settings.retraining.data_gate.model_dump()
        assert document["approval"]["metric"] == settings.monitoring.metric
        assert document["approval"]["threshold"] == settings.monitoring.quality_threshold
        # Registered models are served with the inference image, not the training image.
        assert document["inference_image_uri"] == f"{ref(stack, 'registry/inference', 'repository_url')}:latest"
        assert document["definitions_s3_uri"] == f"s3://{artifacts}/features/definitions.json"
        assert document["training_data"] == {"bucket": ref(stack, "data-lake/curated", "bucket"), "prefix": "training/"}
    fraud, recsys = recipe(stacks["fraud-dev"], "training"), recipe(stacks["recsys-dev"], "training")
    assert fraud["instance_type"] == "ml.g5.2xlarge" and fraud["hyperparameters"] == {"epochs": "20", "learning_rate": "0.05"}
    assert "code_commit" not in fraud  # the code is pinned by its bundle when a run starts, never typed
    assert recsys["instance_type"] == "ml.p4d.24xlarge"
    assert recsys["max_runtime_seconds"] == 12 * 3600 and recsys["spot"]["max_wait_seconds"] == 36 * 3600


def test_training_recipe_vpc_no_spot_and_awkward_hyperparameters(variants):
    document = recipe(variants["fraud-dev"], "training")
    assert document["vpc"] == VPC
    assert document["spot"] == {"enabled": False, "max_wait_seconds": None}
    assert document["hyperparameters"] == TRICKY_HYPERPARAMETERS


def test_serving_recipe_matches_contract(stacks, example_config):
    for name, stack in stacks.items():
        serving = team_of(example_config, name).settings.serving
        document = recipe(stack, "serving")
        assert set(document) == SERVING_RECIPE_KEYS
        assert document["instance_type"] == serving.instance_type and document["instance_type"] in GPU_INSTANCE_TYPES
        assert document["initial_instance_count"] == serving.initial_instance_count
        assert document["variant_name"] == "primary"
        assert document["execution_role_arn"] == ref(stack, "training/execution-role", "arn")
        assert document["kms_key_arn"] == ref(stack, "data-lake/key", "arn")
        assert document["network_isolation"] is True
        assert document["data_capture"] == {
            "percent": serving.data_capture_percent,
            "destination_s3_uri": f"s3://{ref(stack, 'data-lake/artifacts', 'bucket')}/data-capture",
        }
        alarms = document["deployment_config"]["AutoRollbackConfiguration"]["Alarms"]
        assert alarms == [{"AlarmName": f"{prefix(name)}-{kind}"} for kind in ROLLBACK_KINDS]


@pytest.mark.skipif(shutil.which("terraform") is None, reason="needs the terraform binary")
def test_terraform_renders_the_recipe_json_exactly(tmp_path):
    """Real Terraform evaluates modules.training.tfjson.jsonencode over a document with a reference, None,
    quotes, backslashes, `${`, `%{` and control characters, and gives back the same document."""
    from cdktf import App, LocalBackend, TerraformLocal, TerraformOutput, TerraformStack

    import modules  # noqa: F401
    from modules.training.tfjson import jsonencode

    app = App(outdir=str(tmp_path / "out"))
    stack = TerraformStack(app, "tfjson")
    LocalBackend(stack, path=str(tmp_path / "terraform.tfstate"))  # not cdktf's default (the current directory)
    bucket = TerraformLocal(stack, "bucket", "team-bucket")
    document = {
        "uri": f"s3://{bucket.as_string}/models",
        "n": 5,
        "none": None,
        "flag": False,
        "hyperparameters": TRICKY_HYPERPARAMETERS,
        "list": [1, 'a"b'],
        "empty": {},
    }
    TerraformOutput(stack, "document", value=jsonencode(document))
    app.synth()
    workdir = tmp_path / "out" / "stacks" / "tfjson"
    env = {
        "PATH": shutil.os.environ["PATH"],
        "TF_IN_AUTOMATION": "1",
        "CHECKPOINT_DISABLE": "1",
        "TF_CLI_CONFIG_FILE": "/dev/null",
        "HOME": str(tmp_path),
    }
    for args in (["init", "-input=false"], ["apply", "-auto-approve", "-input=false"]):
        run = subprocess.run(["terraform", *args, "-no-color"], cwd=workdir, env=env, capture_output=True, text=True)
        assert run.returncode == 0, run.stdout + run.stderr
    output = subprocess.run(["terraform", "output", "-raw", "document"], cwd=workdir, env=env, capture_output=True, text=True)
    assert json.loads(output.stdout) == {**document, "uri": "s3://team-bucket/models"}


# --- training: execution role -------------------------------------------------------------------------


def test_execution_role_trusts_sagemaker_of_this_account_only(stacks, example_config):
    for name, stack in stacks.items():
        role = stack.by_path("training/execution-role")
        assert role["name"] == f"{prefix(name)}-sagemaker"
        (statement,) = json.loads(role["assume_role_policy"])["Statement"]
        assert statement["Principal"] == {"Service": "sagemaker.amazonaws.com"}
        assert statement["Action"] == "sts:AssumeRole"
        account = example_config.environment(name.split("-")[1]).account_id
        assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": account}}
        assert "managed_policy_arns" not in role
        attached = [
            a for a in stack.resources("aws_iam_role_policy_attachment").values() if "training_execution-role" in a["role"]
        ]
        assert attached == []


def test_execution_policy_has_no_wildcard_actions(stacks, variants):
    for stack in [*stacks.values(), *variants.values()]:
        for statement in execution_policy(stack):
            assert statement["Effect"] == "Allow"
            assert "NotAction" not in statement and "NotResource" not in statement
            for action in as_list(statement["Action"]):
                assert "*" not in action, action
            assert not any(action.endswith("FullAccess") for action in as_list(statement["Action"]))


def test_every_resource_is_the_teams_own(stacks, variants):
    """Resource "*" only where AWS has no resource-level permission: ecr:GetAuthorizationToken,
    cloudwatch:PutMetricData (with a namespace condition) and, in VPC mode, EC2 Describe calls."""
    for name, stack in [*stacks.items(), *(("vpc " + n, s) for n, s in variants.items())]:
        team_env = name.split()[-1]
        curated, artifacts = ref(stack, "data-lake/curated", "arn"), ref(stack, "data-lake/artifacts", "arn")
        own = [
            curated,
            artifacts,
            ref(stack, "data-lake/key", "arn"),
            ref(stack, "registry/training", "arn"),
            ref(stack, "registry/inference", "arn"),
        ]
        provider = stack.document["provider"]["aws"][0]
        account = provider.get("allowed_account_ids", [provider.get("access_key")])[0]  # the emulator's key names its account
        for statement in execution_policy(stack):
            actions = as_list(statement["Action"])
            for resource in as_list(statement["Resource"]):
                if resource == "*":
                    assert actions in (["ecr:GetAuthorizationToken"], ["cloudwatch:PutMetricData"]) or all(
                        a.startswith("ec2:Describe") for a in actions
                    ), statement
                    continue
                prefix_ = f"mlp-{team_env}"
                if resource.startswith("arn:aws:logs:"):  # the SageMaker groups, the team's own streams
                    groups = f"arn:aws:logs:us-east-1:{account}:log-group:/aws/sagemaker/"
                    assert resource in (
                        f"{groups}TrainingJobs",
                        f"{groups}TrainingJobs:log-stream:{prefix_}-*",
                        f"{groups}Endpoints/{prefix_}",
                        f"{groups}Endpoints/{prefix_}:log-stream:*",
                    ), resource
                elif resource.startswith("arn:aws:cloudwatch:"):  # the endpoint's rollback alarms
                    assert resource.startswith(f"arn:aws:cloudwatch:us-east-1:{account}:alarm:{prefix_}-"), resource
                elif resource.startswith("arn:aws:ec2:"):
                    assert resource.startswith(f"arn:aws:ec2:us-east-1:{account}:"), resource
                    assert resource.split(":", 5)[5] in (
                        "network-interface/*",
                        *(f"subnet/{s}" for s in VPC["subnet_ids"]),
                        *(f"security-group/{g}" for g in VPC["security_group_ids"]),
                    )
                else:
                    assert any(resource == r or resource.startswith(r + "/") for r in own), (team_env, resource)


def test_s3_access_is_scoped_to_prefixes(stacks):
    stack = stacks["fraud-dev"]
    by_sid = {s["Sid"]: s for s in execution_policy(stack)}
    curated, artifacts = ref(stack, "data-lake/curated", "arn"), ref(stack, "data-lake/artifacts", "arn")
    assert by_sid["ReadTrainingData"]["Action"] == ["s3:GetObject", "s3:GetObjectVersion"]
    assert by_sid["ReadTrainingData"]["Resource"] == f"{curated}/training/*"
    assert by_sid["ListTrainingData"] == {
        "Sid": "ListTrainingData",
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": curated,
        "Condition": {"StringLike": {"s3:prefix": ["training/*"]}},
    }
    rw = {"models", "checkpoints", "data-capture", "baselines"}
    written = {r.removeprefix(f"{artifacts}/").removesuffix("/*") for r in by_sid["WriteArtifacts"]["Resource"]}
    assert written == rw  # manifests and code bundles are read only
    read = {r.removeprefix(f"{artifacts}/").removesuffix("/*") for r in by_sid["ReadArtifacts"]["Resource"]}
    assert read == rw | {"manifests", "code", "features/definitions.json"}
    assert by_sid["ListArtifacts"]["Resource"] == artifacts
    assert set(by_sid["ListArtifacts"]["Condition"]["StringLike"]["s3:prefix"]) == {f"{p}/*" for p in rw | {"manifests", "code"}}
    s3_actions = {a for s in execution_policy(stack) for a in as_list(s["Action"]) if a.startswith("s3:")}
    assert s3_actions == {"s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "s3:PutObject", "s3:AbortMultipartUpload"}


def test_ecr_kms_logs_and_metrics_statements(stacks, example_config):
    for name, stack in stacks.items():
        account = example_config.environment(name.split("-")[1]).account_id
        by_sid = {s["Sid"]: s for s in execution_policy(stack)}
        assert sorted(by_sid["PullTeamImages"]["Resource"]) == sorted(
            [ref(stack, "registry/training", "arn"), ref(stack, "registry/inference", "arn")]
        )
        assert by_sid["EcrLogin"]["Action"] == "ecr:GetAuthorizationToken"
        assert set(by_sid["TeamKey"]["Action"]) == {
            "kms:Decrypt",
            "kms:GenerateDataKey",
            "kms:Encrypt",
            "kms:CreateGrant",
            "kms:DescribeKey",
        }
        assert by_sid["TeamKey"]["Resource"] == ref(stack, "data-lake/key", "arn")
        assert set(by_sid["SageMakerLogs"]["Action"]) == {
            "logs:CreateLogStream",
            "logs:PutLogEvents",
            "logs:CreateLogGroup",
            "logs:DescribeLogStreams",
        }
        # The team's own streams only, never /aws/sagemaker/* (another team's jobs and endpoints).
        p, logs = prefix(name), f"arn:aws:logs:us-east-1:{account}:log-group:/aws/sagemaker"
        assert by_sid["SageMakerLogs"]["Resource"] == [
            f"{logs}/TrainingJobs",
            f"{logs}/TrainingJobs:log-stream:{p}-*",
            f"{logs}/Endpoints/{p}",
            f"{logs}/Endpoints/{p}:log-stream:*",
        ]
        # AWS: auto-rollback needs DescribeAlarms on the rollback alarms for the execution role; exactly them.
        assert by_sid["ReadRollbackAlarms"] == {
            "Sid": "ReadRollbackAlarms",
            "Effect": "Allow",
            "Action": "cloudwatch:DescribeAlarms",
            "Resource": [f"arn:aws:cloudwatch:us-east-1:{account}:alarm:{p}-{k}" for k in ROLLBACK_KINDS],
        }
        metrics = by_sid["SageMakerMetrics"]
        assert metrics["Action"] == "cloudwatch:PutMetricData" and metrics["Resource"] == "*"
        assert metrics["Condition"] == {
            "StringEquals": {"cloudwatch:namespace": ["/aws/sagemaker/TrainingJobs", "/aws/sagemaker/Endpoints"]}
        }


def test_vpc_network_interface_actions_only_with_a_vpc(stacks, variants):
    for stack in [*stacks.values(), variants["recsys-dev"]]:
        assert not any(a.startswith("ec2:") for s in execution_policy(stack) for a in as_list(s["Action"]))
    by_sid = {s["Sid"]: s for s in execution_policy(variants["fraud-dev"])}
    create = by_sid["VpcCreateInterfaces"]
    assert create["Action"] == "ec2:CreateNetworkInterface"
    assert "arn:aws:ec2:us-east-1:111111111111:subnet/subnet-0123456789abcdef0" in create["Resource"]
    assert "arn:aws:ec2:us-east-1:111111111111:security-group/sg-0123456789abcdef0" in create["Resource"]
    assert by_sid["VpcManageInterfaces"]["Resource"] == "arn:aws:ec2:us-east-1:111111111111:network-interface/*"


# --- stack wiring -------------------------------------------------------------------------------------


def test_outputs_and_construct_addresses(stacks):
    for stack in stacks.values():
        outputs = stack.document["output"]
        assert outputs["endpoint"]["value"] == recipe(stack, "serving")["endpoint_name"]
        assert outputs["training-recipe-parameter"]["value"] == ref(stack, "training/recipe", "name")
        assert outputs["serving-recipe-parameter"]["value"] == ref(stack, "serving/recipe", "name")
        assert {
            "training/execution-role",
            "training/execution-policy",
            "training/recipe",
            "serving/recipe",
            "serving/teardown",
        } <= stack.addresses()


def test_hcl_converter_helper():
    """The converter used above is faithful on what cdktf writes (guards the test helper itself)."""
    assert tf_json('${jsonencode({"a" = [1, true, null], "b" = aws_x.y-z_1.arn, "c" = "x$${y}%%{z}\\"q"})}') == {
        "a": [1, True, None],
        "b": "${aws_x.y-z_1.arn}",
        "c": 'x${y}%{z}"q',
    }
