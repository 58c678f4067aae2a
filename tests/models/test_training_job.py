"""The emulator's container step of a training job (emulator/training_job.py): what SageMaker downloads
(channels, script-mode bundle, checkpoints), runs and uploads, and how the job ends."""

from __future__ import annotations

import io
import json
import tarfile

import boto3
import pytest
from moto import mock_aws

from emulator.training_job import run_job
from ops.code_bundle import deterministic_tar_gz

BUCKET = "artifacts"
TRAIN = r"""
import json, os, sys
from pathlib import Path
env = os.environ
hp = json.loads(Path(env["SM_INPUT_CONFIG_DIR"], "hyperparameters.json").read_text())
seen = {c: sorted(p.name for p in Path(env[f"SM_CHANNEL_{c.upper()}"]).iterdir()) for c in json.loads(env["SM_CHANNELS"])}
checkpoints = sorted(p.name for p in Path(env["MLP_CHECKPOINT_DIR"]).iterdir())
Path(env["MLP_CHECKPOINT_DIR"], "epoch-2.pt").write_text("2")
if hp.get("fail"):
    Path(env["SM_OUTPUT_DIR"], "failure").write_text("ValueError: " + hp["fail"])
    sys.exit(1)
Path(env["SM_MODEL_DIR"], "evaluation.json").write_text(json.dumps({"metric": "AUC", "value": 0.9, "seen": seen,
                                                                      "hp": hp, "checkpoints": checkpoints}))
"""


@pytest.fixture
def s3(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        client.put_object(
            Bucket=BUCKET, Key="code/abc/sourcedir.tar.gz", Body=deterministic_tar_gz([("train.py", TRAIN.encode(), False)])
        )
        client.put_object(Bucket=BUCKET, Key="manifests/r1.json", Body=b"{}")
        client.put_object(Bucket=BUCKET, Key="features/definitions.json", Body=b"{}")
        client.put_object(Bucket=BUCKET, Key="checkpoints/r1/epoch-1.pt", Body=b"1")
        yield client


def job(**hyperparameters: str) -> dict:
    channel = lambda name, uri: {"ChannelName": name, "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri}}}
    return {
        "TrainingJobName": "p-r1",
        "HyperParameters": {
            "sagemaker_program": "train.py",
            "sagemaker_submit_directory": f"s3://{BUCKET}/code/abc/sourcedir.tar.gz",
            "epochs": "1",
            **hyperparameters,
        },
        "InputDataConfig": [
            channel("manifest", f"s3://{BUCKET}/manifests/r1.json"),
            channel("definitions", f"s3://{BUCKET}/features/definitions.json"),
        ],
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/models/r1"},
        "CheckpointConfig": {"S3Uri": f"s3://{BUCKET}/checkpoints/r1"},
        "StoppingCondition": {"MaxRuntimeInSeconds": 120},
        "ModelArtifacts": {"S3ModelArtifacts": f"s3://{BUCKET}/models/r1/p-r1/output/model.tar.gz"},
    }


def test_completed_job_ran_the_bundle_with_its_channels_and_uploaded_the_model(s3):
    outcome = run_job(job(), s3, {})
    assert outcome.status == "Completed", outcome
    archive = s3.get_object(Bucket=BUCKET, Key="models/r1/p-r1/output/model.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        evaluation = json.loads(tar.extractfile("evaluation.json").read())
    assert evaluation["seen"] == {"definitions": ["definitions.json"], "manifest": ["r1.json"]}
    assert evaluation["hp"] == {"epochs": "1"}  # script mode's own hyperparameters are the toolkit's
    assert evaluation["checkpoints"] == ["epoch-1.pt"]  # a restarted spot job finds its checkpoints
    assert s3.get_object(Bucket=BUCKET, Key="checkpoints/r1/epoch-2.pt")["Body"].read() == b"2"


def test_failing_script_fails_the_job_with_its_reason_and_uploads_no_model(s3):
    outcome = run_job(job(fail="no label column"), s3, {})
    assert (outcome.status, outcome.failure_reason) == ("Failed", "ValueError: no label column")
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="models/")


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"HyperParameters": {"epochs": "1"}}, "names no script-mode code"),
        (
            {
                "InputDataConfig": [
                    {"ChannelName": "manifest", "DataSource": {"S3DataSource": {"S3Uri": f"s3://{BUCKET}/manifests/none.json"}}}
                ]
            },
            "no S3 objects found",
        ),
    ],
)
def test_a_job_sagemaker_cannot_start_fails_with_the_reason(s3, change, reason):
    outcome = run_job({**job(), **change}, s3, {})
    assert outcome.status == "Failed" and reason in outcome.failure_reason
