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

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from constructs import Construct

from contract.names import TeamContext
from modules.iam import (
    IMAGE_PULL,
    KEY_DECRYPT,
    KEY_READ_WRITE,
    OBJECT_READ,
    OBJECT_WRITE,
    Statement,
    allow,
    policy_document,
    under,
    use_key,
)

if TYPE_CHECKING:  # provider classes stay out of import time: ops/promote.py (the CLI) imports this module
    from cdktf_cdktf_provider_aws.kms_key import KmsKey
    from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket

    from modules.registry import Registry

# Where copies land in the target: artifacts keep their keys (run ids and code sha256s are unique),
# pinned data goes under promoted/<source env>/ in the curated bucket, apart from the target's own
# training data (a later manifest of the target's data prefix must not pick it up).
PROMOTED_ARTIFACT_PREFIXES = ("models/", "code/", "manifests/", "baselines/", "evaluations/")
PROMOTED_DATA_PREFIX = "promoted/"
IMAGE_PUSH = [
    "ecr:BatchGetImage",
    "ecr:BatchCheckLayerAvailability",
    "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload",
    "ecr:PutImage",
]
REGISTRY_READ = ["sagemaker:DescribeModelPackageGroup", "sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages"]
# modules.registry.IMAGE_REPOSITORIES (a test keeps them equal; not imported, see above)
REPOSITORIES = ("training", "inference")
REGISTER = ["sagemaker:CreateModelPackage", "sagemaker:AddTags", "sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages"]


def promoter_policy_name(target: TeamContext) -> str:
    return f"{target.prefix}-promote"


def _bucket_arn(ctx: TeamContext, purpose: str) -> str:
    """A bucket of a stack by its contract name: the other side of a promotion is another stack (and
    account), so its names are derived, never looked up."""
    return f"arn:aws:s3:::{ctx.bucket_name(purpose)}"


def _group_arns(ctx: TeamContext, group_name: str) -> list[str]:
    """A model package group and its versions."""
    return [ctx.arn("sagemaker", f"model-package-group/{group_name}"), ctx.arn("sagemaker", f"model-package/{group_name}/*")]


def _repository_arns(ctx: TeamContext) -> list[str]:
    return [ctx.arn("ecr", f"repository/{ctx.prefix}-{purpose}") for purpose in REPOSITORIES]


def _sid(prefix: str, environment: str) -> str:
    """`PromoteTo` + `prod` -> `PromoteToProd` (Sids are alphanumeric)."""
    return prefix + "".join(part.capitalize() for part in environment.split("-"))


def _admit(
    target: TeamContext, actions: Sequence[str] | str, resources: Sequence[str] | str | None, extra: dict[str, Any] | None = None
) -> Statement:
    """A source-side resource policy statement: the target account, and in it only principals tagged with
    the team (whose policies then decide: the promoter policy grants these reads)."""
    condition: dict[str, Any] = {"StringEquals": {"aws:PrincipalTag/Team": target.team}}
    for operator, values in (extra or {}).items():
        condition.setdefault(operator, {}).update(values)
    principal = {"AWS": f"arn:aws:iam::{target.account_id}:root"}
    return allow(_sid("PromoteTo", target.environment), actions, resources, condition, principal)


def source_bucket_statements(targets: list[TeamContext], bucket_arn: str, prefixes: Sequence[str]) -> list[Statement]:
    """Bucket policy statements of a source bucket: read-only, on the promoted prefixes, per target."""
    return [_admit(t, OBJECT_READ, under(bucket_arn, prefixes)) for t in targets]


def source_lake_statements(source: TeamContext, targets: list[TeamContext], data_prefix: str) -> dict[str, list[Statement]]:
    """The source data lake's bucket statements by purpose (`DataLakeProps.extra_bucket_statements`): the
    promoted artifact prefixes, and the team's training data prefix in curated."""
    return {
        "artifacts": source_bucket_statements(targets, _bucket_arn(source, "artifacts"), PROMOTED_ARTIFACT_PREFIXES),
        "curated": source_bucket_statements(targets, _bucket_arn(source, "curated"), [data_prefix]),
    }


def source_key_statements(source: TeamContext, targets: list[TeamContext]) -> list[Statement]:
    """Key policy statements of the source key: Decrypt only, only through S3 in the source's region."""
    via_s3 = {"StringEquals": {"kms:ViaService": f"s3.{source.region}.amazonaws.com"}}
    return [_admit(t, KEY_DECRYPT, "*", via_s3) for t in targets]


def source_repository_statements(targets: list[TeamContext]) -> list[Statement]:
    """An ECR repository policy's statements: they apply to the repository (no `Resource`)."""
    return [_admit(t, IMAGE_PULL, None) for t in targets]


def source_group_statements(source: TeamContext, group_name: str, targets: list[TeamContext]) -> list[Statement]:
    return [_admit(t, REGISTRY_READ, _group_arns(source, group_name)) for t in targets]


