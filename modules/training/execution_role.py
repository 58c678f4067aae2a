"""The SageMaker execution role (least privilege) of a team's training jobs and endpoint models.

Why one role for training and serving: training jobs and the endpoint's models need the same things —
the team's images, the team's key, the team's artifacts and the SageMaker log groups — and nothing of
any other team. Every statement names the team's own bucket prefixes, repositories or key; the only
`Resource: "*"` statements are actions AWS offers no resource-level permission for (ECR login,
PutMetricData with a namespace condition, and in VPC mode the EC2 Describe calls).

`ExecutionRole` creates its two resources in the scope it is given rather than in a construct of its
own: their Terraform addresses (`training/execution-role`, `training/execution-policy`) predate it, and
a construct level of its own would rename (destroy and recreate) the role every deployed endpoint and
job runs as. Serving and the retraining loop take the object, not its ARN.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cdktf_cdktf_provider_aws.ecr_repository import EcrRepository
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket
from constructs import Construct

from config.ml import TrainingSettings
from contract.layout import (
    BASELINES_PREFIX,
    CHECKPOINTS_PREFIX,
    CODE_PREFIX,
    DATA_CAPTURE_PREFIX,
    DEFINITIONS_KEY,
    MANIFESTS_PREFIX,
    MODELS_PREFIX,
)
from contract.names import TeamContext
from modules.iam import (
    IMAGE_PULL,
    KEY_USE_WITH_GRANTS,
    OBJECT_READ,
    OBJECT_WRITE,
    allow,
    list_prefixes,
    service_trust_policy,
    under,
    unique_sids,
    use_key,
    write_objects,
)

# Artifacts bucket prefixes (docs/CONTRACTS.md, "Artifacts bucket layout") the role may read and write.
READ_WRITE_PREFIXES = (MODELS_PREFIX, CHECKPOINTS_PREFIX, DATA_CAPTURE_PREFIX, BASELINES_PREFIX)
# Read only: data manifests (written by the retrain handler), code bundles (`main.py publish-code`) and
# the feature definitions (written by the stack; the training code reads the model's input order from it).
READ_ONLY_PREFIXES = (MANIFESTS_PREFIX, CODE_PREFIX)
SAGEMAKER_METRIC_NAMESPACES = ("/aws/sagemaker/TrainingJobs", "/aws/sagemaker/Endpoints")


@dataclass(frozen=True)
class ExecutionRoleProps:
    context: TeamContext
    settings: TrainingSettings  # the training data prefix and VPC
    key: KmsKey
    curated: S3Bucket
    artifacts: S3Bucket
    # The team's ECR repositories (training and inference): the role pulls from these only.
    repositories: Sequence[EcrRepository]
    # The endpoint's auto-rollback alarms: SageMaker reads them with this role during a deployment.
    rollback_alarm_names: tuple[str, ...] = ()
    # Curated prefix of data promoted from another environment (modules/promotion), or None: a rebuild of
    # a promoted model reads its pinned copies there.
    promoted_data_prefix: str | None = None


class ExecutionRole:
    """The role and its policy, created in `scope` (see the module docstring for why not a construct level)."""

    def __init__(self, scope: Construct, props: ExecutionRoleProps):
        ctx = props.context
        self.role = IamRole(
            scope,
            "execution-role",
            name=ctx.execution_role_name,
            assume_role_policy=service_trust_policy("sagemaker.amazonaws.com", ctx.account_id),
            description=f"SageMaker training jobs and models of {ctx.prefix}",
        )
        self.policy = IamRolePolicy(
            scope,
            "execution-policy",
            name=f"{ctx.prefix}-sagemaker",
            role=self.role.id,
            # json.dumps is enough here: the only tokens are ARNs inside strings, which Terraform
            # interpolates, and nothing in the document needs escaping.
            policy=json.dumps(execution_policy(props)),
        )

    @property
    def arn(self) -> str:
        return self.role.arn


def execution_policy(props: ExecutionRoleProps) -> dict[str, Any]:
    ctx, settings = props.context, props.settings
    curated, artifacts = props.curated.arn, props.artifacts.arn
    data_prefix = settings.data_prefix
    readable = READ_WRITE_PREFIXES + READ_ONLY_PREFIXES
    statements: list[dict[str, Any]] = [
        allow(
            "ReadTrainingData",
            OBJECT_READ,
            under(curated, [data_prefix, props.promoted_data_prefix])
            if props.promoted_data_prefix
            else f"{curated}/{data_prefix}*",
        ),
        list_prefixes("ListTrainingData", curated, [data_prefix]),
        allow("ReadArtifacts", OBJECT_READ, under(artifacts, readable) + [f"{artifacts}/{DEFINITIONS_KEY}"]),
        write_objects("WriteArtifacts", artifacts, READ_WRITE_PREFIXES, OBJECT_WRITE),
        list_prefixes("ListArtifacts", artifacts, readable),
        allow("PullTeamImages", IMAGE_PULL, [repository.arn for repository in props.repositories]),
        # The one allowed exception to "no Resource *": ecr:GetAuthorizationToken has no resource-level
        # permissions, so "*" is the only form AWS accepts. The token alone pulls nothing; the statement
        # above limits pulls to the team's two repositories.
        allow("EcrLogin", "ecr:GetAuthorizationToken", "*"),
        use_key("TeamKey", props.key.arn, KEY_USE_WITH_GRANTS),
        # Only the team's own log streams: its training jobs' streams are named after the job
        # (`<prefix>-<run>/algo-1-...`), its endpoint has its own group.
        allow(
            "SageMakerLogs",
            ["logs:CreateLogStream", "logs:PutLogEvents", "logs:CreateLogGroup", "logs:DescribeLogStreams"],
            sagemaker_log_resources(ctx),
        ),
        # PutMetricData has no resource-level permissions: Resource "*", scoped by the namespace condition
        # to SageMaker's own training and endpoint namespaces.
        allow(
            "SageMakerMetrics",
            "cloudwatch:PutMetricData",
            "*",
            {"StringEquals": {"cloudwatch:namespace": list(SAGEMAKER_METRIC_NAMESPACES)}},
        ),
    ]
    if props.rollback_alarm_names:
        # AWS: the execution role needs DescribeAlarms on the auto-rollback alarms, and on nothing else.
        statements.append(
            allow(
                "ReadRollbackAlarms",
                "cloudwatch:DescribeAlarms",
                [ctx.arn("cloudwatch", f"alarm:{name}") for name in props.rollback_alarm_names],
            )
        )
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
        allow(
            "VpcCreateInterfaces",
            "ec2:CreateNetworkInterface",
            [eni]
            + [ctx.arn("ec2", f"subnet/{s}") for s in vpc.subnet_ids]
            + [ctx.arn("ec2", f"security-group/{g}") for g in vpc.security_group_ids],
        ),
        allow(
            "VpcManageInterfaces",
            ["ec2:CreateNetworkInterfacePermission", "ec2:DeleteNetworkInterface", "ec2:DeleteNetworkInterfacePermission"],
            eni,
        ),
        # EC2 Describe* calls have no resource-level permissions: "*" is the only form AWS accepts.
        allow(
            "VpcDescribe",
            [
                "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeVpcs",
                "ec2:DescribeDhcpOptions",
                "ec2:DescribeSubnets",
                "ec2:DescribeSecurityGroups",
            ],
            "*",
        ),
    ]
