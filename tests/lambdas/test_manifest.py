"""Data manifests: current versions only, canonical bytes, sha256 verification, reads by VersionId."""

from __future__ import annotations

import hashlib
import json

import pytest

from common.manifest import (
    EmptyTrainingData,
    ManifestError,
    canonical_json,
    iter_manifest_csv_rows,
    iter_manifest_objects,
    read_manifest,
    write_manifest,
)
from tests.lambdas.mlp_aws import ARTIFACTS, CURATED, aws_env  # noqa: F401  (fixture)

DATA = {"bucket": CURATED, "prefix": "training/"}


def test_manifest_pins_current_versions_and_is_canonical(aws_env):
    aws_env.put_training_data("training/b.csv", "amount\n1\n")
    old = aws_env.put_training_data("training/a.csv", "amount\n2\n")
    current = aws_env.put_training_data("training/a.csv", "amount\n3\n")
    aws_env.put_training_data("training/deleted.csv", "amount\n4\n")
    aws_env.client("s3").delete_object(Bucket=CURATED, Key="training/deleted.csv")
    aws_env.put_training_data("training/", "")  # folder placeholder
    aws_env.put_training_data("other/c.csv", "amount\n5\n")

    stored = write_manifest("r1", DATA, ARTIFACTS, aws_env.kms_key_arn)

    objects = stored.manifest["objects"]
    assert [o["key"] for o in objects] == ["training/a.csv", "training/b.csv"]
    assert objects[0]["version_id"] == current != old
    assert objects[0]["size"] == len("amount\n3\n") and objects[0]["etag"] == hashlib.md5(b"amount\n3\n").hexdigest()
    assert set(stored.manifest) == {"run_id", "created_at", "bucket", "prefix", "objects"}
    assert stored.uri == f"s3://{ARTIFACTS}/manifests/r1.json"
    head = aws_env.client("s3").get_object(Bucket=ARTIFACTS, Key="manifests/r1.json")
    body = head["Body"].read()
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == aws_env.kms_key_arn
    assert hashlib.sha256(body).hexdigest() == stored.sha256
    assert body == canonical_json(json.loads(body)) and b" " not in body.replace(b"\n", b"")


def test_read_manifest_verifies_sha256(aws_env):
    aws_env.put_training_data("training/a.csv", "amount\n1\n")
    stored = write_manifest("r1", DATA, ARTIFACTS, aws_env.kms_key_arn)
    assert read_manifest(stored.uri, stored.sha256) == stored.manifest
    assert read_manifest(stored.uri) == stored.manifest
    with pytest.raises(ManifestError, match="sha256"):
        read_manifest(stored.uri, "0" * 64)


def test_objects_are_read_by_pinned_version(aws_env):
    aws_env.put_training_data("training/a.csv", 'amount,merchant_category\n1,grocery\n"2","travel"\n')
    aws_env.put_training_data("training/notes.txt", "not csv")
    stored = write_manifest("r1", DATA, ARTIFACTS, aws_env.kms_key_arn)
    aws_env.put_training_data("training/a.csv", "amount,merchant_category\n999,changed\n")  # after pinning

    bodies = {entry["key"]: body.read() for entry, body in iter_manifest_objects(stored.manifest)}
    assert bodies["training/a.csv"].startswith(b"amount,merchant_category\n1,grocery")
    assert list(iter_manifest_csv_rows(stored.manifest)) == [
        {"amount": "1", "merchant_category": "grocery"},
        {"amount": "2", "merchant_category": "travel"},
    ]


def test_empty_prefix_is_refused_and_nothing_written(aws_env):
    aws_env.put_training_data("elsewhere/a.csv", "amount\n1\n")
    before = aws_env.bucket_keys()
    with pytest.raises(EmptyTrainingData, match="refusing to train"):
        write_manifest("r1", DATA, ARTIFACTS, aws_env.kms_key_arn)
    assert aws_env.bucket_keys() == before


def test_unversioned_bucket_is_refused(aws_env):
    s3 = aws_env.client("s3")
    s3.create_bucket(Bucket="plain-bucket")
    s3.put_object(Bucket="plain-bucket", Key="training/a.csv", Body=b"amount\n1\n")
    with pytest.raises(ManifestError, match="versioning"):
        write_manifest("r1", {"bucket": "plain-bucket", "prefix": "training/"}, ARTIFACTS, aws_env.kms_key_arn)
