"""Play the training container for a job the emulator accepted (the emulator runs no containers).

It does what the team's training image does at its edges, with the platform's own code: read the
`manifest` channel and each pinned object by VersionId (common.manifest, the same reader a real
training script uses), fit a small model, and write `model.tar.gz` where SageMaker would upload it
(the job's S3ModelArtifacts, encrypted with the job's output key). The model is a nearest-centroid
classifier over the model's input features: enough to have a real artifact whose bytes depend on the
pinned data, not a stand-in for the team's own algorithm.
"""
from __future__ import annotations

import io
import json
import tarfile
from collections import Counter, defaultdict
from typing import Any

import boto3

import ops  # noqa: F401  (puts lambdas/ on sys.path)
from common.manifest import iter_manifest_csv_rows, parse_s3_uri, read_manifest
from common.training import MANIFEST_SHA_HP, MANIFEST_URI_HP


def fit_centroids(rows, inputs: list[str], label: str) -> dict[str, Any]:
    """Per class: mean of each numeric input and the most frequent value of each categorical one."""
    sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    counts: dict[str, int] = Counter()
    categories: dict[str, dict[str, Counter]] = defaultdict(lambda: defaultdict(Counter))
    for row in rows:
        cls = row.get(label, "")
        counts[cls] += 1
        for name in inputs:
            value = row.get(name, "")
            try:
                sums[cls][name] += float(value)
            except ValueError:
                categories[cls][name][value] += 1
    return {
        "kind": "nearest-centroid",
        "inputs": inputs,
        "label": label,
        "classes": {
            cls: {
                "count": n,
                "means": {k: v / n for k, v in sums[cls].items()},
                "modes": {k: c.most_common(1)[0][0] for k, c in categories[cls].items()},
            }
            for cls, n in sorted(counts.items())
        },
    }


def run_training_job(job_name: str, definitions: dict[str, Any]) -> dict[str, Any]:
    sagemaker = boto3.client("sagemaker")
    job = sagemaker.describe_training_job(TrainingJobName=job_name)
    hyperparameters = job["HyperParameters"]
    manifest = read_manifest(hyperparameters[MANIFEST_URI_HP], hyperparameters[MANIFEST_SHA_HP])
    inputs = definitions["model_inputs"]["features"]
    model = fit_centroids(iter_manifest_csv_rows(manifest), inputs, definitions["model_inputs"]["label"])
    model["trained_on"] = {"manifest": hyperparameters[MANIFEST_URI_HP], "sha256": hyperparameters[MANIFEST_SHA_HP]}

    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        payload = json.dumps(model, sort_keys=True, indent=1).encode()
        info = tarfile.TarInfo("model.json")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    bucket, key = parse_s3_uri(job["ModelArtifacts"]["S3ModelArtifacts"])
    boto3.client("s3").put_object(
        Bucket=bucket,
        Key=key,
        Body=archive.getvalue(),
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId=job["OutputDataConfig"]["KmsKeyId"],
    )
    return {"model_artifact": f"s3://{bucket}/{key}", "rows": sum(c["count"] for c in model["classes"].values())}
