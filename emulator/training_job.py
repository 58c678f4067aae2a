"""The container step of a training job, played by the emulator under AWS's contract.

On AWS, once CreateTrainingJob is accepted, SageMaker pulls the image, downloads each S3 input channel
into /opt/ml/input/data/<channel>, the script-mode code (`sagemaker_submit_directory`, a
sourcedir.tar.gz) into /opt/ml/code and any checkpoints (CheckpointConfig.S3Uri) into the checkpoint
directory, runs the entry point (`sagemaker_program`) with the hyperparameters, uploads the checkpoints
back and `model.tar.gz` of /opt/ml/model to ModelArtifacts.S3ModelArtifacts (with the job's output
KMS key), and ends the job Completed, or Failed with the reason the script wrote to
/opt/ml/output/failure, or Stopped at MaxRuntimeInSeconds.

The emulator does exactly that with the team's own code, in a child process with the model-code Python
(emulator/container.py plays the framework container). Nothing here trains anything: a job whose
bundle has no entry point, or whose script fails, ends Failed with that reason. The image itself is not
run (no registry runs here): the strict emulator has checked it exists in ECR.
"""

from __future__ import annotations

import posixpath
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.manifest import parse_s3_uri
from common.training import PROGRAM_HP, SUBMIT_DIRECTORY_HP
from emulator.container import ContainerError, run_training

SCRIPT_MODE_PREFIX = "sagemaker_"  # the toolkit's own hyperparameters: not passed to the script as arguments


@dataclass(frozen=True)
class Outcome:
    status: str  # Completed, Failed or Stopped
    secondary_status: str
    failure_reason: str | None
    model_artifact: str | None
    seconds: float
    logs: str


def _download_prefix(s3: Any, uri: str) -> dict[str, bytes]:
    """The objects an S3Prefix data source names, by their path under the prefix's folder (SageMaker's layout)."""
    bucket, prefix = parse_s3_uri(uri)
    folder = posixpath.dirname(prefix) if not prefix.endswith("/") else prefix.rstrip("/")
    files = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for summary in page.get("Contents", []):
            relative = summary["Key"][len(folder) :].lstrip("/") if folder else summary["Key"]
            files[relative] = s3.get_object(Bucket=bucket, Key=summary["Key"])["Body"].read()
    return files


def _channels(s3: Any, input_data_config: list[Mapping[str, Any]]) -> dict[str, dict[str, bytes]]:
    channels = {}
    for channel in input_data_config:
        source = channel["DataSource"]["S3DataSource"]
        files = _download_prefix(s3, source["S3Uri"])
        if not files:  # AWS fails the job before it starts: ClientError, no objects under the prefix
            raise ContainerError(
                f'ClientError: no S3 objects found under S3 URL "{source["S3Uri"]}" given in input '
                f"data source {channel['ChannelName']}"
            )
        channels[channel["ChannelName"]] = files
    return channels


def _upload_checkpoints(s3: Any, directory: Path, uri: str, kms_key: str | None) -> None:
    bucket, prefix = parse_s3_uri(uri.rstrip("/") + "/")
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key} if kms_key else {}
        s3.put_object(Bucket=bucket, Key=prefix + path.relative_to(directory).as_posix(), Body=path.read_bytes(), **extra)


def run_job(job: Mapping[str, Any], s3: Any, environment: Mapping[str, str]) -> Outcome:
    """Run the job described by `job` (DescribeTrainingJob's shape) to its end; `environment` is what the
    container gets to reach AWS (endpoint, region, credentials)."""
    hyperparameters = dict(job.get("HyperParameters") or {})
    program, submit = hyperparameters.get(PROGRAM_HP), hyperparameters.get(SUBMIT_DIRECTORY_HP)
    if not program or not submit:
        return Outcome(
            "Failed",
            "Failed",
            f"AlgorithmError: the job names no script-mode code ({PROGRAM_HP} and "
            f"{SUBMIT_DIRECTORY_HP} hyperparameters): nothing to run",
            None,
            0.0,
            "",
        )
    output_key = (job.get("OutputDataConfig") or {}).get("KmsKeyId")
    checkpoint_uri = (job.get("CheckpointConfig") or {}).get("S3Uri")
    with tempfile.TemporaryDirectory(prefix="mlp-training-") as work:
        root = Path(work) / "opt-ml"
        try:
            bucket, key = parse_s3_uri(submit)
            bundle = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            channels = _channels(s3, job.get("InputDataConfig") or [])
            checkpoints = Path(work) / "checkpoints"
            checkpoints.mkdir()
            if checkpoint_uri:  # managed spot: a restarted job finds the checkpoints it wrote before
                for name, body in _download_prefix(s3, checkpoint_uri.rstrip("/") + "/").items():
                    (checkpoints / name).parent.mkdir(parents=True, exist_ok=True)
                    (checkpoints / name).write_bytes(body)
            result = run_training(
                bundle,
                root,
                entry_point=program,
                checkpoint_dir=checkpoints,
                environment=environment,
                hyperparameters={k: v for k, v in hyperparameters.items() if not k.startswith(SCRIPT_MODE_PREFIX)},
                channels=channels,
                max_runtime_seconds=(job.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds"),
            )
        except (ContainerError, ValueError) as error:
            return Outcome("Failed", "Failed", str(error)[:1024], None, 0.0, "")
        except Exception as error:
            return Outcome("Failed", "Failed", f"ClientError: {error}"[:1024], None, 0.0, "")
        if checkpoint_uri:
            _upload_checkpoints(s3, checkpoints, checkpoint_uri, output_key)
        if result.status != "Completed":
            return Outcome(result.status, result.secondary_status, result.failure_reason, None, result.seconds, result.logs)
        artifact = job["ModelArtifacts"]["S3ModelArtifacts"]
        bucket, key = parse_s3_uri(artifact)
        extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": output_key} if output_key else {}
        s3.put_object(Bucket=bucket, Key=key, Body=result.model_archive(), **extra)
        return Outcome("Completed", "Completed", None, artifact, result.seconds, result.logs)
