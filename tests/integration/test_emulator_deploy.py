"""Apply a team stack to the embedded emulator with real Terraform; `plan` afterwards shows no changes."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration

ACCOUNT = "123456789012"
PREFIX = "mlp-fraud-local"


def test_buckets_exist_versioned_encrypted_and_private(deployed_stack, aws):
    s3 = aws("s3")
    outputs = deployed_stack[0].outputs()
    for purpose in ("raw", "curated", "artifacts"):
        bucket = f"{PREFIX}-{purpose}-{ACCOUNT}"
        assert outputs[f"{purpose}-bucket"] == bucket
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
        rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
        assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert all(block.values())
        logging = s3.get_bucket_logging(Bucket=bucket)["LoggingEnabled"]
        assert logging["TargetBucket"] == f"{PREFIX}-logs-{ACCOUNT}"


def test_versioned_data_keeps_old_versions(deployed_stack, aws):
    s3 = aws("s3")
    bucket = f"{PREFIX}-curated-{ACCOUNT}"
    first = s3.put_object(Bucket=bucket, Key="training/data.csv", Body=b"a,b\n1,2\n", ServerSideEncryption="aws:kms")
    s3.put_object(Bucket=bucket, Key="training/data.csv", Body=b"a,b\n3,4\n", ServerSideEncryption="aws:kms")
    old = s3.get_object(Bucket=bucket, Key="training/data.csv", VersionId=first["VersionId"])
    assert old["Body"].read() == b"a,b\n1,2\n"


def test_registry_exists(deployed_stack, aws):
    group = aws("sagemaker").describe_model_package_group(ModelPackageGroupName=f"{PREFIX}-models")
    assert group["ModelPackageGroupStatus"] == "Completed"
    repositories = aws("ecr").describe_repositories(repositoryNames=[f"{PREFIX}-training", f"{PREFIX}-inference"])["repositories"]
    assert {r["imageTagMutability"] for r in repositories} == {"IMMUTABLE"}
    assert all(r["imageScanningConfiguration"]["scanOnPush"] for r in repositories)


def test_key_rotation_enabled(deployed_stack, aws):
    kms = aws("kms")
    key_id = kms.describe_key(KeyId=f"alias/{PREFIX}")["KeyMetadata"]["KeyId"]
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True


def test_plan_after_apply_has_no_changes(pristine_stack):
    terraform, _ = pristine_stack
    changes = terraform.plan_changes()
    assert changes is None, f"plan after apply wants changes:\n{changes[-3000:]}"
