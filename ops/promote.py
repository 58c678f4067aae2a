"""Promote an Approved model package from one environment of a team to another (dev -> prod), across
accounts, as the config's promotion path allows (`teams[].promotions`).

    python main.py promote fraud --from dev --to prod --version 3

Runs in the target account with the caller's credentials: an operator of the team (a principal tagged
`Team = <team>`) with the target's promoter policy (`<target prefix>-promote`, modules/promotion), which
reads the source through the source's resource policies and writes only the target's own resources:

1. the source package version N is found in the source's group and must be Approved there;
2. a package of the target that already carries this source package's ARN is the answer (idempotent:
   nothing is copied or created again);
3. everything is verified before anything is written: the stored manifest's sha256, every pinned data
   object at its VersionId with its ETag, the model artifact, the code bundle at its VersionId with its
   sha256, the drift baseline, and both image digests in the source's repositories (with their blobs);
4. copies, each under the target's KMS key: pinned data to `promoted/<source env>/<key>` in the target's
   curated bucket, the model artifact, code bundle and baseline to the same keys in the target's
   artifacts bucket, a manifest of the copies (same run id, keys, sizes; the target's VersionIds) to
   `manifests/<run_id>.json`; the images by digest into the target's repositories (manifest bytes
   unchanged, so the digest is the same; tag `sha256-<hex>` so the untagged-image expiry spares them);
   a copy already made by an interrupted run (same source object version, recorded in the copy's
   metadata) is reused;
5. a package version in the target's group, PendingManualApproval whatever the target's auto-approval
   (the target approves it itself), with the source's lineage and metric, the target's copies, and the
   source package's ARN and manifest.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import ClientError

from common.aws import RETRY_CONFIG
from common.manifest import canonical_json, parse_s3_uri, sha256_hex
from common.training import ECR_IMAGE
from config.platform import PlatformConfig, context_for, stack_name
from contract.names import TeamContext
from modules.promotion import PROMOTED_DATA_PREFIX
from ops.errors import PromotionError

COPY_MARKER = "mlp-promoted-from"  # user metadata of every copy: the source object version it came from
IMAGE_MEDIA_TYPES = ["application/vnd.docker.distribution.manifest.v2+json", "application/vnd.oci.image.manifest.v1+json"]
REQUIRED = (
    "run_id",
    "manifest_uri",
    "manifest_sha256",
    "image_uri",
    "inference_image_uri",
    "code_uri",
    "code_sha256",
    "code_version_id",
    "baseline_uri",
    "training_job_arn",
)
NO_BASELINE = "none"  # lambdas/register: a team without features records no baseline
# The registration's reports (lambdas/register): the ModelMetrics document and the data gate's report,
# copied so the target's package names only the target's objects. "none": the run had no such report.
REPORTS = (("metrics_uri", "evaluations/", "model metrics"), ("data_report_uri", "manifests/", "data gate report"))


@dataclass(frozen=True)
class PromotionPath:
    team: str
    source: TeamContext
    target: TeamContext
    group: str  # the team's first model package group (the one the loop registers into), without prefix


def promotion_path(config: PlatformConfig, team: str, source: str, target: str) -> PromotionPath:
    """The declared path, or PromotionError naming what the config lacks."""
    spec = next((t for t in config.teams if t.name == team), None)
    if spec is None:
        raise PromotionError(f"team {team!r} is not in the config; teams: {[t.name for t in config.teams]}")
    if spec.promotion_from(source, target) is None:
        declared = [f"{p.source} -> {p.target}" for p in spec.promotions] or "none"
        raise PromotionError(f"team {team} declares no promotion {source} -> {target} (teams[].promotions: {declared})")
    return PromotionPath(
        team,
        context_for(config, stack_name(team, source)),
        context_for(config, stack_name(team, target)),
        spec.settings.registry.model_package_groups[0],
    )


def promote(
    config: PlatformConfig, team: str, source: str, target: str, version: int, session: boto3.Session | None = None
) -> dict[str, Any]:
    path = promotion_path(config, team, source, target)
    return Promoter(path, session or boto3.Session(region_name=path.target.region)).run(version)


@dataclass
class Plan:
    """What was verified in the source and will be copied."""

    package: dict[str, Any]
    metadata: dict[str, str]
    model_data: tuple[str, str]  # bucket, key
    manifest_body: bytes
    manifest: dict[str, Any]
    code: tuple[str, str, str]  # bucket, key, version id
    baseline: tuple[str, str] | None
    images: dict[str, dict[str, Any]] = field(default_factory=dict)  # purpose -> repo, digest, manifest, media type
    reports: dict[str, tuple[str, str]] = field(default_factory=dict)  # metadata key -> bucket, key (REPORTS)


class Promoter:
    def __init__(self, path: PromotionPath, session: boto3.Session):
        self.path, self.source, self.target = path, path.source, path.target
        self.sagemaker = session.client("sagemaker", config=RETRY_CONFIG)
        self.s3 = session.client("s3", config=RETRY_CONFIG)
        self.ecr = session.client("ecr", config=RETRY_CONFIG)
        self.kms = session.client("kms", config=RETRY_CONFIG)

    def run(self, version: int) -> dict[str, Any]:
        package = self.source_package(version)
        arn, status = package["ModelPackageArn"], package.get("ModelApprovalStatus")
        if status != "Approved":
            raise PromotionError(f"{arn} is {status} in {self.source.prefix}, not Approved: nothing copied")
        existing = self.promoted_package(arn)
        if existing is not None:
            return {
                "promoted": False,
                "reason": "already promoted: nothing copied or created",
                "source_package_arn": arn,
                **_summary(existing),
            }
        plan = self.verify(package)
        copies = self.copy(plan)
        created = self.register(plan, copies)
        return {"promoted": True, "source_package_arn": arn, **_summary(created), "copies": copies}

    # --- the source -----------------------------------------------------------------------------

    def source_package(self, version: int) -> dict[str, Any]:
        group = self.source.arn("sagemaker", f"model-package-group/{self.source.model_package_group_name(self.path.group)}")
        for page in self.sagemaker.get_paginator("list_model_packages").paginate(ModelPackageGroupName=group):
            for summary in page["ModelPackageSummaryList"]:
                if summary.get("ModelPackageVersion") == version:
                    return self.sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
        raise PromotionError(f"model package group {group} has no version {version}: nothing copied")

    def verify(self, package: dict[str, Any]) -> Plan:
        """Every input of the package, checked in the source; PromotionError before any write otherwise."""
        arn = package["ModelPackageArn"]
        metadata = dict(package.get("CustomerMetadataProperties") or {})
        missing = [key for key in REQUIRED if not metadata.get(key)]
        if missing:
            raise PromotionError(f"{arn} has no lineage {missing}: not registered by the platform; nothing copied")
        artifacts, curated = self.source.bucket_name("artifacts"), self.source.bucket_name("curated")
        container = package["InferenceSpecification"]["Containers"][0]
        model_data = self._own_object(arn, "model artifact", container.get("ModelDataUrl", ""), artifacts, "models/")
        manifest_at = self._own_object(arn, "manifest", metadata["manifest_uri"], artifacts, "manifests/")
        body = self._get(*manifest_at, what="manifest")
        if sha256_hex(body) != metadata["manifest_sha256"]:
            raise PromotionError(
                f"{arn}: the stored manifest {metadata['manifest_uri']} has sha256 {sha256_hex(body)}, the "
                f"package records {metadata['manifest_sha256']}: it does not verify; nothing copied"
            )
        manifest = json.loads(body)
        if manifest.get("bucket") != curated:
            raise PromotionError(f"{arn}: the manifest pins data in {manifest.get('bucket')!r}, not {curated}; nothing copied")
        for entry in manifest["objects"]:
            head = self._head(curated, entry["key"], entry["version_id"], what="pinned data object")
            if entry.get("etag") and head["ETag"].strip('"') != entry["etag"]:
                raise PromotionError(
                    f"{arn}: s3://{curated}/{entry['key']}@{entry['version_id']} has ETag "
                    f"{head['ETag']}, the manifest pinned {entry['etag']}; nothing copied"
                )
        self._head(*model_data, what="model artifact")
        code_at = self._own_object(arn, "code bundle", metadata["code_uri"], artifacts, "code/")
        code = self._head(*code_at, metadata["code_version_id"], what="code bundle")
        if code.get("Metadata", {}).get("sha256") != metadata["code_sha256"]:
            raise PromotionError(
                f"{arn}: code bundle {metadata['code_uri']} version {metadata['code_version_id']} is not "
                f"sha256 {metadata['code_sha256']}; nothing copied"
            )
        baseline = None
        if metadata["baseline_uri"] != NO_BASELINE:
            baseline = self._own_object(arn, "baseline", metadata["baseline_uri"], artifacts, "baselines/")
            self._head(*baseline, what="drift baseline")
        plan = Plan(package, metadata, model_data, body, manifest, (*code_at, metadata["code_version_id"]), baseline)
        for key, image in (("image_uri", metadata["image_uri"]), ("inference_image_uri", container.get("Image", ""))):
            plan.images[key] = self._source_image(arn, image)
        for key, prefix, what in REPORTS:
            if metadata.get(key, NO_BASELINE) != NO_BASELINE:
                plan.reports[key] = self._own_object(arn, what, metadata[key], artifacts, prefix)
                self._head(*plan.reports[key], what=what)
        return plan

    def _own_object(self, arn: str, what: str, uri: str, bucket: str, prefix: str) -> tuple[str, str]:
        try:
            found = parse_s3_uri(uri)
        except ValueError:
            found = ("", "")
        if found[0] != bucket or not found[1].startswith(prefix):
            raise PromotionError(
                f"{arn}: {what} {uri!r} is not under s3://{bucket}/{prefix}: not the source team's; nothing copied"
            )
        return found

    def _head(self, bucket: str, key: str, version: str | None = None, *, what: str) -> dict[str, Any]:
        try:
            return self.s3.head_object(Bucket=bucket, Key=key, **({"VersionId": version} if version else {}))
        except ClientError as error:
            at = f"s3://{bucket}/{key}" + (f"@{version}" if version else "")
            raise PromotionError(f"{what} {at} cannot be read ({_code(error)}): nothing copied") from None

    def _get(self, bucket: str, key: str, *, what: str) -> bytes:
        try:
            return self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as error:
            raise PromotionError(f"{what} s3://{bucket}/{key} cannot be read ({_code(error)}): nothing copied") from None

    def _source_image(self, arn: str, image_uri: str) -> dict[str, Any]:
        """The image's manifest by digest from the source's repository, with its blobs present."""
        match = ECR_IMAGE.match(image_uri)
        purposes = {f"{self.source.prefix}-{p}": p for p in ("training", "inference")}
        if not match or not match["digest"] or match["account"] != self.source.account_id or match["repo"] not in purposes:
            raise PromotionError(
                f"{arn}: image {image_uri!r} is not pinned by digest in the source team's repositories; nothing copied"
            )
        registry, repository, digest = match["account"], match["repo"], match["digest"]
        try:
            found = self.ecr.batch_get_image(
                registryId=registry,
                repositoryName=repository,
                imageIds=[{"imageDigest": digest}],
                acceptedMediaTypes=IMAGE_MEDIA_TYPES,
            )["images"]
        except ClientError as error:
            raise PromotionError(f"{arn}: image {image_uri} cannot be read ({_code(error)}): nothing copied") from None
        if not found:
            raise PromotionError(f"{arn}: image digest {digest} is gone from {repository}: nothing copied")
        manifest_text = found[0]["imageManifest"]
        if "sha256:" + hashlib.sha256(manifest_text.encode()).hexdigest() != digest:
            raise PromotionError(f"{arn}: the manifest {repository} serves for {digest} does not hash to it: nothing copied")
        blobs = _blobs(json.loads(manifest_text))
        available = (
            self.ecr.batch_check_layer_availability(registryId=registry, repositoryName=repository, layerDigests=blobs)
            if blobs
            else {}
        )
        gone = [f["layerDigest"] for f in available.get("failures", [])]
        if gone:
            raise PromotionError(f"{arn}: image {digest} in {repository} lacks blobs {gone}: nothing copied")
        return {
            "registry": registry,
            "repository": repository,
            "purpose": purposes[repository],
            "digest": digest,
            "manifest": manifest_text,
            "media_type": found[0].get("imageManifestMediaType") or IMAGE_MEDIA_TYPES[0],
            "blobs": blobs,
        }

    def promoted_package(self, source_arn: str) -> dict[str, Any] | None:
        group = self.target.model_package_group_name(self.path.group)
        for page in self.sagemaker.get_paginator("list_model_packages").paginate(ModelPackageGroupName=group):
            for summary in page["ModelPackageSummaryList"]:
                package = self.sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
                if (package.get("CustomerMetadataProperties") or {}).get("source_package_arn") == source_arn:
                    return package
        return None

    # --- the target -----------------------------------------------------------------------------

    def copy(self, plan: Plan) -> dict[str, Any]:
        key_arn = self.kms.describe_key(KeyId=f"alias/{self.target.prefix}")["KeyMetadata"]["Arn"]
        artifacts, curated = self.target.bucket_name("artifacts"), self.target.bucket_name("curated")
        source_curated = plan.manifest["bucket"]
        objects = []
        for entry in plan.manifest["objects"]:
            key = f"{PROMOTED_DATA_PREFIX}{self.source.environment}/{entry['key']}"
            version, etag = self._copy(source_curated, entry["key"], entry["version_id"], curated, key, key_arn)
            objects.append({"key": key, "version_id": version, "etag": etag, "size": int(entry["size"])})
        copies: dict[str, Any] = {"data_objects": len(objects)}
        model_bucket, model_key = plan.model_data
        self._copy(model_bucket, model_key, None, artifacts, model_key, key_arn)
        copies["model_data_url"] = f"s3://{artifacts}/{model_key}"
        code_bucket, code_key, code_version = plan.code
        copies["code_version_id"], _ = self._copy(code_bucket, code_key, code_version, artifacts, code_key, key_arn)
        copies["code_uri"] = f"s3://{artifacts}/{code_key}"
        copies["baseline_uri"] = NO_BASELINE
        if plan.baseline:
            self._copy(*plan.baseline, None, artifacts, plan.baseline[1], key_arn)
            copies["baseline_uri"] = f"s3://{artifacts}/{plan.baseline[1]}"
        # The same run's manifest, naming the copies: same keys under the promoted prefix, same sizes.
        manifest = {
            **plan.manifest,
            "bucket": curated,
            "objects": objects,
            "prefix": f"{PROMOTED_DATA_PREFIX}{self.source.environment}/{plan.manifest.get('prefix', '')}",
            "promoted_from": {"manifest_uri": plan.metadata["manifest_uri"], "manifest_sha256": plan.metadata["manifest_sha256"]},
        }
        body = canonical_json(manifest)
        manifest_key = parse_s3_uri(plan.metadata["manifest_uri"])[1]
        self.s3.put_object(
            Bucket=artifacts,
            Key=manifest_key,
            Body=body,
            ContentType="application/json",
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=key_arn,
        )
        copies.update(manifest_uri=f"s3://{artifacts}/{manifest_key}", manifest_sha256=sha256_hex(body))
        for name, image in plan.images.items():
            copies[name] = self._replicate(image)
        for name, (bucket, key) in plan.reports.items():
            self._copy(bucket, key, None, artifacts, key, key_arn)
            copies[name] = f"s3://{artifacts}/{key}"
        return copies

    def _copy(self, bucket: str, key: str, version: str | None, to_bucket: str, to_key: str, key_arn: str) -> tuple[str, str]:
        """Copy one object version under the target's key; (VersionId, ETag) of the copy. A copy that an
        earlier run made of the same source version (its COPY_MARKER) is reused, so a resumed run copies nothing twice."""
        source = self.s3.head_object(Bucket=bucket, Key=key, **({"VersionId": version} if version else {}))
        marker = f"s3://{bucket}/{key}?versionId={source.get('VersionId') or version}"
        try:
            current = self.s3.head_object(Bucket=to_bucket, Key=to_key)
            if current.get("Metadata", {}).get(COPY_MARKER) == marker:
                return current["VersionId"], current["ETag"].strip('"')
        except ClientError as error:
            if _code(error) not in ("404", "NoSuchKey", "NotFound"):
                raise
        copy_source = {"Bucket": bucket, "Key": key, **({"VersionId": version} if version else {})}
        self.s3.copy(
            copy_source,
            to_bucket,
            to_key,
            ExtraArgs={
                "ServerSideEncryption": "aws:kms",
                "SSEKMSKeyId": key_arn,
                "MetadataDirective": "REPLACE",
                "Metadata": {**source.get("Metadata", {}), COPY_MARKER: marker},
                "ContentType": source.get("ContentType", "binary/octet-stream"),
            },
        )
        copied = self.s3.head_object(Bucket=to_bucket, Key=to_key)
        return copied["VersionId"], copied["ETag"].strip('"')

    def _replicate(self, image: dict[str, Any]) -> str:
        """The image by digest in the target's repository of the same purpose: missing blobs copied
        (GetDownloadUrlForLayer, then the layer upload API), the manifest put unchanged."""
        repository = f"{self.target.prefix}-{image['purpose']}"
        pinned = f"{self.target.repository_url(image['purpose'])}@{image['digest']}"
        found = self.ecr.batch_get_image(
            repositoryName=repository, imageIds=[{"imageDigest": image["digest"]}], acceptedMediaTypes=IMAGE_MEDIA_TYPES
        )["images"]
        if found:
            return pinned
        if image["blobs"]:
            check = self.ecr.batch_check_layer_availability(repositoryName=repository, layerDigests=image["blobs"])
            for failure in check.get("failures", []):
                self._copy_blob(image, repository, failure["layerDigest"])
        self.ecr.put_image(
            repositoryName=repository,
            imageManifest=image["manifest"],
            imageManifestMediaType=image["media_type"],
            imageDigest=image["digest"],
            imageTag="sha256-" + image["digest"].removeprefix("sha256:"),
        )
        return pinned

    def _copy_blob(self, image: dict[str, Any], repository: str, digest: str) -> None:
        url = self.ecr.get_download_url_for_layer(
            registryId=image["registry"], repositoryName=image["repository"], layerDigest=digest
        )["downloadUrl"]
        upload = self.ecr.initiate_layer_upload(repositoryName=repository)
        first = 0
        with urllib.request.urlopen(url) as response:
            while chunk := response.read(int(upload.get("partSize") or 10 * 2**20)):
                self.ecr.upload_layer_part(
                    repositoryName=repository,
                    uploadId=upload["uploadId"],
                    partFirstByte=first,
                    partLastByte=first + len(chunk) - 1,
                    layerPartBlob=chunk,
                )
                first += len(chunk)
        done = self.ecr.complete_layer_upload(repositoryName=repository, uploadId=upload["uploadId"], layerDigests=[digest])
        if done["layerDigest"] != digest:
            raise PromotionError(f"blob {digest} of {image['repository']} arrived as {done['layerDigest']} in {repository}")

    def register(self, plan: Plan, copies: dict[str, Any]) -> dict[str, Any]:
        source_arn = plan.package["ModelPackageArn"]
        metadata = {
            **plan.metadata,
            "manifest_uri": copies["manifest_uri"],
            "manifest_sha256": copies["manifest_sha256"],
            "image_uri": copies["image_uri"],
            "inference_image_uri": copies["inference_image_uri"],
            "code_uri": copies["code_uri"],
            "code_version_id": copies["code_version_id"],
            "baseline_uri": copies["baseline_uri"],
            "source_package_arn": source_arn,
            "source_manifest_uri": plan.metadata["manifest_uri"],
            "source_manifest_sha256": plan.metadata["manifest_sha256"],
            "promoted_from": self.source.prefix,
            "promoted_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            **{name: copies[name] for name in plan.reports},
        }
        # The source's ModelMetrics, as the target's copy (AWS keeps the S3 URI; the reader needs the target's).
        quality = (
            {
                "ModelMetrics": {
                    "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": copies["metrics_uri"]}}
                }
            }
            if "metrics_uri" in plan.reports
            else {}
        )
        spec = plan.package["InferenceSpecification"]
        arn = self.sagemaker.create_model_package(
            ModelPackageGroupName=self.target.model_package_group_name(self.path.group),
            ModelPackageDescription=f"promoted from {source_arn}"[:1024],
            InferenceSpecification={
                "Containers": [{"Image": copies["inference_image_uri"], "ModelDataUrl": copies["model_data_url"]}],
                "SupportedContentTypes": spec.get("SupportedContentTypes", []),
                "SupportedResponseMIMETypes": spec.get("SupportedResponseMIMETypes", []),
            },
            # Never approved here: the target approves promoted models itself, whatever its auto-approval.
            ModelApprovalStatus="PendingManualApproval",
            CustomerMetadataProperties=metadata,
            **quality,
            ClientToken=hashlib.sha256(f"promote:{source_arn}".encode()).hexdigest()[:36],
            Tags=[
                {"Key": "mlp:run-id", "Value": metadata["run_id"]},
                {"Key": "mlp:promoted-from", "Value": source_arn},
                {"Key": "Team", "Value": self.target.team},
                {"Key": "Environment", "Value": self.target.environment},
            ],
        )["ModelPackageArn"]
        return self.sagemaker.describe_model_package(ModelPackageName=arn)


def _blobs(manifest: dict[str, Any]) -> list[str]:
    if "config" not in manifest:
        raise PromotionError(
            f"image manifest of media type {manifest.get('mediaType')!r} is not a single-platform image "
            "manifest (manifest lists are not promoted): nothing copied"
        )
    return [manifest["config"]["digest"], *(layer["digest"] for layer in manifest.get("layers", []))]


def _summary(package: dict[str, Any]) -> dict[str, Any]:
    return {
        "model_package_arn": package["ModelPackageArn"],
        "version": package.get("ModelPackageVersion"),
        "approval_status": package.get("ModelApprovalStatus"),
    }


def _code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "error")
