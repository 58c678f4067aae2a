"""The emulator patches for two accounts and cross-account promotion reads (emulator/patches_accounts.py),
each on its own: the access key names the account, model package group policies, DescribeModelPackage /
ListModelPackages and ECR pulls across accounts only as the owner's resource policy admits, ECR layers
readable back through GetDownloadUrlForLayer."""

from __future__ import annotations

import hashlib
import json
import urllib.request
import uuid

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

SOURCE, TARGET = "123456789012", "210987654321"
NO_RETRIES = Config(retries={"max_attempts": 1, "mode": "standard"})


def client(emulator, service, access_key, **credentials):
    return boto3.client(
        service,
        endpoint_url=emulator.endpoint,
        region_name="us-east-1",
        config=NO_RETRIES,
        aws_access_key_id=access_key,
        aws_secret_access_key="test",
        **credentials,
    )


def tagged_role_client(emulator, service, team):
    """Credentials of a role of the target account tagged Team=<team>."""
    name = f"patch-operator-{team}-{uuid.uuid4().hex[:6]}"
    iam = client(emulator, "iam", TARGET)
    iam.create_role(RoleName=name, AssumeRolePolicyDocument="{}", Tags=[{"Key": "Team", "Value": team}])
    credentials = client(emulator, "sts", TARGET).assume_role(
        RoleArn=f"arn:aws:iam::{TARGET}:role/{name}", RoleSessionName="test"
    )["Credentials"]
    return boto3.client(
        service,
        endpoint_url=emulator.endpoint,
        region_name="us-east-1",
        config=NO_RETRIES,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def admit_team(team, actions, resource=None):
    statement = {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{TARGET}:root"},
        "Action": actions,
        "Condition": {"StringEquals": {"aws:PrincipalTag/Team": team}},
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [{**statement, **({"Resource": resource} if resource else {})}]})


def test_a_twelve_digit_access_key_names_its_account(emulator):
    name = f"patch-account-{uuid.uuid4().hex[:6]}"
    client(emulator, "iam", TARGET).create_role(RoleName=name, AssumeRolePolicyDocument="{}")
    assert name in [r["RoleName"] for r in client(emulator, "iam", TARGET).list_roles()["Roles"]]
    assert name not in [r["RoleName"] for r in client(emulator, "iam", "test").list_roles()["Roles"]]
    assert name not in [r["RoleName"] for r in client(emulator, "iam", SOURCE).list_roles()["Roles"]]


def test_model_package_group_policy_is_kept_described_and_deleted(emulator):
    sagemaker = client(emulator, "sagemaker", SOURCE)
    group = f"patch-group-{uuid.uuid4().hex[:6]}"
    with pytest.raises(ClientError):
        sagemaker.put_model_package_group_policy(ModelPackageGroupName=group, ResourcePolicy="{}")
    sagemaker.create_model_package_group(ModelPackageGroupName=group)
    with pytest.raises(ClientError, match="Cannot find resource policy"):
        sagemaker.get_model_package_group_policy(ModelPackageGroupName=group)
    with pytest.raises(ClientError, match="not valid JSON"):
        sagemaker.put_model_package_group_policy(ModelPackageGroupName=group, ResourcePolicy="{not json")
    policy = admit_team("fraud", ["sagemaker:DescribeModelPackage"], "*")
    assert sagemaker.put_model_package_group_policy(ModelPackageGroupName=group, ResourcePolicy=policy)[
        "ModelPackageGroupArn"
    ].endswith(group)
    assert sagemaker.get_model_package_group_policy(ModelPackageGroupName=group)["ResourcePolicy"] == policy
    sagemaker.delete_model_package_group_policy(ModelPackageGroupName=group)
    with pytest.raises(ClientError):
        sagemaker.get_model_package_group_policy(ModelPackageGroupName=group)