@dataclass(frozen=True)
class SourceSide:
    """A source the target promotes from: its names (derived, never looked up) and its data prefix."""

    context: TeamContext
    group: str
    data_prefix: str


def _source_reads(side: SourceSide) -> list[Statement]:
    """What the promoter reads of one source: its registry group, the promoted objects, their key (through
    S3 only) and its images."""
    src, tag = side.context, side.context.environment.capitalize()
    buckets = [_bucket_arn(src, purpose) for purpose in ("artifacts", "curated")]
    return [
        allow(f"Read{tag}Registry", REGISTRY_READ, _group_arns(src, src.model_package_group_name(side.group))),
        allow(
            f"Read{tag}Artifacts",
            OBJECT_READ,
            under(buckets[0], PROMOTED_ARTIFACT_PREFIXES) + under(buckets[1], [side.data_prefix]),
        ),
        # The source key's id is not known here: any key of the source account, but only through S3
        # and only for objects of the source team's two buckets (S3's encryption context).
        allow(
            f"Decrypt{tag}Objects",
            KEY_DECRYPT,
            src.arn("kms", "key/*"),
            {
                "StringEquals": {"kms:ViaService": f"s3.{src.region}.amazonaws.com"},
                "StringLike": {"kms:EncryptionContext:aws:s3:arn": [*buckets, *(f"{b}/*" for b in buckets)]},
            },
        ),
        allow(f"Pull{tag}Images", IMAGE_PULL, _repository_arns(src)),
    ]


def promoter_statements(
    target: TeamContext, sources: list[SourceSide], *, target_group: str, kms_key_arn: str, artifacts_arn: str, curated_arn: str
) -> list[Statement]:
    """The promoter role's identity policy: source reads (exact ARNs), target writes (the team's own)."""
    statements = [statement for side in sources for statement in _source_reads(side)]
    return statements + [
        allow(
            "WriteCopies",
            [*OBJECT_READ, *OBJECT_WRITE],
            under(artifacts_arn, PROMOTED_ARTIFACT_PREFIXES) + under(curated_arn, [PROMOTED_DATA_PREFIX]),
        ),
        # DescribeKey: the promoter finds the target key by its alias (ops/promote.py).
        use_key("TeamKey", kms_key_arn, [*KEY_READ_WRITE, "kms:DescribeKey"]),
        allow("PushImages", IMAGE_PUSH, _repository_arns(target)),
        allow("RegisterPromoted", REGISTER, _group_arns(target, target.model_package_group_name(target_group))),
    ]


@dataclass(frozen=True)
class PromotionSourceProps:
    context: TeamContext
    targets: list[TeamContext]
    # The source's registry: its repositories get the pull policies, its primary group the read policy.
    registry: Registry


class PromotionSource(Construct):
    """Source side: the ECR repository policies and the model package group policy (bucket and key
    statements go into the data lake's own policies: a bucket or key has one policy)."""

    def __init__(self, scope: Construct, id: str, props: PromotionSourceProps):
        super().__init__(scope, id)
        from cdktf_cdktf_provider_aws.ecr_repository_policy import EcrRepositoryPolicy
        from cdktf_cdktf_provider_aws.sagemaker_model_package_group_policy import SagemakerModelPackageGroupPolicy

        registry = props.registry
        repository_policy = policy_document(source_repository_statements(props.targets))
        for purpose, repository in registry.repositories.items():
            EcrRepositoryPolicy(self, f"{purpose}-repository-policy", repository=repository.name, policy=repository_policy)
        SagemakerModelPackageGroupPolicy(
            self,
            "group-policy",
            # The plain name (the policy's ARNs name it too); the group must exist before its policy.
            model_package_group_name=registry.primary_group_name,
            resource_policy=policy_document(source_group_statements(props.context, registry.primary_group_name, props.targets)),
            depends_on=[registry.primary_group],
        )


@dataclass(frozen=True)
class PromotionTargetProps:
    context: TeamContext
    sources: list[SourceSide]
    target_group: str  # the configured group name the promoted versions are registered into
    key: KmsKey  # the target's team key: the copies are written under it
    artifacts: S3Bucket  # the target's artifacts bucket (copies of the promoted artifacts)
    curated: S3Bucket  # the target's curated bucket (copies of the pinned data, under `promoted/`)


class PromotionTarget(Construct):
    """Target side: the promoter policy, for the account's administrators to attach to the team's operators."""

    def __init__(self, scope: Construct, id: str, props: PromotionTargetProps):
        super().__init__(scope, id)
        from cdktf_cdktf_provider_aws.iam_policy import IamPolicy

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
                    kms_key_arn=props.key.arn,
                    artifacts_arn=props.artifacts.arn,
                    curated_arn=props.curated.arn,
                )
            ),
        )
