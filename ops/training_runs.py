"""Operator-started training runs: `train` (now, on the current data) and `rebuild` (a registered
model's exact inputs). Operator runs are not rate-limited by the retrain cooldown lock, which damps
automatic triggers (alarm storms, duplicate deliveries); they are recorded as runs all the same, so
the register handler registers their result like any other.

Rebuild: a new training job with exactly the inputs of the original run.

Inputs come from the model package's lineage (and the run record, which holds values too long for
package metadata): the data manifest (object keys + VersionIds, verified by sha256, so the job reads
the same bytes even if the data has changed since), the training image (pinned by digest), the
hyperparameters and the code bundle (its sha256-named object, checked to still be the recorded
VersionId with the recorded sha256). The job is started by the same `common.training.start_training_job` the retrain handler
uses, and recorded as a run so the register handler registers its result like any other.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import boto3

from common import aws, runs
from common.champion import live_champion
from common.manifest import read_manifest
from common.training import check_code, new_run_id, pin_image, start_training_job
from common.training_data import prepare_for
from contract.environment import LambdaEnvironment
from contract.names import TeamContext
from contract.recipes import TrainingRecipe
from contract.runs import RunInputs
from ops.code_publish import publish_code
from ops.errors import DataRefused, LineageError
from ops.functions import deployed_configuration
from ops.lineage import deployed_pointer


def find_package(ctx: TeamContext, group: str, version: int | None) -> dict[str, Any]:
    sagemaker = boto3.client("sagemaker")
    if version is None:
        pointer = deployed_pointer(ctx)
        if not pointer:
            raise LineageError(f"{ctx.endpoint_name} serves no registered model yet; pass --version N")
        return sagemaker.describe_model_package(ModelPackageName=pointer["model_package_arn"])
    paginator = sagemaker.get_paginator("list_model_packages")
    for page in paginator.paginate(ModelPackageGroupName=group):
        for summary in page["ModelPackageSummaryList"]:
            if summary.get("ModelPackageVersion") == version:
                return sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
    raise LineageError(f"model package group {group} has no version {version}")


def original_inputs(table: str, package: dict[str, Any]) -> dict[str, Any]:
    """The original run's inputs: the run record in `table` where it exists (full values), else package
    metadata."""
    metadata = package.get("CustomerMetadataProperties") or {}
    run = runs.get_run(table, metadata["run_id"]) if metadata.get("run_id") else None
    source = run or metadata
    hyperparameters = source.get("hyperparameters") or {}
    if isinstance(hyperparameters, str):
        hyperparameters = json.loads(hyperparameters)
    code = source.get("code") or {k: metadata.get(f"code_{k}") for k in ("uri", "sha256", "version_id", "git_commit")}
    return {
        "run_id": metadata.get("run_id"),
        "manifest_uri": source["manifest_uri"],
        "manifest_sha256": source["manifest_sha256"],
        "image_uri": source["image_uri"],
        "inference_image_uri": source.get("inference_image_uri") or metadata.get("inference_image_uri"),
        "hyperparameters": hyperparameters,
        "code": check_code(code),
        # The original's champion (scored again on the same holdout) and its data report (the same data).
        "champion_model_uri": (run or {}).get("champion_model_uri"),
        "champion_package_arn": (run or {}).get("champion_package_arn"),
        "data_report_uri": (run or {}).get("data_report_uri") or metadata.get("data_report_uri"),
    }


def check_bundle_version(code: dict[str, str]) -> None:
    """The recorded bundle must still be in S3 at its recorded VersionId, with its recorded sha256."""
    bucket, key = code["uri"].removeprefix("s3://").split("/", 1)
    head = aws.client("s3").head_object(Bucket=bucket, Key=key, VersionId=code["version_id"])
    if head.get("Metadata", {}).get("sha256") != code["sha256"]:
        raise LineageError(f"code bundle {code['uri']} version {code['version_id']} is not the recorded sha256 {code['sha256']}")


def _recipe(parameter: str) -> TrainingRecipe:
    return aws.recipe_parameter(parameter, TrainingRecipe)


def _start_run(
    environment: LambdaEnvironment,
    recipe: TrainingRecipe,
    run_id: str,
    manifest_uri: str,
    manifest_sha256: str,
    object_count: int,
    trigger: str,
    code: dict[str, str],
    image_uri: str | None = None,
    inference_image_uri: str | None = None,
    hyperparameters: dict[str, str] | None = None,
    champion_model_uri: str | None = None,
    **extra: str | None,
) -> dict[str, Any]:
    """Start the job (the handlers' own start_training_job) and record the run the register handler reads.
    Images default to the recipe's, pinned by digest now."""
    ecr = aws.client("ecr")
    image_uri = image_uri or pin_image(ecr, recipe.image_uri)
    inference_image_uri = inference_image_uri or pin_image(ecr, recipe.inference_image_uri)
    job = start_training_job(
        aws.client("sagemaker"),
        recipe,
        run_id,
        manifest_uri,
        manifest_sha256,
        image_uri,
        code,
        hyperparameters=hyperparameters,
        prefix=environment.prefix,
        team=environment.team,
        environment=environment.environment,
        champion_model_uri=champion_model_uri,
    )
    runs.put_run(
        environment.runs_table,
        run_id,
        runs.TRAINING,
        RunInputs(
            training_job_name=job["training_job_name"],
            manifest_uri=manifest_uri,
            manifest_sha256=manifest_sha256,
            object_count=object_count,
            image_uri=job["image_uri"],
            inference_image_uri=inference_image_uri,
            hyperparameters=job["hyperparameters"],
            code=job["code"],
            trigger=trigger,
        ),
        training_job_arn=job["training_job_arn"],
        champion_model_uri=champion_model_uri,
        **extra,
    )
    return {
        "run_id": run_id,
        "training_job_name": job["training_job_name"],
        "inputs": {
            "manifest_uri": manifest_uri,
            "manifest_sha256": manifest_sha256,
            "image_uri": job["image_uri"],
            "inference_image_uri": inference_image_uri,
            "hyperparameters": job["hyperparameters"],
            "code": job["code"],
        },
    }


def train(ctx: TeamContext, source_dir: Path, reason: str = "operator") -> dict[str, Any]:
    """A training run on the data and code as they are now (the code published, the data pinned by a new
    manifest), from the deployed recipe."""
    code = check_code(publish_code(ctx, source_dir))
    environment = deployed_configuration(ctx, "retrain")  # the retrain function's own configuration
    recipe = _recipe(environment.training_recipe_parameter)
    ecr = aws.client("ecr")
    image, inference_image = pin_image(ecr, recipe.image_uri), pin_image(ecr, recipe.inference_image_uri)
    run_id = new_run_id()
    # The same data path as the retrain handler: fresh labels curated, the policy's versions pinned, the
    # data gate before any job; the live model (if any) goes in as the champion.
    champion = live_champion(environment.deployed_model_parameter, environment.artifact_bucket)
    prepared = prepare_for(environment, run_id, recipe, dt.datetime.now(dt.UTC), champion.manifest if champion else None)
    if not prepared.passed:
        raise DataRefused(
            f"the data gate refused run {run_id}: {'; '.join(prepared.report['reasons'])} "
            f"(report {prepared.report_uri}); no training job was started"
        )
    stored = prepared.manifest
    return _start_run(
        environment,
        recipe,
        run_id,
        stored.uri,
        stored.sha256,
        len(stored.manifest["objects"]),
        f"operator:{reason}",
        code,
        image,
        inference_image,
        champion_model_uri=champion.model_data_url if champion else None,
        champion_package_arn=champion.package_arn if champion else None,
        data_report_uri=prepared.report_uri,
    )


def rebuild(ctx: TeamContext, version: int | None = None) -> dict[str, Any]:
    environment = deployed_configuration(ctx, "retrain")  # the retrain function's own configuration
    package = find_package(ctx, environment.model_package_group, version)
    inputs = original_inputs(environment.runs_table, package)
    manifest = read_manifest(inputs["manifest_uri"], inputs["manifest_sha256"])  # refuses a changed manifest
    check_bundle_version(inputs["code"])
    started = _start_run(
        environment,
        _recipe(environment.training_recipe_parameter),
        new_run_id(),
        inputs["manifest_uri"],
        inputs["manifest_sha256"],
        len(manifest["objects"]),
        f"rebuild:v{package.get('ModelPackageVersion')}",
        inputs["code"],
        image_uri=inputs["image_uri"],
        inference_image_uri=inputs["inference_image_uri"],
        hyperparameters=inputs["hyperparameters"],
        champion_model_uri=inputs["champion_model_uri"],
        champion_package_arn=inputs["champion_package_arn"],
        data_report_uri=inputs["data_report_uri"],
        rebuild_of=package["ModelPackageArn"],
    )
    return {**started, "rebuild_of": package["ModelPackageArn"], "original_run_id": inputs["run_id"]}
