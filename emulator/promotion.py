"""A promotion dev -> prod played on one emulator with two accounts (`local` 123456789012 and
`localprod` 210987654321 in the example config): both stacks applied with real Terraform, a model
trained and approved in the source, promoted (ops/promote.py) by an operator of the target account,
approved and deployed there, its lineage traced and rebuilt from the target's copies only.

Used by `python main.py demo-promotion` and tests/integration/test_promotion.py. Each account is
reached with its own credentials: on the emulator the access key names the account
(emulator/patches_accounts.py); the operator of the target is a role tagged with the team, with the
target's promoter policy attached, as an administrator of the real account would set it up.
"""
from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3

import ops  # noqa: F401  (puts lambdas/ on sys.path)
from common import aws as common_aws
from modules.naming import TeamContext
from modules.promotion import promoter_policy_name

OPERATOR_ROLE = "promotion-operator"


@contextmanager
def as_account(account_id: str) -> Iterator[None]:
    """Default credentials of `account_id` for the duration (boto3 clients created meanwhile use them)."""
    saved = os.environ.get("AWS_ACCESS_KEY_ID")
    os.environ["AWS_ACCESS_KEY_ID"] = account_id
    common_aws.reset_clients()
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("AWS_ACCESS_KEY_ID", None)
        else:
            os.environ["AWS_ACCESS_KEY_ID"] = saved
        common_aws.reset_clients()


def apply_in_parallel(directories: list[Path], env: dict[str, str]) -> None:
    """`terraform init` + `apply` of each stack directory, all at once (an apply mostly waits on the provider)."""
    from emulator.terraform import Terraform

    errors: list[BaseException] = []

    def apply(directory: Path) -> None:
        try:
            terraform = Terraform(directory, env=env)
            terraform.init()
            terraform.apply()
        except BaseException as error:  # noqa: BLE001  (reported after every apply has ended)
            errors.append(error)

    threads = [threading.Thread(target=apply, args=(d,)) for d in directories]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def operator_session(target: TeamContext, team_tag: str, region: str) -> boto3.Session:
    """A principal of the target account tagged `Team=<team_tag>` with the target's promoter policy, as
    the account's administrators would give the team's operators (created once, then assumed)."""
    name = f"{OPERATOR_ROLE}-{team_tag}"
    with as_account(target.account_id):
        iam = boto3.client("iam")
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                          "Principal": {"AWS": f"arn:aws:iam::{target.account_id}:root"}}]}
        try:
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust), Tags=[{"Key": "Team", "Value": team_tag}])
            iam.attach_role_policy(RoleName=name, PolicyArn=f"arn:aws:iam::{target.account_id}:policy/{promoter_policy_name(target)}")
        except iam.exceptions.EntityAlreadyExistsException:
            pass
        credentials = boto3.client("sts").assume_role(RoleArn=f"arn:aws:iam::{target.account_id}:role/{name}",
                                                      RoleSessionName="promote")["Credentials"]
    return boto3.Session(aws_access_key_id=credentials["AccessKeyId"], aws_secret_access_key=credentials["SecretAccessKey"],
                         aws_session_token=credentials["SessionToken"], region_name=region)


def target_state(target: TeamContext) -> dict[str, Any]:
    """Everything a promotion writes in the target: object versions, images, model packages."""
    with as_account(target.account_id):
        s3, ecr, sagemaker = boto3.client("s3"), boto3.client("ecr"), boto3.client("sagemaker")
        state: dict[str, Any] = {}
        for purpose in ("artifacts", "curated"):
            bucket = target.bucket_name(purpose)
            versions = s3.list_object_versions(Bucket=bucket).get("Versions", [])
            state[bucket] = sorted((v["Key"], v["VersionId"]) for v in versions)
        for purpose in ("training", "inference"):
            images = ecr.list_images(repositoryName=f"{target.prefix}-{purpose}")["imageIds"]
            state[purpose] = sorted(i["imageDigest"] for i in images)
        packages = sagemaker.list_model_packages(ModelPackageGroupName=target.model_package_group_name("models"))
        state["packages"] = sorted(p["ModelPackageArn"] for p in packages["ModelPackageSummaryList"])
    return state
