"""Apply a team stack to the embedded emulator with real Terraform; what it deployed is as configured.

That `plan` shows no changes after the apply is asserted where a plan runs anyway, not by a plan of its
own here (each `terraform plan` of a team stack costs ~12 s of CPU, most of it the provider starting three
times): `cdktf diff` after `cdktf deploy` of this stack on a fresh emulator (test_cdktf_workflow.py), and
the plans of test_loop.py after the handlers switched the endpoint off and on again.
"""

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


def test_functions_run_the_local_packages_delivered_through_s3(deployed_stack, aws, emulator, monkeypatch):
    """The demo's check: each function's CodeSha256 is the local deterministic zip's, and its code is the
    SSE-KMS object keyed by that hash in the artifacts bucket."""
    from config.platform import context_for, load_config, with_emulator_override
    from contract.layout import LAMBDA_CODE_PREFIX
    from ops.functions import deployed_code_matches

    for name, value in emulator.client_env().items():
        monkeypatch.setenv(name, value)
    ctx = context_for(with_emulator_override(load_config()), "fraud-local")
    s3, kms = aws("s3"), aws("kms")
    bucket = f"{PREFIX}-artifacts-{ACCOUNT}"
    key = kms.describe_key(KeyId=f"alias/{PREFIX}")["KeyMetadata"]
    for handler in ("retrain", "register", "deploy", "drift_check", "quality_check"):
        assert deployed_code_matches(ctx, handler)  # CodeSha256 == the local deterministic zip's
        objects = s3.list_objects_v2(Bucket=bucket, Prefix=f"{LAMBDA_CODE_PREFIX}{handler}/")["Contents"]
        assert len(objects) == 1
        head = s3.head_object(Bucket=bucket, Key=objects[0]["Key"])
        assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] in (key["Arn"], key["KeyId"])
