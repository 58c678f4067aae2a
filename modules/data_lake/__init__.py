"""Data lake: the team's KMS key and its versioned, encrypted, logged buckets (raw, curated, artifacts).

Why versioned: a model is a function of its data, so the exact bytes a model was trained on must stay
addressable (by VersionId) after the data is replaced. Noncurrent versions are kept for a configured
number of days, then expire. See README.md beside this file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from cdktf import TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.kms_alias import KmsAlias
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket
from cdktf_cdktf_provider_aws.s3_bucket_lifecycle_configuration import (
    S3BucketLifecycleConfiguration,
    S3BucketLifecycleConfigurationRule,
    S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload,
    S3BucketLifecycleConfigurationRuleExpiration,
    S3BucketLifecycleConfigurationRuleFilter,
    S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration,
)
from cdktf_cdktf_provider_aws.s3_bucket_logging import S3BucketLoggingA
from cdktf_cdktf_provider_aws.s3_bucket_ownership_controls import (
    S3BucketOwnershipControls,
    S3BucketOwnershipControlsRule,
)
from cdktf_cdktf_provider_aws.s3_bucket_policy import S3BucketPolicy
from cdktf_cdktf_provider_aws.s3_bucket_public_access_block import S3BucketPublicAccessBlock
from cdktf_cdktf_provider_aws.s3_bucket_server_side_encryption_configuration import (
    S3BucketServerSideEncryptionConfigurationA,
    S3BucketServerSideEncryptionConfigurationRuleA,
    S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA,
)
from cdktf_cdktf_provider_aws.s3_bucket_versioning import (
    S3BucketVersioningA,
    S3BucketVersioningVersioningConfiguration,
)
from constructs import Construct

from contract.names import TeamContext
from modules.iam import Statement, allow, deny, deny_insecure_transport, policy_document

DATA_BUCKETS = ("raw", "curated", "artifacts")


@dataclass(frozen=True)
class DataLakeProps:
    context: TeamContext
    noncurrent_version_days: int = 90
    access_log_days: int = 365
    kms_deletion_window_days: int = 30
    # Cross-account reads granted by the promotion paths (modules/promotion source_lake_statements,
    # source_key_statements): purpose -> bucket policy statements, and key policy statements. Empty unless
    # this stack is the source of a promotion. A Sid repeating one of the lake's own is refused at synth.
    extra_bucket_statements: dict[str, list[Statement]] = field(default_factory=dict)
    extra_key_statements: tuple[Statement, ...] = ()


class DataLake(Construct):
    """KMS key + data buckets + an access-log bucket. Construct ids are Terraform addresses: keep them."""

    def __init__(self, scope: Construct, id: str, props: DataLakeProps):
        super().__init__(scope, id)
        ctx = props.context
        protect = TerraformResourceLifecycle(prevent_destroy=True) if ctx.protect_data else None

        self.key = KmsKey(
            self,
            "key",
            description=f"Data, models and logs of {ctx.prefix}",
            enable_key_rotation=True,
            deletion_window_in_days=props.kms_deletion_window_days,
            policy=policy_document(_key_statements(ctx, list(props.extra_key_statements))),
            lifecycle=protect,
        )
        KmsAlias(self, "key-alias", name=f"alias/{ctx.prefix}", target_key_id=self.key.key_id)

        # Server access logs: S3 delivers them with SSE-S3 only (SSE-KMS is not supported on a log
        # target bucket), so this one bucket uses AES256; it holds request metadata, not data.
        self.log_bucket = self._bucket("logs", ctx, force_destroy=not ctx.protect_data, lifecycle=None)
        self._encrypt(self.log_bucket, "logs", kms_key_arn=None)
        self._lifecycle(self.log_bucket, "logs", props.noncurrent_version_days, expire_days=props.access_log_days)
        log_policy = S3BucketPolicy(
            self,
            "logs-policy",
            bucket=self.log_bucket.id,
            policy=policy_document(_log_bucket_statements(ctx, self.log_bucket.arn)),
        )

        self.buckets: dict[str, S3Bucket] = {}
        for purpose in DATA_BUCKETS:
            bucket = self._bucket(purpose, ctx, force_destroy=not ctx.protect_data, lifecycle=protect)
            self._encrypt(bucket, purpose, kms_key_arn=self.key.arn)
            self._lifecycle(bucket, purpose, props.noncurrent_version_days, expire_days=None)
            # S3 checks the log bucket's grant when logging is turned on: the policy must exist first.
            S3BucketLoggingA(
                self,
                f"{purpose}-logging",
                bucket=bucket.id,
                target_bucket=self.log_bucket.id,
                target_prefix=f"{purpose}/",
                depends_on=[log_policy],
            )
            policy = policy_document(_data_bucket_statements(bucket.arn, props.extra_bucket_statements.get(purpose, [])))
            S3BucketPolicy(self, f"{purpose}-policy", bucket=bucket.id, policy=policy)
            self.buckets[purpose] = bucket

    @property
    def raw(self) -> S3Bucket:
        return self.buckets["raw"]

    @property
    def curated(self) -> S3Bucket:
        return self.buckets["curated"]

    @property
    def artifacts(self) -> S3Bucket:
        return self.buckets["artifacts"]

    def _bucket(
        self, purpose: str, ctx: TeamContext, force_destroy: bool, lifecycle: TerraformResourceLifecycle | None
    ) -> S3Bucket:
        bucket = S3Bucket(self, purpose, bucket=ctx.bucket_name(purpose), force_destroy=force_destroy, lifecycle=lifecycle)
        S3BucketVersioningA(
            self,
            f"{purpose}-versioning",
            bucket=bucket.id,
            versioning_configuration=S3BucketVersioningVersioningConfiguration(status="Enabled"),
        )
        S3BucketPublicAccessBlock(
            self,
            f"{purpose}-public-access-block",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
        )
        S3BucketOwnershipControls(
            self,
            f"{purpose}-ownership",
            bucket=bucket.id,
            rule=S3BucketOwnershipControlsRule(object_ownership="BucketOwnerEnforced"),
        )
        return bucket

    def _encrypt(self, bucket: S3Bucket, purpose: str, kms_key_arn: str | None) -> None:
        default = S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA(
            sse_algorithm="aws:kms" if kms_key_arn else "AES256", kms_master_key_id=kms_key_arn
        )
        S3BucketServerSideEncryptionConfigurationA(
            self,
            f"{purpose}-encryption",
            bucket=bucket.id,
            rule=[
                S3BucketServerSideEncryptionConfigurationRuleA(
                    apply_server_side_encryption_by_default=default, bucket_key_enabled=bool(kms_key_arn)
                )
            ],
        )

    def _lifecycle(self, bucket: S3Bucket, purpose: str, noncurrent_days: int, expire_days: int | None) -> None:
        rule = S3BucketLifecycleConfigurationRule(
            id="noncurrent-versions-and-uploads",
            status="Enabled",
            filter=[S3BucketLifecycleConfigurationRuleFilter(prefix="")],
            noncurrent_version_expiration=[
                S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration(noncurrent_days=noncurrent_days)
            ],
            abort_incomplete_multipart_upload=[
                S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload(days_after_initiation=7)
            ],
            expiration=[S3BucketLifecycleConfigurationRuleExpiration(days=expire_days)] if expire_days else None,
        )
        S3BucketLifecycleConfiguration(self, f"{purpose}-lifecycle", bucket=bucket.id, rule=[rule])


def _deny_insecure_transport(bucket_arn: str) -> Statement:
    return deny_insecure_transport("s3:*", [bucket_arn, f"{bucket_arn}/*"])


def _data_bucket_statements(bucket_arn: str, extra: Sequence[Statement] = ()) -> list[Statement]:
    """TLS only, and every upload must ask for SSE-KMS (writers pass ServerSideEncryption="aws:kms");
    `extra`: the promotion paths' read grants."""
    return [
        _deny_insecure_transport(bucket_arn),
        deny(
            "DenyUploadsWithoutKms",
            "s3:PutObject",
            f"{bucket_arn}/*",
            {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}},
            principal="*",
        ),
        *extra,
    ]


