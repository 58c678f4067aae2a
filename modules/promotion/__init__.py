"""Promotion across accounts: the least-privilege grants that let an approved model of a team move from
one environment (source, e.g. dev) to another (target, e.g. prod), created from the config's promotion
paths (`teams[].promotions`). See README.md beside this file.

The target pulls; the source never writes into the target. Who promotes: a principal of the target
account that carries the team's tag (`Team = <team>`, set by the account's administrators, as for the
feature-ingestion role) and has the target's promoter policy attached:

- target side (PromotionTarget): the managed policy `<target prefix>-promote`: read the source team's
  registry group, the artifacts and pinned data it names, its images, and decrypt them through S3 only;
  write the copies into the target's own artifacts (`models/`, `code/`, `manifests/`, `baselines/`, `evaluations/`) and
  curated (`promoted/`) prefixes under the target's key, push the images into the target's
  repositories, create the package version in the target's group.
- source side (PromotionSource plus statements the data lake adds to its bucket and key policies): the
  resource policies a cross-account call also needs, each admitting only principals of the target
  account tagged with the team, and only read actions.

A cross-account call needs both halves: another team's principal in the target account has the tag of
its own team (refused by the source's policies), and no other team's policy names these sources.
Pure functions build the documents (jsii-free, so tests evaluate them); the two constructs place them.
Construct ids are Terraform addresses (`promotion-source/...`, `promotion-target/...`): keep them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from constructs import Construct

from contract.names import TeamContext

# Where copies land in the target: artifacts keep their keys (run ids and code sha256s are unique),
# pinned data goes under promoted/<source env>/ in the curated bucket, apart from the target's own
# training data (a later manifest of the target's data prefix must not pick it up).
PROMOTED_ARTIFACT_PREFIXES = ("models/", "code/", "manifests/", "baselines/", "evaluations/")
PROMOTED_DATA_PREFIX = "promoted/"
S3_READ = ["s3:GetObject", "s3:GetObjectVersion"]
ECR_PULL = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
ECR_PUSH = [
    "ecr:BatchGetImage",
    "ecr:BatchCheckLayerAvailability",
    "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload",
    "ecr:PutImage",
]
REGISTRY_READ = ["sagemaker:DescribeModelPackageGroup", "sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages"]
REPOSITORIES = ("training", "inference")


def promoter_policy_name(target: TeamContext) -> str:
    return f"{target.prefix}-promote"


def _admit(target: TeamContext, extra_condition: dict[str, Any] | None = None) -> dict[str, Any]:
    """Principal and Condition of a source-side statement: the target account, and in it only principals
    tagged with the team (whose policies then decide: the promoter policy grants these reads)."""
    condition: dict[str, Any] = {"StringEquals": {"aws:PrincipalTag/Team": target.team}}
    for operator, values in (extra_condition or {}).items():
        condition.setdefault(operator, {}).update(values)
    return {"Principal": {"AWS": f"arn:aws:iam::{target.account_id}:root"}, "Condition": condition}


def _sid(prefix: str, target: TeamContext) -> str:
    return prefix + "".join(part.capitalize() for part in target.environment.split("-"))


def source_bucket_statements(targets: list[TeamContext], bucket_arn: str, prefixes: list[str]) -> list[dict[str, Any]]:
    """Bucket policy statements of a source bucket: read-only, on the promoted prefixes, per target role."""
    return [
        {
            "Sid": _sid("PromoteTo", t),
            "Effect": "Allow",
            "Action": S3_READ,
            "Resource": [f"{bucket_arn}/{p}*" for p in prefixes],
            **_admit(t),
        }
        for t in targets
    ]


def source_key_statements(source: TeamContext, targets: list[TeamContext]) -> list[dict[str, Any]]:
    """Key policy statements of the source key: Decrypt only, only through S3 in the source's region."""
    via_s3 = {"StringEquals": {"kms:ViaService": f"s3.{source.region}.amazonaws.com"}}
    return [
        {"Sid": _sid("PromoteTo", t), "Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*", **_admit(t, via_s3)}
        for t in targets
    ]


def source_repository_policy(targets: list[TeamContext]) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Sid": _sid("PromoteTo", t), "Effect": "Allow", "Action": ECR_PULL, **_admit(t)} for t in targets],
    }


def source_group_policy(source: TeamContext, group: str, targets: list[TeamContext]) -> dict[str, Any]:
    name = source.model_package_group_name(group)
    resources = [source.arn("sagemaker", f"model-package-group/{name}"), source.arn("sagemaker", f"model-package/{name}/*")]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": _sid("PromoteTo", t), "Effect": "Allow", "Action": REGISTRY_READ, "Resource": resources, **_admit(t)}
            for t in targets
        ],
    }


@dataclass(frozen=True)
class SourceSide:
    """A source the target promotes from: its names (derived, never looked up) and its data prefix."""

    context: TeamContext
    group: str
    data_prefix: str


