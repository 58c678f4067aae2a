"""GPU training: the SageMaker execution role (least privilege) and the training recipe the retrain
handler reads (SSM parameter `/<platform>/<team>/<env>/training-recipe`, docs/CONTRACTS.md).

Why a recipe in SSM rather than Lambda environment: the same recipe is read by the retrain handler,
the `rebuild` and `train` commands and humans (`aws ssm get-parameter`), and it changes with the config
without touching the function.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.ssm_parameter import SsmParameter
from constructs import Construct

from modules.naming import TeamContext
from stacks.config_ml import TrainingSettings


@dataclass(frozen=True)
class TrainingProps:
    context: TeamContext
    settings: TrainingSettings
    kms_key_arn: str
    curated_bucket_name: str
    curated_bucket_arn: str
    artifacts_bucket_name: str
    artifacts_bucket_arn: str
    training_repository_url: str
    repository_arns: list[str]


class Training(Construct):
    def __init__(self, scope: Construct, id: str, props: TrainingProps):
        super().__init__(scope, id)
        ctx, settings = props.context, props.settings
        # One execution role for training jobs and the endpoint's models: both read the team's images
        # and artifacts and write to the team's log groups, nothing else.
        self.role = IamRole(
            self,
            "execution-role",
            name=f"{ctx.prefix}-sagemaker",
            assume_role_policy=json.dumps({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": ctx.account_id}},
            }]}),
        )  # fmt: skip
        IamRolePolicy(self, "execution-policy", name=f"{ctx.prefix}-sagemaker", role=self.role.id,
                      policy=json.dumps(execution_policy(props)))  # fmt: skip
        self.recipe = recipe(props, self.role.arn)
        self.recipe_parameter = SsmParameter(
            self,
            "recipe",
            name=ctx.parameter_name("training-recipe"),
            type="String",
            value=json.dumps(self.recipe, sort_keys=True),
            description=f"Training recipe of {ctx.prefix} (read by the retrain handler and `main.py rebuild`)",
        )


def recipe(props: TrainingProps, role_arn: str) -> dict:
    """The training recipe (docs/CONTRACTS.md); Terraform tokens inside it resolve at synth time."""
    settings = props.settings
    artifacts = f"s3://{props.artifacts_bucket_name}"
    return {
        "image_uri": settings.image.uri(props.training_repository_url),
        "instance_type": settings.instance_type,
        "instance_count": settings.instance_count,
        "volume_size_gb": settings.volume_size_gb,
        "max_runtime_seconds": settings.max_runtime_hours * 3600,
        "spot": {"enabled": settings.spot, "max_wait_seconds": settings.max_wait_hours * 3600 if settings.spot else None},
        "checkpoint_s3_uri": f"{artifacts}/checkpoints",
        "output_s3_uri": f"{artifacts}/models",
        "kms_key_arn": props.kms_key_arn,
        "role_arn": role_arn,
        "hyperparameters": dict(settings.hyperparameters),
        "vpc": settings.vpc.model_dump() if settings.vpc else None,
        "network_isolation": settings.network_isolation,
        "code_commit": settings.code_commit,
        "training_data": {"bucket": props.curated_bucket_name, "prefix": settings.data_prefix},
    }


def execution_policy(props: TrainingProps) -> dict:
    ctx = props.context
    artifacts = props.artifacts_bucket_arn
    statements = [
        {"Sid": "ReadTrainingData", "Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectVersion"],
         "Resource": f"{props.curated_bucket_arn}/{props.settings.data_prefix}*"},
        {"Sid": "ListTrainingData", "Effect": "Allow", "Action": ["s3:ListBucket", "s3:ListBucketVersions"],
         "Resource": props.curated_bucket_arn, "Condition": {"StringLike": {"s3:prefix": [f"{props.settings.data_prefix}*"]}}},
        {"Sid": "ReadManifestsBaselinesModels", "Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectVersion"],
         "Resource": [f"{artifacts}/manifests/*", f"{artifacts}/models/*", f"{artifacts}/checkpoints/*", f"{artifacts}/features/*"]},
        {"Sid": "WriteModelsCheckpointsCapture", "Effect": "Allow", "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
         "Resource": [f"{artifacts}/models/*", f"{artifacts}/checkpoints/*", f"{artifacts}/data-capture/*"]},
        {"Sid": "ListArtifacts", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": artifacts,
         "Condition": {"StringLike": {"s3:prefix": ["models/*", "checkpoints/*", "data-capture/*"]}}},
        {"Sid": "PullTeamImages", "Effect": "Allow",
         "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
         "Resource": props.repository_arns},
        # GetAuthorizationToken has no resource-level permissions: Resource "*" is the only form AWS accepts.
        {"Sid": "EcrLogin", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
        {"Sid": "TeamKey", "Effect": "Allow",
         "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey", "kms:CreateGrant"],
         "Resource": props.kms_key_arn},
        {"Sid": "OwnLogs", "Effect": "Allow",
         "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
         "Resource": ctx.arn("logs", "log-group:/aws/sagemaker/*")},
        # PutMetricData has no resource-level permissions; the namespace condition scopes it.
        {"Sid": "SageMakerMetrics", "Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*",
         "Condition": {"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/TrainingJobs", "/aws/sagemaker/Endpoints"]}}},
    ]  # fmt: skip
    if props.settings.vpc:
        statements.append({
            "Sid": "VpcNetworkInterfaces", "Effect": "Allow",
            "Action": ["ec2:CreateNetworkInterface", "ec2:CreateNetworkInterfacePermission", "ec2:DeleteNetworkInterface",
                       "ec2:DeleteNetworkInterfacePermission", "ec2:DescribeNetworkInterfaces", "ec2:DescribeVpcs",
                       "ec2:DescribeDhcpOptions", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups"],
            "Resource": "*",  # EC2 ENI actions for SageMaker VPC mode take no resource ARNs at create time
            "Condition": {"StringEquals": {"aws:RequestedRegion": ctx.region}},
        })  # fmt: skip
    return {"Version": "2012-10-17", "Statement": statements}
