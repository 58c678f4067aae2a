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

from common import aws as common_aws
from contract.names import TeamContext
from modules.promotion import promoter_policy_name

OPERATOR_ROLE = "promotion-operator"


@contextmanager
def as_account(account_id: str) -> Iterator[None]:
    """Default credentials of `account_id` for the duration (boto3 clients created meanwhile use them)."""
    saved = os.environ.get("AWS_ACCESS_KEY_ID")
    os.environ["AWS_ACCESS_KEY_ID"] = account_id
    _forget_credentials()
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("AWS_ACCESS_KEY_ID", None)
        else:
            os.environ["AWS_ACCESS_KEY_ID"] = saved
        _forget_credentials()


def _forget_credentials() -> None:
    """boto3's default session keeps the credentials it first resolved: a new one reads the environment again."""
    boto3.DEFAULT_SESSION = None
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
        except BaseException as error:
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
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": f"arn:aws:iam::{target.account_id}:root"}}
            ],
        }
        try:
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust), Tags=[{"Key": "Team", "Value": team_tag}])
            iam.attach_role_policy(
                RoleName=name, PolicyArn=f"arn:aws:iam::{target.account_id}:policy/{promoter_policy_name(target)}"
            )
        except iam.exceptions.EntityAlreadyExistsException:
            pass
        credentials = boto3.client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{target.account_id}:role/{name}", RoleSessionName="promote"
        )["Credentials"]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=region,
    )


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


def run_promotion_demo(
    config_path: str | None = None, team: str = "fraud", source: str = "local", target: str = "localprod"
) -> int:
    """`python main.py demo-promotion`: the whole path on a fresh emulator, printed step by step."""
    from emulator.demo import Progress, on_emulator

    progress = Progress()
    return on_emulator(
        progress,
        "Starting the embedded AWS emulator (two accounts: the access key names the account)",
        lambda: _promotion_steps(progress, config_path, team, source, target),
    )


def _promotion_steps(progress, config_path: str | None, team: str, source: str, target: str) -> None:
    import shutil

    from config.platform import context_for, load_config, stack_name
    from emulator.demo import WORK, expect
    from emulator.loop import LoopDriver
    from main import source_dir_of
    from ops.lineage import render, trace
    from ops.promote import promote
    from ops.training_runs import rebuild, train
    from stacks.app import build_app

    config = load_config(config_path)
    names = [stack_name(team, source), stack_name(team, target)]
    src, tgt = (context_for(config, n) for n in names)
    expect(src.is_emulator and tgt.is_emulator, f"{names} must both be emulator environments")
    progress.step(f"Synthesizing and applying {names[0]} (account {src.account_id}) and {names[1]} (account {tgt.account_id})")
    out = WORK.parent / "demo-promotion"
    shutil.rmtree(out, ignore_errors=True)
    build_app(config, names, outdir=str(out)).synth()
    apply_in_parallel([out / "stacks" / n for n in names], {k: v for k, v in os.environ.items() if k.startswith("AWS_")})

    progress.step(f"In {names[0]}: images, data, a training run, registration, approval")
    driver = LoopDriver(src)
    driver.push_team_image()
    driver.upload_training_data()
    started = train(src, source_dir_of(config, names[0]), "to promote")
    produced, deliveries = driver.complete_training(started["training_job_name"])
    expect(produced["status"] == "Completed", f"training {produced['status']}: {produced['failure_reason']}")
    package_arn = next(d.result for d in deliveries if d.handler == "register")["model_package_arn"]
    version = boto3.client("sagemaker").describe_model_package(ModelPackageName=package_arn)["ModelPackageVersion"]
    boto3.client("sagemaker").update_model_package(ModelPackageArn=package_arn, ModelApprovalStatus="Approved")
    progress.say(f"{package_arn} Approved (holdout {produced['evaluation']['metric']} = {produced['evaluation']['value']:.4f})")

    progress.step(f"python main.py promote {team} --from {source} --to {target} --version {version}")
    progress.say(f"as an operator of account {tgt.account_id} tagged Team={team}, with the policy {promoter_policy_name(tgt)}")
    session = operator_session(tgt, team, tgt.region)
    result = promote(config, team, source, target, version, session=session)
    expect(result["promoted"], f"not promoted: {result}")
    for name, value in result["copies"].items():
        progress.say(f"{name:<22} {value}")
    progress.say(f"-> {result['model_package_arn']} ({result['approval_status']})")
    again = promote(config, team, source, target, version, session=session)
    expect(not again["promoted"], f"a second promotion changed something: {again}")
    progress.say(f"a second promotion: {again['reason']}")

    with as_account(tgt.account_id):
        progress.step(f"In {names[1]}: its own approval, then its deploy handler deploys")
        target_driver = LoopDriver(tgt)
        deployed = next(d.result for d in target_driver.approve(result["model_package_arn"]) if d.handler == "deploy")
        expect(deployed.get("deployed"), f"deploy did not deploy: {deployed}")
        target_driver.endpoint_state_changed()
        progress.step(f"python main.py lineage {names[1]}")
        lineage = trace(tgt)
        print("\n".join(f"     {line}" for line in render(lineage, names[1]).splitlines()))
        expect(lineage.source_package_arn == package_arn, "the lineage does not show the origin")

        progress.step(f"python main.py rebuild {names[1]} --version {lineage.model_package_version} (the target's copies only)")
        rebuilt = rebuild(tgt, lineage.model_package_version)
        _, deliveries = target_driver.complete_training(rebuilt["training_job_name"])
        registered = next(d.result for d in deliveries if d.handler == "register")
        metadata = boto3.client("sagemaker").describe_model_package(ModelPackageName=registered["model_package_arn"])[
            "CustomerMetadataProperties"
        ]
    for key, value in (
        ("code_sha256", lineage.code_sha256),
        ("image_digest", lineage.image_digest),
        ("manifest_sha256", lineage.manifest_sha256),
        ("holdout_value", repr(lineage.holdout_value)),
    ):
        expect(metadata.get(key) == value, f"the rebuild's {key} {metadata.get(key)} differs from {value}")
        progress.say(f"{key:<16} {value}: reproduced")
