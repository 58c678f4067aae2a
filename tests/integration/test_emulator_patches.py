"""One test per patch in emulator/patches.py: each drives the moto behaviour through boto3 against a running,
patched emulator and asserts what AWS does. Each fails against unpatched moto 5.2.5 (noted per test).

Quick on purpose: no Terraform here (tests/integration/test_emulator_deploy.py applies whole stacks).
"""

from __future__ import annotations

import json
import uuid

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from emulator.server import running_emulator

# A 500 from unpatched moto should fail the test at once, not after boto3's retries.
NO_RETRIES = Config(retries={"max_attempts": 1, "mode": "standard"})


@pytest.fixture(scope="module")
def aws():
    with running_emulator() as emulator:
        env = emulator.client_env()
        session = boto3.Session(
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=env["AWS_SESSION_TOKEN"],
            region_name=env["AWS_DEFAULT_REGION"],
        )
        yield lambda service: session.client(service, endpoint_url=env["AWS_ENDPOINT_URL"], config=NO_RETRIES)


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _tls_only_deny(bucket_arn: str) -> dict:
    """The statement our buckets carry: valid IAM with a string Principal and a Condition."""
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def test_put_bucket_logging_accepts_target_policy_with_string_principal(aws):
    """Patch s3_logging_accepts_string_principal. Unpatched: PutBucketLogging answers HTTP 500 because moto
    calls .get() on the string Principal "*"."""
    s3 = aws("s3")
    source, target = _name("mlp-patch-src"), _name("mlp-patch-logs")
    s3.create_bucket(Bucket=source)
    s3.create_bucket(Bucket=target)
    target_arn = f"arn:aws:s3:::{target}"
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            _tls_only_deny(target_arn),
            {
                "Sid": "S3ServerAccessLogsPolicy",
                "Effect": "Allow",
                "Principal": {"Service": "logging.s3.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": f"{target_arn}/*",
            },
        ],
    }
    s3.put_bucket_policy(Bucket=target, Policy=json.dumps(policy))

    s3.put_bucket_logging(
        Bucket=source,
        BucketLoggingStatus={"LoggingEnabled": {"TargetBucket": target, "TargetPrefix": "src/"}},
    )

    enabled = s3.get_bucket_logging(Bucket=source)["LoggingEnabled"]
    assert enabled == {"TargetBucket": target, "TargetPrefix": "src/"}


def test_put_bucket_logging_still_requires_the_logging_service_grant(aws):
    """The same patch keeps moto's check itself: without the logging-service grant, AWS (and the patched
    emulator) refuse PutBucketLogging with InvalidTargetBucketForLogging."""
    s3 = aws("s3")
    source, target = _name("mlp-patch-src"), _name("mlp-patch-logs")
    s3.create_bucket(Bucket=source)
    s3.create_bucket(Bucket=target)
    s3.put_bucket_policy(
        Bucket=target, Policy=json.dumps({"Version": "2012-10-17", "Statement": [_tls_only_deny(f"arn:aws:s3:::{target}")]})
    )

    with pytest.raises(ClientError) as refused:
        s3.put_bucket_logging(
            Bucket=source,
            BucketLoggingStatus={"LoggingEnabled": {"TargetBucket": target, "TargetPrefix": "src/"}},
        )
    assert refused.value.response["Error"]["Code"] == "InvalidTargetBucketForLogging"


def test_delete_model_package_group(aws):
    """Patch sagemaker_delete_model_package_group. Unpatched: DeleteModelPackageGroup is not implemented (500)."""
    sagemaker = aws("sagemaker")
    group = _name("mlp-patch-group")
    sagemaker.create_model_package_group(ModelPackageGroupName=group)

    sagemaker.delete_model_package_group(ModelPackageGroupName=group)

    with pytest.raises(ClientError):
        sagemaker.describe_model_package_group(ModelPackageGroupName=group)
    names = [g["ModelPackageGroupName"] for g in sagemaker.list_model_package_groups()["ModelPackageGroupSummaryList"]]
    assert group not in names


def test_delete_model_package_group_refuses_while_it_holds_packages(aws):
    """Same patch: like AWS, a group that still holds model packages is not deleted."""
    sagemaker = aws("sagemaker")
    group = _name("mlp-patch-group")
    sagemaker.create_model_package_group(ModelPackageGroupName=group)
    sagemaker.create_model_package(ModelPackageGroupName=group, ModelPackageDescription="held")

    with pytest.raises(ClientError) as refused:
        sagemaker.delete_model_package_group(ModelPackageGroupName=group)
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert sagemaker.describe_model_package_group(ModelPackageGroupName=group)["ModelPackageGroupName"] == group


def test_conditional_deny_applies_only_when_its_condition_holds(aws):
    """Patch s3_bucket_policy_skips_conditional_statements. On AWS the KMS-only statement denies an upload
    only when it does not ask for SSE-KMS. Unpatched moto ignores the Condition and denies every PutObject
    (403). The patch only drops conditional statements: an unconditional Deny is still enforced."""
    s3 = aws("s3")
    bucket = _name("mlp-patch-data")
    s3.create_bucket(Bucket=bucket)
    kms_only = {
        "Sid": "DenyUploadsWithoutKms",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{bucket}/*",
        "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}},
    }
    locked_prefix = {
        "Sid": "DenyUploadsToLocked",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{bucket}/locked/*",
    }
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [kms_only, locked_prefix]}))

    s3.put_object(Bucket=bucket, Key="data.csv", Body=b"a,b\n", ServerSideEncryption="aws:kms")
    assert s3.get_object(Bucket=bucket, Key="data.csv")["Body"].read() == b"a,b\n"

    with pytest.raises(ClientError) as denied:
        s3.put_object(Bucket=bucket, Key="locked/data.csv", Body=b"a,b\n", ServerSideEncryption="aws:kms")
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
