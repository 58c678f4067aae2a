"""SageMaker refuses a volume KMS key for instance types with instance storage: the handlers send one
only when the recipe names it (docs/CONTRACTS.md, volume_kms_key_arn)."""

from __future__ import annotations

from common.training import build_training_job_request
from lambdas.deploy.handler import endpoint_config_request

KEY = "arn:aws:kms:us-east-1:123456789012:key/k"
TRAINING = {
    "image_uri": "i",
    "instance_type": "ml.g5.xlarge",
    "volume_size_gb": 50,
    "max_runtime_seconds": 3600,
    "checkpoint_s3_uri": "s3://a/checkpoints",
    "output_s3_uri": "s3://a/models",
    "kms_key_arn": KEY,
    "role_arn": "arn:aws:iam::123456789012:role/r",
    "spot": {"enabled": False},
    "definitions_s3_uri": "s3://a/features/d.json",
}
CODE = {"uri": "s3://a/code/" + "c" * 64 + "/sourcedir.tar.gz", "sha256": "c" * 64, "version_id": "v", "git_commit": "none"}
SERVING = {
    "instance_type": "ml.g5.xlarge",
    "kms_key_arn": KEY,
    "data_capture": {"percent": 100, "destination_s3_uri": "s3://a/data-capture"},
}


def training_request(recipe):
    return build_training_job_request(recipe, "r1", "s3://a/m.json", "0" * 64, "i", CODE, prefix="p", team="t", environment="e")


def test_training_volume_key_only_when_the_recipe_names_one():
    assert "VolumeKmsKeyId" not in training_request({**TRAINING, "volume_kms_key_arn": None})["ResourceConfig"]
    assert training_request({**TRAINING, "volume_kms_key_arn": KEY})["ResourceConfig"]["VolumeKmsKeyId"] == KEY
    assert training_request(TRAINING)["ResourceConfig"]["VolumeKmsKeyId"] == KEY  # recipes from before the field
    assert training_request({**TRAINING, "volume_kms_key_arn": None})["OutputDataConfig"]["KmsKeyId"] == KEY


def test_endpoint_config_volume_key_only_when_the_recipe_names_one():
    without = endpoint_config_request("c", "m", {**SERVING, "volume_kms_key_arn": None}, [])
    assert "KmsKeyId" not in without and without["DataCaptureConfig"]["KmsKeyId"] == KEY
    assert endpoint_config_request("c", "m", {**SERVING, "volume_kms_key_arn": KEY}, [])["KmsKeyId"] == KEY
