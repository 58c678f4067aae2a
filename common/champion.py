"""The champion: the model the endpoint serves now, as the deployed-model pointer and the registry say.

A retrain hands the champion's model artifact to the training job (channel `champion`), which scores it
on the same holdout as the new model; register then compares the two. The champion is read from AWS
state: the pointer the deploy handler writes, the model package it names, and that package's own model
data, which must be a training output of this team (`s3://<artifacts>/models/`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from common import aws
from common.manifest import ManifestError, read_manifest


@dataclass(frozen=True)
class Champion:
    package_arn: str
    model_data_url: str
    run_id: str | None
    manifest: dict[str, Any] | None  # the data it was trained on (None when unreadable)


def live_champion(pointer_parameter: str, artifact_bucket: str) -> Champion | None:
    """The model the endpoint serves (or would serve when switched back on), or None before the first:
    the package the deployed-model pointer (`pointer_parameter`) names, if its model data is a training
    output in `artifact_bucket`."""
    ssm = aws.client("ssm")
    try:
        pointer = json.loads(ssm.get_parameter(Name=pointer_parameter)["Parameter"]["Value"])
    except ssm.exceptions.ParameterNotFound:
        return None
    arn = pointer.get("model_package_arn") if isinstance(pointer, dict) else None
    if not arn:
        return None
    package = aws.client("sagemaker").describe_model_package(ModelPackageName=arn)
    containers = (package.get("InferenceSpecification") or {}).get("Containers") or [{}]
    model_data = str(containers[0].get("ModelDataUrl") or "")
    if not model_data.startswith(f"s3://{artifact_bucket}/models/"):
        return None  # not a training output of this team: nothing the job could read or compare
    metadata = package.get("CustomerMetadataProperties") or {}
    manifest = None
    if metadata.get("manifest_uri"):
        try:
            manifest = read_manifest(metadata["manifest_uri"], metadata.get("manifest_sha256"))
        except ManifestError:
            manifest = None
    return Champion(arn, model_data, metadata.get("run_id"), manifest)
