"""`python main.py bootstrap <env>`: what a fresh account needs before the first `cdktf deploy` of any
stack of that environment (what `cdk bootstrap` does for the AWS CDK).

- the Terraform state bucket named in the config (`state_backend.bucket`): versioned (state history,
  and S3-native locking needs it), default encryption with a KMS key, public access blocked, bucket
  owner enforced (no ACLs), TLS-only bucket policy;
- the state key: `state_backend.kms_key_id` when the config names one (it must exist), else the
  platform's own `alias/<platform>-terraform-state` (created, rotated).

Everything else a team stack uses is created by the stack itself or, for the endpoint, by its deploy
handler. Idempotent: a second run changes nothing and says so. It refuses to touch an account other
than the environment's (`sts:GetCallerIdentity`), before any change.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
from botocore.exceptions import ClientError

from config.platform import PlatformConfig
from ops.errors import BootstrapError


def state_key_alias(config: PlatformConfig) -> str:
    return f"alias/{config.platform.name}-terraform-state"


def tls_only_policy(bucket: str) -> dict[str, Any]:
    arn = f"arn:aws:s3:::{bucket}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [arn, f"{arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def bootstrap(config: PlatformConfig, environment_name: str, session: boto3.Session | None = None) -> dict[str, Any]:
    """Create or confirm the environment's prerequisites; what was created and what already existed."""
    environment = next((e for e in config.environments if e.name == environment_name), None)
    if environment is None:
        raise BootstrapError(
            f"unknown environment {environment_name!r}; the config has {', '.join(e.name for e in config.environments)}"
        )
    session = session or boto3.Session()
    account = session.client("sts").get_caller_identity()["Account"]
    if account != environment.account_id:
        raise BootstrapError(
            f"these credentials are for account {account}, but environment {environment_name!r} is "
            f"account {environment.account_id}: nothing was changed"
        )
    state = environment.state_backend
    if state is None:
        return {
            "environment": environment_name,
            "account": account,
            "created": [],
            "existing": [],
            "note": "no state_backend (local state): nothing to create",
        }
    region = state.region or config.platform.region
    created: list[str] = []
    existing: list[str] = []
    key_arn = _state_key(
        session.client("kms", region_name=region),
        state.kms_key_id or state_key_alias(config),
        create=state.kms_key_id is None,
        created=created,
        existing=existing,
    )
    _state_bucket(session.client("s3", region_name=region), state.bucket, region, key_arn, created, existing)
    return {
        "environment": environment_name,
        "account": account,
        "bucket": state.bucket,
        "kms_key_arn": key_arn,
        "created": created,
        "existing": existing,
    }


def _state_key(kms, key_id: str, create: bool, created: list[str], existing: list[str]) -> str:
    try:
        arn = kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
        existing.append(f"kms key {key_id}")
        return arn
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "NotFoundException":
            raise
        if not create:
            raise BootstrapError(f"state_backend.kms_key_id {key_id!r} does not exist in this account and region") from None
    arn = kms.create_key(Description="Terraform state of the ML platform", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["Arn"]
    kms.enable_key_rotation(KeyId=arn)
    kms.create_alias(AliasName=key_id, TargetKeyId=arn)
    created.append(f"kms key {key_id}")
    return arn


def _state_bucket(s3, bucket: str, region: str, key_arn: str, created: list[str], existing: list[str]) -> None:
    try:
        s3.head_bucket(Bucket=bucket)
        existing.append(f"bucket {bucket}")
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        if code == "403":
            raise BootstrapError(f"bucket {bucket} exists but belongs to someone else (bucket names are global)") from None
        if code not in ("404", "NoSuchBucket"):
            raise
        location = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        s3.create_bucket(Bucket=bucket, ObjectOwnership="BucketOwnerEnforced", **location)
        created.append(f"bucket {bucket}")
    # Settings are put every time: each put is idempotent, and a drifted bucket is brought back.
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn},
                    "BucketKeyEnabled": True,
                }
            ]
        },
    )
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(tls_only_policy(bucket)))
