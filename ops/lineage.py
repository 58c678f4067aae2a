"""Which exact model is in production, and how to rebuild it.

    endpoint -> endpoint config -> model -> model package version -> training job
             -> images (digests), hyperparameters, code bundle (sha256, S3 VersionId, git commit),
                data manifest (verified by sha256), holdout metric (the artifact's evaluation.json)

Everything is read from AWS (or the emulator): the endpoint's live config, the deployed-model pointer
the deploy handler writes, and the lineage metadata the register handler puts on the model package.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import boto3
from botocore.exceptions import ClientError

from common.aws import optional_json_parameter
from common.manifest import ManifestError, read_manifest
from contract.names import TeamContext
from ops.errors import LineageError


@dataclass
class Lineage:
    endpoint: str
    endpoint_status: str
    endpoint_config: str
    model: str
    instance_type: str
    image: str
    model_data_url: str
    model_package_arn: str | None = None
    model_package_version: int | None = None
    approval_status: str | None = None
    run_id: str | None = None
    training_job: str | None = None
    training_job_status: str | None = None
    training_image: str | None = None
    image_digest: str | None = None
    hyperparameters: dict[str, str] = field(default_factory=dict)
    inference_image_digest: str | None = None
    code_uri: str | None = None
    code_sha256: str | None = None
    code_version_id: str | None = None
    code_git_commit: str | None = None
    holdout_metric: str | None = None
    holdout_value: float | None = None
    holdout_rows: str | None = None
    manifest_uri: str | None = None
    manifest_sha256: str | None = None
    manifest_verified: bool = False
    manifest_objects: int = 0
    manifest_bytes: int = 0
    baseline_uri: str | None = None
    manifest_versions: list[str] = field(default_factory=list)  # key@VersionId of every pinned object
    data_report_uri: str | None = None
    metrics_uri: str | None = None
    decision: str | None = None
    description: str | None = None
    champion_package_arn: str | None = None
    champion_value: float | None = None
    # A promoted model (ops/promote.py): the package it was copied from, in the source's account.
    source_package_arn: str | None = None
    source_manifest_uri: str | None = None
    source_manifest_sha256: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def trace(ctx: TeamContext) -> Lineage:
    sagemaker = boto3.client("sagemaker")
    try:
        endpoint = sagemaker.describe_endpoint(EndpointName=ctx.endpoint_name)
    except ClientError as error:
        raise LineageError(f"endpoint {ctx.endpoint_name} not found: is the stack deployed? ({error})") from None
    config_name = endpoint["EndpointConfigName"]
    config = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
    variant = config["ProductionVariants"][0]
    model = sagemaker.describe_model(ModelName=variant["ModelName"])
    container = model.get("PrimaryContainer") or model["Containers"][0]
    lineage = Lineage(
        endpoint=ctx.endpoint_name,
        endpoint_status=endpoint.get("EndpointStatus", "?"),
        endpoint_config=config_name,
        model=variant["ModelName"],
        instance_type=variant.get("InstanceType", "?"),
        image=container.get("Image", "?"),
        model_data_url=container.get("ModelDataUrl", "?"),
    )

    pointer = deployed_pointer(ctx)
    if not pointer or not pointer.get("model_package_arn") or pointer.get("endpoint_config_name") != config_name:
        return lineage  # the bootstrap model from config: no training run behind it
    package = sagemaker.describe_model_package(ModelPackageName=pointer["model_package_arn"])
    metadata = package.get("CustomerMetadataProperties") or {}
    lineage.model_package_arn = package["ModelPackageArn"]
    lineage.model_package_version = package.get("ModelPackageVersion")
    lineage.approval_status = package.get("ModelApprovalStatus")
    lineage.run_id = metadata.get("run_id")
    lineage.image_digest = metadata.get("image_digest")
    lineage.hyperparameters = json.loads(metadata.get("hyperparameters") or "{}")
    lineage.inference_image_digest = metadata.get("inference_image_digest")
    lineage.code_uri = metadata.get("code_uri")
    lineage.code_sha256 = metadata.get("code_sha256")
    lineage.code_version_id = metadata.get("code_version_id")
    lineage.code_git_commit = metadata.get("code_git_commit")
    lineage.holdout_metric = metadata.get("holdout_metric")
    lineage.holdout_value = float(metadata["holdout_value"]) if metadata.get("holdout_value") else None
    lineage.holdout_rows = metadata.get("holdout_rows")
    lineage.manifest_uri = metadata.get("manifest_uri")
    lineage.manifest_sha256 = metadata.get("manifest_sha256")
    lineage.baseline_uri = metadata.get("baseline_uri")
    lineage.data_report_uri = metadata.get("data_report_uri")
    lineage.metrics_uri = metadata.get("metrics_uri")
    lineage.decision = metadata.get("decision")
    lineage.description = package.get("ModelPackageDescription")
    lineage.champion_package_arn = metadata.get("champion_package_arn")
    champion_value = metadata.get("champion_value")
    lineage.champion_value = float(champion_value) if champion_value not in (None, "", "none") else None
    lineage.source_package_arn = metadata.get("source_package_arn")
    lineage.source_manifest_uri = metadata.get("source_manifest_uri")
    lineage.source_manifest_sha256 = metadata.get("source_manifest_sha256")
    job_arn = metadata.get("training_job_arn", "")
    if job_arn and job_arn.split(":")[4:5] != [ctx.account_id]:
        lineage.training_job = job_arn.rsplit("/", 1)[-1]  # trained in the source's account (promoted)
    elif job_arn:
        job = sagemaker.describe_training_job(TrainingJobName=job_arn.rsplit("/", 1)[-1])
        lineage.training_job = job["TrainingJobName"]
        lineage.training_job_status = job.get("TrainingJobStatus")
        lineage.training_image = job["AlgorithmSpecification"]["TrainingImage"]
    if lineage.manifest_uri:
        try:
            manifest = read_manifest(lineage.manifest_uri, lineage.manifest_sha256)
            lineage.manifest_verified = True
            lineage.manifest_objects = len(manifest["objects"])
            lineage.manifest_bytes = sum(int(o.get("size", 0)) for o in manifest["objects"])
            lineage.manifest_versions = [f"{o['key']}@{o['version_id']}" for o in manifest["objects"]]
        except ManifestError:
            lineage.manifest_verified = False
    return lineage


def deployed_pointer(ctx: TeamContext) -> dict[str, Any] | None:
    return optional_json_parameter(ctx.parameter_name("deployed-model"), ssm=boto3.client("ssm"))


def render(lineage: Lineage, stack: str) -> str:
    lines = [
        f"In production for {stack}:",
        f"  endpoint          {lineage.endpoint} ({lineage.endpoint_status})",
        f"  endpoint config   {lineage.endpoint_config}",
        f"  model             {lineage.model} on {lineage.instance_type}",
        f"  image             {lineage.image}",
        f"  model artifact    {lineage.model_data_url}",
    ]
    if not lineage.model_package_arn:
        lines.append("  (the bootstrap model from config: no training run produced it yet)")
        return "\n".join(lines)
    verified = "sha256 verified" if lineage.manifest_verified else "sha256 MISMATCH or unreadable"
    lines += [
        f"  model package     version {lineage.model_package_version} ({lineage.approval_status}) {lineage.model_package_arn}",
        f"  training run      {lineage.run_id}",
        f"  training job      {lineage.training_job} ({lineage.training_job_status})",
        f"  training image    {lineage.training_image} (digest {lineage.image_digest})",
        f"  hyperparameters   {json.dumps(lineage.hyperparameters, sort_keys=True)}",
        f"  serving image     digest {lineage.inference_image_digest}",
        f"  code bundle       sha256 {lineage.code_sha256}",
        f"                    {lineage.code_uri} (VersionId {lineage.code_version_id})",
        f"                    git commit {lineage.code_git_commit}",
        f"  data manifest     {lineage.manifest_uri}",
        f"                    {lineage.manifest_objects} object version(s), {lineage.manifest_bytes} bytes, {verified}",
        *[f"                    s3://.../{version}" for version in lineage.manifest_versions],
        f"  data gate report  {lineage.data_report_uri}",
        f"  holdout metric    {lineage.holdout_metric} = {lineage.holdout_value} on {lineage.holdout_rows} rows (evaluation.json)",
        f"  champion          {lineage.champion_package_arn} ({lineage.holdout_metric} {lineage.champion_value} on the same holdout)",
        f"  registration      {lineage.description}",
        f"  model metrics     {lineage.metrics_uri}",
        f"  drift baseline    {lineage.baseline_uri}",
    ]
    if lineage.source_package_arn:
        lines += [
            f"  promoted from     {lineage.source_package_arn}",
            f"                    source manifest {lineage.source_manifest_uri} (sha256 {lineage.source_manifest_sha256})",
        ]
    lines += [
        "How to rebuild it (same data versions, image, hyperparameters and code bundle):",
        f"  python main.py rebuild {stack} --version {lineage.model_package_version}",
    ]
    return "\n".join(lines)
