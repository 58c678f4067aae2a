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

from config.ml import ServingSettings
from config.recipes import serving_recipe
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


class Serving(Construct):
    """The serving recipe (endpoint, variant, capture, deployment policy, autoscaling) and its teardown."""

    def __init__(self, scope: Construct, id: str, props: ServingProps):
        super().__init__(scope, id)
        ctx, settings = props.context, props.settings
        self.endpoint_name = ctx.endpoint_name
        self.recipe = serving_recipe(
            settings,
            endpoint_name=ctx.endpoint_name,
            prefix=ctx.prefix,
            role_arn=props.execution_role.arn,
            kms_key_arn=props.key.arn,
            artifacts_bucket=props.artifacts.bucket,
            rollback_alarm_names=props.rollback_alarm_names,
        )
        self.recipe_parameter = SsmParameter(
            self,
            "recipe",
            name=ctx.parameter_name("serving-recipe"),
            type="String",
            # Terraform writes the JSON (tokens resolved, strings escaped by Terraform): see tfjson.py.
            value=jsonencode(self.recipe.to_document()),
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
