"""Publish a team's code bundle: pack it (ops.code_bundle), upload it to the artifacts bucket under its
sha256 (SSE-KMS with the team key; the bucket is versioned, so the upload has a VersionId), and point the
team's `code-bundle` parameter at it. The retrain handler reads that pointer when a run starts and pins
it in the run record and the training job (script mode's `sagemaker_submit_directory`); `rebuild` uses
the bundle a model package records, never the pointer.

The same files give the same bytes and the same key: publishing unchanged code again uploads nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from contract.names import TeamContext
from ops.code_bundle import CodeBundle, pack
from ops.functions import deployed_configuration

BUNDLE_NAME = "sourcedir.tar.gz"  # what script mode calls the archive
POINTER = "code-bundle"


def bundle_key(sha256: str) -> str:
    return f"code/{sha256}/{BUNDLE_NAME}"


def git_label(bundle: CodeBundle) -> str:
    """The commit the files are at, `+dirty` when a packed file differs from it; `none` outside git."""
    if bundle.git is None:
        return "none"
    return f"{bundle.git.commit}+dirty" if bundle.git.dirty else bundle.git.commit


def upload(bundle: CodeBundle, bucket: str, kms_key_arn: str) -> dict[str, str]:
    """The bundle in S3 (uploaded unless an object with its sha256 is there already): the pointer value."""
    s3, key = boto3.client("s3"), bundle_key(bundle.sha256)
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
        version_id = head["VersionId"] if head.get("Metadata", {}).get("sha256") == bundle.sha256 else None
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
            raise
        version_id = None
    if version_id is None:
        version_id = s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=bundle.data,
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=kms_key_arn,
            Metadata={"sha256": bundle.sha256, "git-commit": git_label(bundle)},
        )["VersionId"]
    return {"uri": f"s3://{bucket}/{key}", "sha256": bundle.sha256, "version_id": version_id, "git_commit": git_label(bundle)}


def publish_code(ctx: TeamContext, source_dir: Path) -> dict[str, Any]:
    """Pack `source_dir`, upload it and point the team's code-bundle parameter at it."""
    bundle = pack(source_dir)
    retrain = deployed_configuration(ctx, "retrain")
    pointer = upload(bundle, retrain.artifact_bucket, retrain.kms_key_arn)
    boto3.client("ssm").put_parameter(
        Name=ctx.parameter_name(POINTER), Value=json.dumps(pointer, sort_keys=True), Type="String", Overwrite=True
    )
    return {**pointer, "parameter": ctx.parameter_name(POINTER), "files": len(bundle.files), "bytes": len(bundle.data)}