def _log_bucket_statements(ctx: TeamContext, bucket_arn: str) -> list[Statement]:
    return [
        _deny_insecure_transport(bucket_arn),
        allow(
            "AllowS3ServerAccessLogs",
            "s3:PutObject",
            f"{bucket_arn}/*",
            principal={"Service": "logging.s3.amazonaws.com"},
            condition={
                "StringEquals": {"aws:SourceAccount": ctx.account_id},
                "ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{ctx.prefix}-*"},
            },
        ),
    ]


def _key_statements(ctx: TeamContext, extra: Sequence[Statement] = ()) -> list[Statement]:
    """The account administers the key (AWS's default key policy, so IAM policies can grant use of it);
    CloudWatch Logs may use it for the team's log groups, and CloudWatch alarms, EventBridge and Budgets
    in this account may use it to publish to the team's encrypted topic (else SNS drops their messages)."""
    return [
        allow("AccountAdministersKey", "kms:*", "*", principal={"AWS": f"arn:aws:iam::{ctx.account_id}:root"}),
        # AWS's documented key policy for CloudWatch Logs (its own action set, with wildcards).
        allow(
            "CloudWatchLogsUseKey",
            ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
            "*",
            {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": ctx.arn("logs", f"log-group:/aws/*/{ctx.prefix}*")}},
            principal={"Service": f"logs.{ctx.region}.amazonaws.com"},
        ),
        allow(
            "ServicesPublishToEncryptedTopic",
            ["kms:Decrypt", "kms:GenerateDataKey*"],
            "*",
            {"StringEquals": {"aws:SourceAccount": ctx.account_id}},
            principal={"Service": ["cloudwatch.amazonaws.com", "events.amazonaws.com", "budgets.amazonaws.com"]},
        ),
        *extra,  # the promotion paths' Decrypt grants (modules/promotion)
    ]
