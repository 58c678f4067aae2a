"""GPU serving: the serving recipe the deploy handler reads (`/<platform>/<team>/<env>/serving-recipe`)
and a destroy-time teardown of what that handler creates. No endpoint exists before an approved model.

Who owns the endpoint: the deploy handler (common/endpoint.py). On a fresh account there is
no model to serve, so Terraform creates no endpoint, model or endpoint config (a bootstrap model would
need an image and model data that the same apply cannot provide, and its GPU instance would bill with
nothing to serve). The first approved model package makes the handler create the endpoint (data
capture, blue/green with auto-rollback, from this recipe); its `SageMaker Endpoint State Change`
(InService) makes the handler register autoscaling and write the pointer; later approvals update the endpoint. So
`terraform plan` never fights the handler, and config changes reach the next deploy through the recipe.

`cdktf destroy` still removes what the handler created: `serving/teardown` (a `terraform_data`) runs
`python -m ops.endpoint_teardown` when it is destroyed, before the recipe, role, key, bucket and alarms
it depends on go (autoscaling, endpoint, the handler's endpoint configs and models, by their names).

Why no volume KMS key on GPU endpoints: every GPU family we allow except ml.p3 has NVMe instance
storage, encrypted by a hardware module on the instance, and SageMaker refuses an endpoint config with
`KmsKeyId` for such instance types ("If you specify a value for KmsKeyId when using any nitro-based
instances with local storage, the call to CreateEndpointConfig fails"). The recipe names the key for
EBS-only types (ml.p3, the CPU types); data capture is always encrypted with the team key.

Construct ids are Terraform addresses (`serving/recipe`, `serving/teardown`): keep them.
See README.md beside this file.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from cdktf import LocalExecProvisioner, TerraformResource
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket
from cdktf_cdktf_provider_aws.ssm_parameter import SsmParameter
from constructs import Construct

from config.ml import DeploymentSettings, ServingSettings, has_instance_storage
from contract.layout import DATA_CAPTURE_PREFIX, VARIANT
from contract.names import TeamContext
from modules.training.execution_role import ExecutionRole
from modules.training.tfjson import jsonencode

ROOT = Path(__file__).resolve().parents[2]  # where `python -m ops.endpoint_teardown` runs


@dataclass(frozen=True)
class ServingProps:
    """What serving needs: the SageMaker execution role, the team key, the artifacts bucket (data
    capture) and the names of the alarms that roll a deployment back."""

    context: TeamContext
    settings: ServingSettings
    execution_role: ExecutionRole
    key: KmsKey
    artifacts: S3Bucket
    rollback_alarm_names: list[str]
    # Resources the recipe waits for: SageMaker checks that the rollback alarms exist when the handler
    # creates the endpoint, so the stack passes the monitoring construct's alarms here.
    depends_on: list = field(default_factory=list)


def deployment_config(settings: DeploymentSettings, rollback_alarm_names: list[str]) -> dict:
    """Blue/green policy in the SageMaker API's own shape: the deploy handler passes it to UpdateEndpoint
    and CreateEndpoint unchanged."""
    routing: dict = {
        "Type": {"canary": "CANARY", "linear": "LINEAR", "all_at_once": "ALL_AT_ONCE"}[settings.strategy],
        "WaitIntervalInSeconds": settings.wait_minutes * 60,
    }
    if settings.strategy == "canary":
        routing["CanarySize"] = {"Type": "CAPACITY_PERCENT", "Value": settings.canary_percent}
    elif settings.strategy == "linear":
        routing["LinearStepSize"] = {"Type": "CAPACITY_PERCENT", "Value": settings.linear_step_percent}
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": routing,
            "TerminationWaitInSeconds": settings.termination_wait_minutes * 60,
            "MaximumExecutionTimeoutInSeconds": settings.maximum_execution_timeout_minutes * 60,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": name} for name in rollback_alarm_names]},
    }


class Serving(Construct):
    """The serving recipe (endpoint, variant, capture, deployment policy, autoscaling) and its teardown."""

    def __init__(self, scope: Construct, id: str, props: ServingProps):
        super().__init__(scope, id)
        ctx, settings = props.context, props.settings
        capture_uri = f"s3://{props.artifacts.bucket}/{DATA_CAPTURE_PREFIX.rstrip('/')}"
        self.endpoint_name = ctx.endpoint_name
        self.deployment = deployment_config(settings.deployment, props.rollback_alarm_names)
        self.recipe = {
            "endpoint_name": ctx.endpoint_name,
            "instance_type": settings.instance_type,
            "initial_instance_count": settings.initial_instance_count,
            "variant_name": VARIANT,
            "execution_role_arn": props.execution_role.arn,
            "kms_key_arn": props.key.arn,
            # The endpoint config's (volume) key: none for types with instance storage, which SageMaker refuses.
            "volume_kms_key_arn": None if has_instance_storage(settings.instance_type) else props.key.arn,
            "network_isolation": settings.network_isolation,
            "data_capture": {"percent": settings.data_capture_percent, "destination_s3_uri": capture_uri},
            "deployment_config": self.deployment,
            # Registered by the deploy handler once the endpoint is InService (Application Auto Scaling
            # addresses the variant by name, which every config the handler creates keeps).
            "autoscaling": {
                "min_capacity": settings.min_instances,
                "max_capacity": settings.max_instances,
                "policy_name": f"{ctx.prefix}-invocations-per-instance",
                "target_invocations_per_instance": settings.target_invocations_per_instance,
                "scale_in_cooldown_seconds": settings.scale_in_cooldown_seconds,
                "scale_out_cooldown_seconds": settings.scale_out_cooldown_seconds,
            },
        }
        self.recipe_parameter = SsmParameter(
            self,
            "recipe",
            name=ctx.parameter_name("serving-recipe"),
            type="String",
            # Terraform writes the JSON (tokens resolved, strings escaped by Terraform): see tfjson.py.
            value=jsonencode(self.recipe),
            description=f"Serving recipe of {ctx.prefix} (read by the deploy handler)",
            # The handler creates the endpoint from this recipe, and SageMaker checks that the rollback
            # alarms exist when it does: the recipe appears only once they do.
            depends_on=props.depends_on or None,
        )
        self.teardown = endpoint_teardown(self, "teardown", ctx, [self.recipe_parameter])


def endpoint_teardown(scope: Construct, id: str, ctx: TeamContext, depends_on: list) -> TerraformResource:
    """A `terraform_data` whose destroy runs `python -m ops.endpoint_teardown` with the deployer's own
    credentials (those Terraform runs with). It depends on the recipe, which depends on the execution
    role, key, bucket and alarms, so Terraform destroys it first: the endpoint goes before what it uses.
    The Python that synthesized the stack runs it, from this repository (a destroy-time provisioner may
    refer only to its own resource, hence everything through `self.input`)."""
    teardown = TerraformResource(
        scope,
        id,
        terraform_resource_type="terraform_data",
        depends_on=depends_on,
        provisioners=[
            LocalExecProvisioner(
                type="local-exec",
                when="destroy",
                interpreter=[sys.executable, "-m", "ops.endpoint_teardown"],
                command="${self.input.endpoint_name}",
                working_dir=str(ROOT),
                environment={
                    "MLP_TEAM": "${self.input.team}",
                    "MLP_ENVIRONMENT": "${self.input.environment}",
                    "AWS_REGION": "${self.input.region}",
                    "AWS_DEFAULT_REGION": "${self.input.region}",
                },
            )
        ],
    )
    teardown.add_override(
        "input", {"endpoint_name": ctx.endpoint_name, "team": ctx.team, "environment": ctx.environment, "region": ctx.region}
    )
    return teardown
