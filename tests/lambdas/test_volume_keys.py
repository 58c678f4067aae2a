"""SageMaker refuses a volume KMS key for instance types with instance storage: the handlers send one
only when the recipe names it (docs/CONTRACTS.md, volume_kms_key_arn)."""

from __future__ import annotations

from common.training import build_training_job_request
from lambdas.deploy.handler import endpoint_config_request
from tests.recipe_examples import KEY, example_serving, example_training

CODE = {"uri": "s3://a/code/" + "c" * 64 + "/sourcedir.tar.gz", "sha256": "c" * 64, "version_id": "v", "git_commit": "none"}


def training_request(recipe):
    return build_training_job_request(recipe, "r1", "s3://a/m.json", "0" * 64, "i", CODE, prefix="p", team="t", environment="e")


def test_training_volume_key_only_when_the_recipe_names_one():
    # The stack names none for ml.g5 (instance storage) and the team key for ml.p3 (EBS only).
    assert example_training().volume_kms_key_arn is None
    assert "VolumeKmsKeyId" not in training_request(example_training())["ResourceConfig"]
    assert training_request(example_training(volume_kms_key_arn=KEY))["ResourceConfig"]["VolumeKmsKeyId"] == KEY
    assert training_request(example_training())["OutputDataConfig"]["KmsKeyId"] == KEY


def test_endpoint_config_volume_key_only_when_the_recipe_names_one():
    without = endpoint_config_request("c", "m", example_serving(), [])
    assert "KmsKeyId" not in without and without["DataCaptureConfig"]["KmsKeyId"] == KEY
    assert endpoint_config_request("c", "m", example_serving(volume_kms_key_arn=KEY), [])["KmsKeyId"] == KEY
