"""One test per patch in emulator/patches_strict.py, against a running patched emulator: what fails on AWS
on a fresh account fails here too. Each fails against unpatched moto 5.2.5 (noted per test)."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from botocore.exceptions import ClientError

from emulator.images import manifest
from emulator.patches_strict import condition_matches, put_object_context
from emulator.server import running_emulator
from tests.integration.clients import client_factory

ACCOUNT, REGION = "123456789012", "us-east-1"


@pytest.fixture(scope="module")
def aws():
    with running_emulator() as emulator:
        yield client_factory(emulator)


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _image(aws, tag: str | None) -> str:
    """A repository with (tag given) or without an image; the image's URI."""
    repository = _name("mlp-strict")
    aws("ecr").create_repository(repositoryName=repository)
    if tag:
        aws("ecr").put_image(repositoryName=repository, imageManifest=manifest(repository), imageTag=tag)
    return f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{repository}:{tag or 'v1'}"


def _model_data(aws, upload: bool) -> str:
    bucket = _name("mlp-strict")
    aws("s3").create_bucket(Bucket=bucket)
    if upload:
        aws("s3").put_object(Bucket=bucket, Key="model.tar.gz", Body=b"model")
    return f"s3://{bucket}/model.tar.gz"


def _config(aws, image: str, data: str) -> str:
    sagemaker, name = aws("sagemaker"), _name("mlp-strict")
    sagemaker.create_model(
        ModelName=name, ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/r", PrimaryContainer={"Image": image, "ModelDataUrl": data}
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {"VariantName": "primary", "ModelName": name, "InstanceType": "ml.g5.xlarge", "InitialInstanceCount": 1}
        ],
    )
    return name


@pytest.mark.parametrize(
    "image_pushed, data_uploaded, reason",
    [
        (False, True, "Requested image .* not found"),
        (True, False, r"Failed to download model data\(bucket: mlp-strict-\w+, key: model.tar.gz\)"),
        (True, True, None),
    ],
)
def test_create_endpoint_fails_asynchronously_without_image_or_model_data(aws, image_pushed, data_uploaded, reason):
    """Patch sagemaker_endpoint_needs_image_and_model_data. Unpatched: InService at once, whatever the model."""
    config = _config(aws, _image(aws, "v1" if image_pushed else None), _model_data(aws, data_uploaded))
    sagemaker, endpoint = aws("sagemaker"), _name("mlp-strict")
    sagemaker.create_endpoint(EndpointName=endpoint, EndpointConfigName=config)  # accepted, like AWS
    described = sagemaker.describe_endpoint(EndpointName=endpoint)
    if reason is None:
        assert described["EndpointStatus"] == "InService" and "FailureReason" not in described
    else:
        assert described["EndpointStatus"] == "Failed"
        assert re.search(reason, described["FailureReason"]), described["FailureReason"]


def test_update_endpoint_onto_a_broken_model_fails_and_keeps_the_old_config(aws):
    """Same patch, UpdateEndpoint. Unpatched (emulator.patches_loop alone): the endpoint switches to the
    broken config and stays InService."""
    good = _config(aws, _image(aws, "v1"), _model_data(aws, True))
    broken = _config(aws, _image(aws, "v1"), _model_data(aws, False))
    sagemaker, endpoint = aws("sagemaker"), _name("mlp-strict")
    sagemaker.create_endpoint(EndpointName=endpoint, EndpointConfigName=good)
    assert sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "InService"
    sagemaker.update_endpoint(EndpointName=endpoint, EndpointConfigName=broken)
    described = sagemaker.describe_endpoint(EndpointName=endpoint)
    assert described["EndpointStatus"] == "Failed" and "Failed to download model data" in described["FailureReason"]
    assert described["EndpointConfigName"] == good
    with pytest.raises(ClientError, match="Could not find endpoint configuration"):
        sagemaker.update_endpoint(EndpointName=endpoint, EndpointConfigName="missing")


@pytest.mark.parametrize("pushed", [False, True])
def test_training_job_fails_without_its_image(aws, pushed):
    """Patch sagemaker_training_job_needs_image. Unpatched: Completed whatever the image."""
    image, bucket = _image(aws, "v1" if pushed else None), _model_data(aws, True).rsplit("/", 1)[0]
    sagemaker, job = aws("sagemaker"), _name("mlp-strict")
    sagemaker.create_training_job(
        TrainingJobName=job,
        AlgorithmSpecification={"TrainingImage": image, "TrainingInputMode": "File"},
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/r",
        OutputDataConfig={"S3OutputPath": f"{bucket}/out"},
        ResourceConfig={"InstanceType": "ml.g5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": 60},
    )
    described = sagemaker.describe_training_job(TrainingJobName=job)
    if pushed:
        # Accepted: the emulator then runs the job's code (patches_training); this job names none, so it
        # ends Failed saying so, never Completed without a model.
        assert described["TrainingJobStatus"] in ("InProgress", "Failed")
    else:
        assert described["TrainingJobStatus"] == "Failed" and image in described["FailureReason"]


def test_bucket_policy_denies_uploads_without_kms(aws):
    """Patch s3_bucket_policy_denies_puts_by_condition. Unpatched: the put without SSE-KMS is stored."""
    s3, bucket = aws("s3"), _name("mlp-strict")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "DenyUploadsWithoutKms",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:PutObject",
                        "Resource": f"arn:aws:s3:::{bucket}/*",
                        "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}},
                    },
                    {
                        "Sid": "DenyInsecureTransport",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    },
                ],
            }
        ),
    )
    for extra in ({}, {"ServerSideEncryption": "AES256"}):
        with pytest.raises(ClientError, match="AccessDenied"):
            s3.put_object(Bucket=bucket, Key="plain", Body=b"x", **extra)
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="kms", Body=b"x", ServerSideEncryption="aws:kms")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["kms"]


def test_tls_and_encryption_conditions_evaluate_like_iam():
    """The evaluator behind the S3 patch: a TLS-only Deny matches plain HTTP and not TLS; a missing header
    satisfies StringNotEquals (so a put without the header is denied, as on AWS); unknown operators are
    left alone (None)."""
    tls = {"Bool": {"aws:SecureTransport": "false"}}
    assert condition_matches(tls, put_object_context({}, secure=False)) is True
    assert condition_matches(tls, put_object_context({}, secure=True)) is False
    kms = {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}}
    assert condition_matches(kms, put_object_context({}, secure=True)) is True
    assert condition_matches(kms, put_object_context({"x-amz-server-side-encryption": "aws:kms"}, True)) is False
    assert condition_matches({"Null": {"s3:x-amz-server-side-encryption": "true"}}, put_object_context({}, True)) is True
    assert condition_matches({"DateGreaterThan": {"aws:CurrentTime": "2020-01-01"}}, {}) is None
