"""Promotion across accounts on the emulator: `fraud-local` (account 123456789012) and `fraud-localprod`
(210987654321) applied with real Terraform (tests/integration/conftest.py applies both at once and keeps
them as applied in a snapshot); a model trained in the source, refused while not Approved or when
tampered with (nothing copied), promoted once Approved (a second promotion changes nothing), approved and
deployed in the target, its lineage traced to the source, and rebuilt in the target from the target's
copies only with the same bundle, image digest, manifest and metric. Another team's operator of the
target account is refused by the source's resource policies."""

from __future__ import annotations

import json

import boto3
import pytest

from tests.integration.conftest import PROMOTION_TARGET, STACK

SOURCE, TARGET = STACK, PROMOTION_TARGET


@pytest.fixture(scope="module")
def world(deployed_stack, emulator):
    """Both stacks as applied (whatever ran before on the shared emulator), and a model trained and
    registered in the source."""
    from config.platform import context_for, load_config, with_emulator_override
    from emulator.loop import LoopDriver
    from main import source_dir_of
    from ops.training_runs import train

    emulator.restore(STACK)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in emulator.client_env().items():
            patch.setenv(name, value)
        config = with_emulator_override(load_config())
        source, target = context_for(config, SOURCE), context_for(config, TARGET)
        driver = LoopDriver(source)
        driver.push_team_image()
        driver.upload_training_data()
        started = train(source, source_dir_of(config, SOURCE), "to promote")
        produced, deliveries = driver.complete_training(started["training_job_name"])
        assert produced["status"] == "Completed", produced
        registered = next(d.result for d in deliveries if d.handler == "register")
        assert registered["approval_status"] == "PendingManualApproval", registered
        package = boto3.client("sagemaker").describe_model_package(ModelPackageName=registered["model_package_arn"])
        yield {
            "config": config,
            "source": source,
            "target": target,
            "driver": driver,
            "package": package,
            "evaluation": produced["evaluation"],
        }


def promote_as(world, team_tag: str = "fraud"):
    from emulator.promotion import operator_session
    from ops.promote import promote

    session = operator_session(world["target"], team_tag, world["target"].region)
    version = world["package"]["ModelPackageVersion"]
    return promote(world["config"], "fraud", "local", "localprod", version, session=session)


def refused(world, match: str, team_tag: str = "fraud") -> None:
    from emulator.promotion import target_state
    from ops.errors import PromotionError

    before = target_state(world["target"])
    with pytest.raises(PromotionError, match=match) as caught:
        promote_as(world, team_tag)
    assert "nothing copied" in str(caught.value)
    assert target_state(world["target"]) == before, "a refused promotion changed the target"


def set_status(world, status: str) -> None:
    boto3.client("sagemaker").update_model_package(
        ModelPackageArn=world["package"]["ModelPackageArn"], ModelApprovalStatus=status
    )


def test_a_package_not_approved_in_the_source_is_refused(world):
    refused(world, "is PendingManualApproval in mlp-fraud-local, not Approved")
    set_status(world, "Rejected")
    refused(world, "is Rejected in mlp-fraud-local, not Approved")


def test_a_tampered_manifest_or_a_gone_image_is_refused(world):
    set_status(world, "Approved")
    s3 = boto3.client("s3")
    metadata = world["package"]["CustomerMetadataProperties"]
    bucket, key = metadata["manifest_uri"].removeprefix("s3://").split("/", 1)
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    manifest["objects"][0]["size"] += 1  # one changed number: the sha256 the package records no longer verifies
    kms = world["driver"].env["KMS_KEY_ARN"]
    tampered = s3.put_object(
        Bucket=bucket, Key=key, Body=json.dumps(manifest).encode(), ServerSideEncryption="aws:kms", SSEKMSKeyId=kms
    )
    refused(world, "it does not verify")
    s3.delete_object(Bucket=bucket, Key=key, VersionId=tampered["VersionId"])  # the original is current again

    ecr = boto3.client("ecr")
    image = metadata["image_uri"]
    repository, digest = image.split("/", 1)[1].split("@")
    ecr.batch_delete_image(repositoryName=repository, imageIds=[{"imageDigest": digest}])
    refused(world, f"image digest {digest} is gone")
    world["driver"].push_team_image()  # the same image again: the same digest
    assert ecr.batch_get_image(repositoryName=repository, imageIds=[{"imageDigest": digest}])["images"]


def test_another_teams_operator_of_the_target_account_is_refused(world):
    from emulator.promotion import target_state

    before = target_state(world["target"])
    with pytest.raises(Exception, match="AccessDenied"):
        promote_as(world, team_tag="recsys")
    assert target_state(world["target"]) == before