def test_model_packages_are_read_across_accounts_only_as_the_group_policy_admits(emulator):
    sagemaker = client(emulator, "sagemaker", SOURCE)
    group = f"patch-cross-{uuid.uuid4().hex[:6]}"
    sagemaker.create_model_package_group(ModelPackageGroupName=group)
    arn = sagemaker.create_model_package(
        ModelPackageGroupName=group,
        InferenceSpecification={
            "Containers": [{"Image": f"{SOURCE}.dkr.ecr.us-east-1.amazonaws.com/x@sha256:{'a' * 64}"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )["ModelPackageArn"]
    group_arn = f"arn:aws:sagemaker:us-east-1:{SOURCE}:model-package-group/{group}"
    fraud, recsys = tagged_role_client(emulator, "sagemaker", "fraud"), tagged_role_client(emulator, "sagemaker", "recsys")
    with pytest.raises(ClientError, match="AccessDenied"):  # no policy: no other account
        fraud.describe_model_package(ModelPackageName=arn)
    sagemaker.put_model_package_group_policy(
        ModelPackageGroupName=group,
        ResourcePolicy=admit_team(
            "fraud",
            ["sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages"],
            [group_arn, f"arn:aws:sagemaker:us-east-1:{SOURCE}:model-package/{group}/*"],
        ),
    )
    assert fraud.describe_model_package(ModelPackageName=arn)["ModelPackageArn"] == arn
    assert [
        p["ModelPackageArn"] for p in fraud.list_model_packages(ModelPackageGroupName=group_arn)["ModelPackageSummaryList"]
    ] == [arn]
    for call in (
        lambda: recsys.describe_model_package(ModelPackageName=arn),
        lambda: recsys.list_model_packages(ModelPackageGroupName=group_arn),
    ):
        with pytest.raises(ClientError, match="AccessDenied"):
            call()
    with pytest.raises(ClientError):  # the caller's own account has no such package: as before the patch
        client(emulator, "sagemaker", TARGET).describe_model_package(ModelPackageName=f"{group}/1")


def test_an_image_digest_is_the_sha256_of_its_manifest(emulator):
    ecr = client(emulator, "ecr", SOURCE)
    repository = f"patch-digest-{uuid.uuid4().hex[:6]}"
    ecr.create_repository(repositoryName=repository)
    digests = []
    for name in ("a", "b"):
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {
                    "mediaType": "application/vnd.docker.container.image.v1+json",
                    "size": 1,
                    "digest": "sha256:" + hashlib.sha256(name.encode()).hexdigest(),
                },
                "layers": [],
            }
        )
        digest = ecr.put_image(repositoryName=repository, imageManifest=manifest, imageTag=name)["image"]["imageId"][
            "imageDigest"
        ]
        assert digest == "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()
        digests.append(digest)
    assert digests[0] != digests[1]


def test_ecr_layers_read_back_and_pulled_across_accounts_only_as_the_repository_policy_admits(emulator):
    ecr = client(emulator, "ecr", SOURCE)
    repository = f"patch-repo-{uuid.uuid4().hex[:6]}"
    ecr.create_repository(repositoryName=repository)
    blob = b"a layer's bytes"
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    upload = ecr.initiate_layer_upload(repositoryName=repository)["uploadId"]
    ecr.upload_layer_part(
        repositoryName=repository, uploadId=upload, partFirstByte=0, partLastByte=len(blob) - 1, layerPartBlob=blob
    )
    ecr.complete_layer_upload(repositoryName=repository, uploadId=upload, layerDigests=[digest])
    url = ecr.get_download_url_for_layer(repositoryName=repository, layerDigest=digest)["downloadUrl"]
    with urllib.request.urlopen(url) as response:
        assert response.read() == blob
    with pytest.raises(ClientError, match="LayersNotFound"):
        ecr.get_download_url_for_layer(repositoryName=repository, layerDigest="sha256:" + "0" * 64)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": digest, "size": len(blob)},
            "layers": [],
        }
    )
    image = ecr.put_image(repositoryName=repository, imageManifest=manifest, imageTag="v1")["image"]["imageId"]["imageDigest"]

    fraud, recsys = tagged_role_client(emulator, "ecr", "fraud"), tagged_role_client(emulator, "ecr", "recsys")
    pull = lambda c: c.batch_get_image(registryId=SOURCE, repositoryName=repository, imageIds=[{"imageDigest": image}])
    with pytest.raises(ClientError, match="AccessDenied"):  # no repository policy: no other account
        pull(fraud)
    ecr.set_repository_policy(
        repositoryName=repository,
        policyText=admit_team("fraud", ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]),
    )
    assert pull(fraud)["images"][0]["imageManifest"] == manifest
    assert fraud.batch_check_layer_availability(registryId=SOURCE, repositoryName=repository, layerDigests=[digest])["layers"]
    assert (
        fraud.get_download_url_for_layer(registryId=SOURCE, repositoryName=repository, layerDigest=digest)["downloadUrl"] == url
    )
    with pytest.raises(ClientError, match="AccessDenied"):
        pull(recsys)
