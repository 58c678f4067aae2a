"""Data manifests: the exact object versions a training run read, pinned so a rebuild reads the same bytes.

A manifest (CONTRACTS.md, "Training job") lists every current object version under the recipe's
training-data prefix. It is stored canonically serialised at `manifests/<run_id>.json` in the
artifacts bucket, and identified by the sha256 of those stored bytes; readers verify that hash and
then read each object by its `VersionId`, never by key alone.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from common import aws

MANIFEST_PREFIX = "manifests/"


class ManifestError(ValueError):
    """The manifest cannot be built or does not match what was pinned."""


class EmptyTrainingData(ManifestError):
    """No objects under the training-data prefix: refuse to train on nothing."""


@dataclass(frozen=True)
class StoredManifest:
    uri: str
    sha256: str
    manifest: dict[str, Any]


def canonical_json(document: Any) -> bytes:
    """One byte representation per document: sorted keys, no whitespace, UTF-8."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parse_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise ManifestError(f"not an s3://bucket/key URI: {uri!r}")
    bucket, key = uri[5:].split("/", 1)
    return bucket, key


def put_json(bucket: str, key: str, document: Any, kms_key_arn: str) -> tuple[str, str]:
    """Store `document` canonically with SSE-KMS; returns (s3 uri, sha256 of the stored bytes)."""
    body = canonical_json(document)
    aws.client("s3").put_object(
        Bucket=bucket,
        Key=key,
        Body=body,
        ContentType="application/json",
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId=kms_key_arn,
    )
    return f"s3://{bucket}/{key}", sha256_hex(body)


def list_current_objects(bucket: str, prefix: str) -> list[dict[str, Any]]:
    """Every current object version under `prefix` (key order), without folder placeholders."""
    objects = []
    paginator = aws.client("s3").get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        # A key whose latest entry is a delete marker has no IsLatest version: it is not current data.
        for version in page.get("Versions", []):
            if not version.get("IsLatest") or version["Key"].endswith("/"):
                continue
            if version.get("VersionId") in (None, "null"):
                raise ManifestError(
                    f"s3://{bucket}/{version['Key']} has no version id: bucket {bucket} must have versioning "
                    "enabled so a manifest can pin the bytes a run read"
                )
            objects.append(
                {
                    "key": version["Key"],
                    "version_id": version["VersionId"],
                    "etag": version["ETag"].strip('"'),
                    "size": int(version["Size"]),
                }
            )
    return sorted(objects, key=lambda entry: entry["key"])


def write_manifest(
    run_id: str, training_data: Mapping[str, str], artifact_bucket: str, kms_key_arn: str, now: dt.datetime | None = None
) -> StoredManifest:
    """Pin the current training data for `run_id` and store the manifest; refuses an empty prefix."""
    bucket, prefix = training_data.get("bucket"), training_data.get("prefix", "")
    if not bucket:
        raise ManifestError("training recipe has no training_data.bucket")
    return store_manifest(run_id, bucket, prefix, list_current_objects(bucket, prefix), artifact_bucket, kms_key_arn, now)


def store_manifest(
    run_id: str,
    bucket: str,
    prefix: str,
    objects: list[dict[str, Any]],
    artifact_bucket: str,
    kms_key_arn: str,
    now: dt.datetime | None = None,
) -> StoredManifest:
    """Store the manifest pinning exactly `objects` (entries of list_current_objects); refuses none."""
    if not objects:
        raise EmptyTrainingData(f"no objects under s3://{bucket}/{prefix}: refusing to train on no data")
    created_at = (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
    manifest = {"run_id": run_id, "created_at": created_at, "bucket": bucket, "prefix": prefix, "objects": objects}
    uri, digest = put_json(artifact_bucket, f"{MANIFEST_PREFIX}{run_id}.json", manifest, kms_key_arn)
    return StoredManifest(uri=uri, sha256=digest, manifest=manifest)


def read_manifest(uri: str, expected_sha256: str | None = None) -> dict[str, Any]:
    """Load a stored manifest, verifying the sha256 of its bytes when one is given."""
    bucket, key = parse_s3_uri(uri)
    body = aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    if expected_sha256 is not None and sha256_hex(body) != expected_sha256:
        raise ManifestError(f"manifest {uri} has sha256 {sha256_hex(body)}, expected {expected_sha256}")
    manifest = json.loads(body)
    for field in ("bucket", "objects"):
        if field not in manifest:
            raise ManifestError(f"manifest {uri} has no {field!r}")
    return manifest


def iter_manifest_objects(manifest: Mapping[str, Any]) -> Iterator[tuple[dict[str, Any], Any]]:
    """(entry, streaming body) for each pinned object, read by VersionId (so the exact pinned bytes).

    Each body is opened only when the iteration reaches it; consume it before asking for the next.
    """
    s3 = aws.client("s3")
    for entry in manifest["objects"]:
        response = s3.get_object(Bucket=manifest["bucket"], Key=entry["key"], VersionId=entry["version_id"])
        etag = response.get("ETag", "").strip('"')
        if entry.get("etag") and etag and etag != entry["etag"]:
            raise ManifestError(
                f"s3://{manifest['bucket']}/{entry['key']}@{entry['version_id']} has ETag {etag}, manifest pinned {entry['etag']}"
            )
        yield entry, response["Body"]


def iter_manifest_csv_rows(manifest: Mapping[str, Any]) -> Iterator[dict[str, str]]:
    """Rows (csv.DictReader, header per file) of the manifest's `.csv` objects, streamed."""
    for _entry, body in iter_manifest_objects(
        {**manifest, "objects": [o for o in manifest["objects"] if o["key"].lower().endswith(".csv")]}
    ):
        try:
            # utf-8-sig drops a BOM; the reader keeps line endings so quoted newlines survive.
            yield from csv.DictReader(codecs.getreader("utf-8-sig")(body))
        finally:
            body.close()