def promoter_statements(
    target: TeamContext, sources: list[SourceSide], *, target_group: str, kms_key_arn: str, artifacts_arn: str, curated_arn: str
) -> list[dict[str, Any]]:
    """The promoter role's identity policy: source reads (exact ARNs), target writes (the team's own)."""
    statements: list[dict[str, Any]] = []
    for side in sources:
        src, tag = side.context, side.context.environment.capitalize()
        group = src.model_package_group_name(side.group)
        buckets = [f"arn:aws:s3:::{src.bucket_name(p)}" for p in ("artifacts", "curated")]
        statements += [
            {
                "Sid": f"Read{tag}Registry",
                "Effect": "Allow",
                "Action": REGISTRY_READ,
                "Resource": [
                    src.arn("sagemaker", f"model-package-group/{group}"),
                    src.arn("sagemaker", f"model-package/{group}/*"),
                ],
            },
            {
                "Sid": f"Read{tag}Artifacts",
                "Effect": "Allow",
                "Action": S3_READ,
                "Resource": [f"{buckets[0]}/{p}*" for p in PROMOTED_ARTIFACT_PREFIXES] + [f"{buckets[1]}/{side.data_prefix}*"],
            },
            # The source key's id is not known here: any key of the source account, but only through S3
            # and only for objects of the source team's two buckets (S3's encryption context).
            {
                "Sid": f"Decrypt{tag}Objects",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": src.arn("kms", "key/*"),
                "Condition": {
                    "StringEquals": {"kms:ViaService": f"s3.{src.region}.amazonaws.com"},
                    "StringLike": {"kms:EncryptionContext:aws:s3:arn": [*buckets, *(f"{b}/*" for b in buckets)]},
                },
            },
            {
                "Sid": f"Pull{tag}Images",
                "Effect": "Allow",
                "Action": ECR_PULL,
                "Resource": [src.arn("ecr", f"repository/{src.prefix}-{r}") for r in REPOSITORIES],
            },
        ]
    group = target.model_package_group_name(target_group)
    statements += [
        {
            "Sid": "WriteCopies",
            "Effect": "Allow",
            "Action": [*S3_READ, "s3:PutObject", "s3:AbortMultipartUpload"],
            "Resource": [f"{artifacts_arn}/{p}*" for p in PROMOTED_ARTIFACT_PREFIXES]
            + [f"{curated_arn}/{PROMOTED_DATA_PREFIX}*"],
        },
        {
            "Sid": "TeamKey",
            "Effect": "Allow",
            "Action": ["kms:GenerateDataKey", "kms:Decrypt", "kms:DescribeKey"],
            "Resource": kms_key_arn,
        },
        {
            "Sid": "PushImages",
            "Effect": "Allow",
            "Action": ECR_PUSH,
            "Resource": [target.arn("ecr", f"repository/{target.prefix}-{r}") for r in REPOSITORIES],
        },
        {
            "Sid": "RegisterPromoted",
            "Effect": "Allow",
            "Action": [
                "sagemaker:CreateModelPackage",
                "sagemaker:AddTags",
                "sagemaker:DescribeModelPackage",
                "sagemaker:ListModelPackages",
            ],
            "Resource": [
                target.arn("sagemaker", f"model-package-group/{group}"),
                target.arn("sagemaker", f"model-package/{group}/*"),
            ],
        },
    ]
    return statements


@dataclass(frozen=True)
class PromotionSourceProps:
    context: TeamContext
    targets: list[TeamContext]
    group: str
    repository_names: dict[str, str] = field(default_factory=dict)  # purpose -> repository name (tokens fine)


class PromotionSource(Construct):
    """Source side: the ECR repository policies and the model package group policy (bucket and key
    statements go into the data lake's own policies: a bucket or key has one policy)."""

    def __init__(self, scope: Construct, id: str, props: PromotionSourceProps, depends_on: list[Any] | None = None):
        super().__init__(scope, id)
        from cdktf_cdktf_provider_aws.ecr_repository_policy import EcrRepositoryPolicy
        from cdktf_cdktf_provider_aws.sagemaker_model_package_group_policy import SagemakerModelPackageGroupPolicy

        for purpose, name in props.repository_names.items():
            EcrRepositoryPolicy(
                self, f"{purpose}-repository-policy", repository=name, policy=json.dumps(source_repository_policy(props.targets))
            )
        SagemakerModelPackageGroupPolicy(
            self,
            "group-policy",
            model_package_group_name=props.context.model_package_group_name(props.group),
            resource_policy=json.dumps(source_group_policy(props.context, props.group, props.targets)),
            depends_on=depends_on,
        )


@dataclass(frozen=True)
class PromotionTargetProps:
    context: TeamContext
    sources: list[SourceSide]
    target_group: str
    kms_key_arn: str
    artifacts_bucket_arn: str
    curated_bucket_arn: str


class PromotionTarget(Construct):
    """Target side: the promoter policy, for the account's administrators to attach to the team's operators."""

    def __init__(self, scope: Construct, id: str, props: PromotionTargetProps):
        super().__init__(scope, id)
        from cdktf_cdktf_provider_aws.iam_policy import IamPolicy

        from modules.iam import policy_document

        ctx = props.context
        self.policy = IamPolicy(
            self,
            "policy",
            name=promoter_policy_name(ctx),
            description=f"Promote approved models of team {ctx.team} into {ctx.prefix} (attach to the team's operators)",
            policy=policy_document(
                promoter_statements(
                    ctx,
                    props.sources,
                    target_group=props.target_group,
                    kms_key_arn=props.kms_key_arn,
                    artifacts_arn=props.artifacts_bucket_arn,
                    curated_arn=props.curated_bucket_arn,
                )
            ),
        )
