"""GPU training: the SageMaker execution role (least privilege) and the training recipe the retrain
handler reads (SSM parameter `/<platform>/<team>/<env>/training-recipe`, docs/CONTRACTS.md).

Why a recipe in SSM rather than Lambda environment: the same recipe is read by the retrain handler,
the `rebuild` and `train` commands and humans (`aws ssm get-parameter`), and it changes with the config
without touching the function.

Why one role for training and serving: training jobs and the endpoint's models need the same things —
the team's images, the team's key, the team's artifacts and the SageMaker log groups — and nothing of
any other team. Every statement names the team's own bucket prefixes, repositories or key; the only
`Resource: "*"` statements are actions AWS offers no resource-level permission for (ECR login,
PutMetricData with a namespace condition, and in VPC mode the EC2 Describe calls). See README.md.

Construct ids are Terraform addresses (`training/execution-role`, `training/execution-policy`,
`training/recipe`): keep them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.ssm_parameter import SsmParameter
from constructs import Construct

from contract.layout import DEFINITIONS_KEY
from modules.iam import KEY_USE_WITH_GRANTS, OBJECT_READ, allow, list_prefixes, service_trust_policy, under, unique_sids, use_key, write_objects
from contract.names import TeamContext
from config.recipes import training_recipe
from modules.training.tfjson import jsonencode
from config.ml import TrainingSettings

# Artifacts bucket prefixes (docs/CONTRACTS.md, "Artifacts bucket layout") the role may read and write.
READ_WRITE_PREFIXES = ("models/", "checkpoints/", "data-capture/", "baselines/")
# Read only: data manifests (written by the retrain handler), code bundles (`main.py publish-code`) and
# the feature definitions (written by the stack; the training code reads the model's input order from it).
READ_ONLY_PREFIXES = ("manifests/", "code/")
SAGEMAKER_METRIC_NAMESPACES = ("/aws/sagemaker/TrainingJobs", "/aws/sagemaker/Endpoints")


@dataclass(frozen=True)
class TrainingProps:
    """What the training construct needs from the data lake and the registry (tokens are fine)."""

    context: TeamContext
    settings: TrainingSettings
    kms_key_arn: str
    curated_bucket_name: str
    curated_bucket_arn: str
    artifacts_bucket_name: str
    artifacts_bucket_arn: str
    training_repository_url: str
    inference_repository_url: str
    # The team's ECR repositories (training and inference): the role pulls from these only.
    repository_arns: list[str]
    # The endpoint's auto-rollback alarms: SageMaker reads them with this role during a deployment.
    rollback_alarm_names: tuple[str, ...] = ()


class Training(Construct):
    """SageMaker execution role + policy, and the training recipe parameter."""

    def __init__(self, scope: Construct, id: str, props: TrainingProps):
        super().__init__(scope, id)
        ctx = props.context
        # One execution role for training jobs and the endpoint's models: both read the team's images
        # and artifacts and write to the SageMaker log groups, nothing else.
        self.role = IamRole(
            self,
            "execution-role",
            name=ctx.execution_role_name,
            assume_role_policy=service_trust_policy("sagemaker.amazonaws.com", ctx.account_id),
            description=f"SageMaker training jobs and models of {ctx.prefix}",
        )
        self.policy = IamRolePolicy(
            self,
            "execution-policy",
            name=f"{ctx.prefix}-sagemaker",
            role=self.role.id,
            # json.dumps is enough here: the only tokens are ARNs inside strings, which Terraform
            # interpolates, and nothing in the document needs escaping.
            policy=json.dumps(execution_policy(props)),  # Sids checked unique by execution_policy
        )
        self.recipe = recipe(props, self.role.arn)
        self.recipe_parameter = SsmParameter(
            self,
            "recipe",
            name=ctx.parameter_name("training-recipe"),
            type="String",
            # Terraform writes the JSON (tokens resolved, strings escaped by Terraform): see tfjson.py.
            value=jsonencode(self.recipe),
            description=f"Training recipe of {ctx.prefix} (read by the retrain handler and `main.py rebuild`)",
        )


def recipe(props: TrainingProps, role_arn: str) -> dict[str, Any]:
    """The training recipe (docs/CONTRACTS.md, "Recipes"); tokens inside are resolved by Terraform."""
    return training_recipe(
        props.settings, repository_url=props.training_repository_url,
        inference_repository_url=props.inference_repository_url, artifacts_bucket=props.artifacts_bucket_name,
        definitions_key=DEFINITIONS_KEY,
        curated_bucket=props.curated_bucket_name, kms_key_arn=props.kms_key_arn, role_arn=role_arn,
    )


def execution_policy(props: TrainingProps) -> dict[str, Any]:
    ctx, settings = props.context, props.settings
    curated, artifacts = props.curated_bucket_arn, props.artifacts_bucket_arn
    data_prefix = settings.data_prefix
    readable = READ_WRITE_PREFIXES + READ_ONLY_PREFIXES
    statements: list[dict[str, Any]] = [
        allow("ReadTrainingData", OBJECT_READ, f"{curated}/{data_prefix}*"),
        list_prefixes("ListTrainingData", curated, [data_prefix]),
        allow("ReadArtifacts", OBJECT_READ, under(artifacts, readable) + [f"{artifacts}/{DEFINITIONS_KEY}"]),
        write_objects("WriteArtifacts", artifacts, READ_WRITE_PREFIXES, ["s3:PutObject", "s3:AbortMultipartUpload"]),
        list_prefixes("ListArtifacts", artifacts, readable),
        allow("PullTeamImages", ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
              list(props.repository_arns)),
        # The one allowed exception to "no Resource *": ecr:GetAuthorizationToken has no resource-level
        # permissions, so "*" is the only form AWS accepts. The token alone pulls nothing; the statement
        # above limits pulls to the team's two repositories.
        allow("EcrLogin", "ecr:GetAuthorizationToken", "*"),
        use_key("TeamKey", props.kms_key_arn, KEY_USE_WITH_GRANTS),
        # Only the team's own log streams: its training jobs' streams are named after the job
        # (`<prefix>-<run>/algo-1-...`), its endpoint has its own group.
        allow("SageMakerLogs", ["logs:CreateLogStream", "logs:PutLogEvents", "logs:CreateLogGroup", "logs:DescribeLogStreams"],
              sagemaker_log_resources(ctx)),
        # PutMetricData has no resource-level permissions: Resource "*", scoped by the namespace condition
        # to SageMaker's own training and endpoint namespaces.
        allow("SageMakerMetrics", "cloudwatch:PutMetricData", "*",
              {"StringEquals": {"cloudwatch:namespace": list(SAGEMAKER_METRIC_NAMESPACES)}}),
    ]
    if props.rollback_alarm_names:
        # AWS: the execution role needs DescribeAlarms on the auto-rollback alarms, and on nothing else.
        statements.append(allow("ReadRollbackAlarms", "cloudwatch:DescribeAlarms",
                                [ctx.arn("cloudwatch", f"alarm:{name}") for name in props.rollback_alarm_names]))
    if settings.vpc:
        statements += vpc_statements(ctx, settings)
    unique_sids(statements)
    return {"Version": "2012-10-17", "Statement": statements}


def sagemaker_log_resources(ctx: TeamContext) -> list[str]:
    """The SageMaker log groups and the team's own streams in them (not `/aws/sagemaker/*`)."""
    training, endpoint = "/aws/sagemaker/TrainingJobs", f"/aws/sagemaker/Endpoints/{ctx.endpoint_name}"
    return [
        ctx.arn("logs", f"log-group:{training}"),
        ctx.arn("logs", f"log-group:{training}:log-stream:{ctx.prefix}-*"),
        ctx.arn("logs", f"log-group:{endpoint}"),
        ctx.arn("logs", f"log-group:{endpoint}:log-stream:*"),
    ]


def vpc_statements(ctx: TeamContext, settings: TrainingSettings) -> list[dict[str, Any]]:
    """VPC mode only: SageMaker creates the job's network interfaces in the team's subnets with this role."""
    vpc = settings.vpc
    assert vpc is not None
    eni = ctx.arn("ec2", "network-interface/*")
    return [
        allow("VpcCreateInterfaces", "ec2:CreateNetworkInterface",
              [eni] + [ctx.arn("ec2", f"subnet/{s}") for s in vpc.subnet_ids]
              + [ctx.arn("ec2", f"security-group/{g}") for g in vpc.security_group_ids]),
        allow("VpcManageInterfaces",
              ["ec2:CreateNetworkInterfacePermission", "ec2:DeleteNetworkInterface", "ec2:DeleteNetworkInterfacePermission"], eni),
        # EC2 Describe* calls have no resource-level permissions: "*" is the only form AWS accepts.
        allow("VpcDescribe", ["ec2:DescribeNetworkInterfaces", "ec2:DescribeVpcs", "ec2:DescribeDhcpOptions",
                              "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups"], "*"),
    ]
