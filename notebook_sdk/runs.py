"""Launch a training run from a notebook: the platform's run path, watched with the SageMaker Python SDK.

In a notebook whose kernel is `.venv-sdk/bin/python` (with AWS credentials, or AWS_ENDPOINT_URL for the
emulator), from the repository root:

    from notebook_sdk.runs import launch_run
    run = launch_run("fraud-dev", reason="wider hidden layer")
    run.inputs["code"]["sha256"], run.inputs["image_uri"]   # what the run pinned
    run.job.wait()                                          # sagemaker-core's TrainingJob: wait, refresh, logs
    run.job.model_artifacts.s3_model_artifacts

The run goes through the platform's run path, unchanged: `python main.py train <team>-<env>` in the
project's own virtualenv publishes and pins the code bundle (sha256, S3 VersionId, git commit), writes a
new data manifest, pins the training and inference images by digest and records the run the register
handler reads, then starts the job with the same request builder as the retrain handler. So a notebook
run is registered, traced by `lineage` and rebuilt by `rebuild` like any other. It runs as a child
process because the SDK needs a newer boto3 than the project pins (each keeps its own virtualenv).
The job handle is the SDK's `sagemaker.core.resources.TrainingJob` (sagemaker-core).
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PROJECT_PYTHON_VARIABLE = "MLP_PROJECT_PYTHON"


class RunError(RuntimeError):
    """The platform refused or failed to start the run; the message is its own one-line reason."""


@dataclass(frozen=True)
class PlatformRun:
    run_id: str
    training_job_name: str
    inputs: dict[str, Any]  # manifest_uri/sha256, image_uri and inference_image_uri (by digest), hyperparameters, code
    job: Any  # sagemaker.core.resources.TrainingJob


def project_python() -> str:
    """The project's interpreter (where the platform's run path and its pinned packages live)."""
    return os.environ.get(PROJECT_PYTHON_VARIABLE) or str(ROOT / ".venv" / "bin" / "python")


def launch_run(
    stack: str, reason: str = "notebook", *, config: str | None = None, python: str | None = None, timeout: float = 600
) -> PlatformRun:
    """Start a training run of `stack` (`<team>-<env>`) on the current data and code through the platform's
    run path; returns the run and the SDK's handle on its training job. Raises RunError with the
    platform's reason when it refuses (no image in ECR, no data, an undeployed stack...)."""
    command = [
        python or project_python(),
        "main.py",
        *(["--config", config] if config else []),
        "train",
        stack,
        "--reason",
        f"notebook: {reason}",
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise RunError(lines[-1] if lines else f"`{' '.join(command)}` exited {done.returncode}")
    started = json.loads(done.stdout)
    from sagemaker.core.resources import TrainingJob  # the SDK (sagemaker-core): only in .venv-sdk

    job = TrainingJob.get(training_job_name=started["training_job_name"])
    return PlatformRun(started["run_id"], started["training_job_name"], started["inputs"], job)
