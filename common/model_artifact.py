"""What a training job's model artifact (model.tar.gz) says about itself: `evaluation.json`, the team's
quality metric on the holdout, written by the training entry point (modelkit.training)."""

from __future__ import annotations

import io
import json
import tarfile
from typing import Any

from common import aws
from common.manifest import parse_s3_uri

EVALUATION_FILE = "evaluation.json"
MAX_ARTIFACT_BYTES = 512 * 1024 * 1024  # read into memory: a Lambda has at most 10 GB, models are far smaller here


class ArtifactError(ValueError):
    """The model artifact is missing, not a tar.gz, or holds no readable evaluation."""


def read_evaluation(model_data_url: str) -> dict[str, Any]:
    """evaluation.json of the artifact; ArtifactError naming what is wrong."""
    bucket, key = parse_s3_uri(model_data_url)
    response = aws.client("s3").get_object(Bucket=bucket, Key=key)
    if int(response.get("ContentLength") or 0) > MAX_ARTIFACT_BYTES:
        raise ArtifactError(f"{model_data_url} is larger than {MAX_ARTIFACT_BYTES} bytes")
    try:
        with tarfile.open(fileobj=io.BytesIO(response["Body"].read()), mode="r:gz") as archive:
            member = next((m for m in archive.getmembers() if m.isfile() and m.name.lstrip("./") == EVALUATION_FILE), None)
            if member is None:
                raise ArtifactError(f"{model_data_url} holds no {EVALUATION_FILE}")
            handle = archive.extractfile(member)
            if handle is None:
                raise ArtifactError(f"{model_data_url}: {EVALUATION_FILE} is not a regular file")
            document = json.loads(handle.read())
    except (tarfile.TarError, OSError, ValueError) as error:
        if isinstance(error, ArtifactError):
            raise
        raise ArtifactError(f"{model_data_url}: cannot read {EVALUATION_FILE}: {error}") from None
    if (
        not isinstance(document, dict)
        or not isinstance(document.get("metric"), str)
        or not isinstance(document.get("value"), (int, float))
    ):
        raise ArtifactError(f"{model_data_url}: {EVALUATION_FILE} needs a metric name and a numeric value")
    return document