def test_promote_approve_deploy_trace_and_rebuild_in_the_target(world):
    from emulator.iam_check import check_calls, recording, role_statements
    from emulator.loop import LoopDriver
    from emulator.promotion import OPERATOR_ROLE, as_account, operator_session, target_state
    from ops.lineage import trace
    from ops.promote import promote
    from ops.training_runs import rebuild

    source_package, target = world["package"], world["target"]
    # Every call of the promotion, checked against the operator's policies (the target's promoter policy).
    session = operator_session(target, "fraud", target.region)
    with recording(session) as calls:
        result = promote(world["config"], "fraud", "local", "localprod", source_package["ModelPackageVersion"], session=session)
    with as_account(target.account_id):
        statements = role_statements(f"arn:aws:iam::{target.account_id}:role/{OPERATOR_ROLE}-fraud")
        assert check_calls(calls, statements, target) == []
    assert {c.operation for c in calls} >= {"CopyObject", "PutImage", "GetDownloadUrlForLayer", "CreateModelPackage"}
    assert result["promoted"] is True and result["approval_status"] == "PendingManualApproval", result
    assert result["copies"]["data_objects"] == len(
        json.loads(
            boto3.client("s3")
            .get_object(
                **dict(zip(("Bucket", "Key"), source_package["CustomerMetadataProperties"]["manifest_uri"][5:].split("/", 1)))
            )["Body"]
            .read()
        )["objects"]
    )

    state = target_state(target)
    again = promote_as(world)
    assert again["promoted"] is False and again["model_package_arn"] == result["model_package_arn"], again
    assert target_state(target) == state, "a second promotion changed the target"

    with as_account(target.account_id):
        sagemaker = boto3.client("sagemaker")
        promoted = sagemaker.describe_model_package(ModelPackageName=result["model_package_arn"])
        metadata, original = promoted["CustomerMetadataProperties"], source_package["CustomerMetadataProperties"]
        assert metadata["source_package_arn"] == source_package["ModelPackageArn"]
        for key in (
            "run_id",
            "image_digest",
            "inference_image_digest",
            "code_sha256",
            "holdout_metric",
            "holdout_value",
            "hyperparameters",
            "training_job_arn",
        ):
            assert metadata[key] == original[key], key
        for key in ("manifest_uri", "code_uri", "baseline_uri", "image_uri", "inference_image_uri"):
            assert target.account_id in metadata[key] or target.bucket_name("artifacts") in metadata[key], (key, metadata[key])
        assert promoted["InferenceSpecification"]["Containers"][0]["ModelDataUrl"].startswith(
            f"s3://{target.bucket_name('artifacts')}/"
        )
        # The registration's reports (ModelMetrics, the data gate's report) are the target's copies too.
        for key in ("metrics_uri", "data_report_uri"):
            assert original[key].startswith("s3://") and target.bucket_name("artifacts") not in original[key], (
                key,
                original[key],
            )
            bucket, object_key = metadata[key].removeprefix("s3://").split("/", 1)
            assert bucket == target.bucket_name("artifacts"), (key, metadata[key])
            boto3.client("s3").head_object(Bucket=bucket, Key=object_key)
        assert promoted["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"] == metadata["metrics_uri"]

        driver = LoopDriver(target)
        deployed = next(d.result for d in driver.approve(result["model_package_arn"]) if d.handler == "deploy")
        assert deployed.get("deployed"), deployed
        settled = next(d.result for d in driver.endpoint_state_changed() if d.handler == "deploy")
        assert settled.get("autoscaling_registered"), settled

        lineage = trace(target)
        assert lineage.model_package_arn == result["model_package_arn"] and lineage.manifest_verified
        assert lineage.source_package_arn == source_package["ModelPackageArn"]
        assert lineage.source_manifest_sha256 == original["manifest_sha256"]

        rebuilt = rebuild(target, promoted["ModelPackageVersion"])
        inputs = rebuilt["inputs"]
        assert (inputs["manifest_uri"], inputs["manifest_sha256"]) == (metadata["manifest_uri"], metadata["manifest_sha256"])
        assert inputs["image_uri"] == metadata["image_uri"] and inputs["code"]["uri"] == metadata["code_uri"]
        produced, deliveries = driver.complete_training(rebuilt["training_job_name"])
        assert produced["status"] == "Completed", produced
        registered = next(d.result for d in deliveries if d.handler == "register")
        again_package = sagemaker.describe_model_package(ModelPackageName=registered["model_package_arn"])
        rebuilt_metadata = again_package["CustomerMetadataProperties"]
    for key in ("code_sha256", "image_digest", "manifest_sha256", "holdout_value"):
        assert rebuilt_metadata[key] == metadata[key], (key, rebuilt_metadata[key], metadata[key])
    assert produced["evaluation"]["value"] == world["evaluation"]["value"]
