"""Patches that make a training job on the emulator run the team's code, as SageMaker does.

moto accepts CreateTrainingJob and reports the job Completed at once, with no model artifact: nothing
runs. Patched: an accepted job is InProgress while the emulator plays its container step in a thread of
the emulator's process (emulator.training_job: channels, code bundle and checkpoints downloaded, the
entry point run under the container contract, model.tar.gz uploaded), then Completed, Failed with the
script's reason, or Stopped. A job the strict emulator already failed (image not in ECR) runs nothing.
Tests: tests/models/test_training_job.py (the container step) and tests/integration/test_loop.py (jobs
InProgress then Completed with the team's model, or Failed with the script's reason). Written against
moto 5.2.5.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from emulator.patches_cost import TRAINING_SECONDS_TAG
from emulator.serialized import exclusive

log = logging.getLogger(__name__)

# Set by emulator.server once it listens: the address the container uses to reach "AWS".
SELF_ENDPOINT_VARIABLE = "MLP_EMULATOR_SELF_ENDPOINT"
_threads: list[threading.Thread] = []


def container_environment(region: str) -> dict[str, str]:
    """What the container needs to reach this emulator (on AWS: the execution role's credentials)."""
    endpoint = os.environ[SELF_ENDPOINT_VARIABLE]
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_SESSION_TOKEN": "test",
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
    }


def _finish(job: Any, region: str) -> None:
    import boto3

    from emulator.training_job import run_job

    environment = container_environment(region)
    s3 = boto3.client(
        "s3",
        endpoint_url=environment["AWS_ENDPOINT_URL"],
        region_name=region,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        aws_session_token="test",
    )
    started = time.monotonic()
    try:
        outcome = run_job(job.response_object, s3, environment)
    except Exception as error:
        log.exception("training job %s: the emulator's container step failed", job.training_job_name)
        status, secondary, reason = "Failed", "Failed", f"InternalServerError: {error}"[:1024]
    else:
        status, secondary, reason = outcome.status, outcome.secondary_status, outcome.failure_reason
        if outcome.logs:
            log.info("training job %s logs:\n%s", job.training_job_name, outcome.logs[-4000:])
    seconds = max(1, round(time.monotonic() - started))
    with exclusive():  # moto's state changes under the server's request lock, as a request's would
        if job.training_job_status in ("Stopping", "Stopped"):  # StopTrainingJob while it ran: it stays stopped
            return
        now = dt.datetime.now(dt.UTC)
        job.training_end_time = job.last_modified_time = now
        # SageMaker's measure of the job (TrainingTimeInSeconds/BillableTimeInSeconds: emulator.patches_cost).
        job.tags = [*(job.tags or []), {"Key": TRAINING_SECONDS_TAG, "Value": str(seconds)}]
        job.secondary_status = secondary
        if reason:
            job.failure_reason = reason
        job.training_job_status = status


def sagemaker_training_job_runs_the_container() -> None:
    """moto: CreateTrainingJob's job is Completed at once and nothing runs. Patched: InProgress while the
    team's code runs (emulator.training_job), then its real end state."""
    from moto.sagemaker.models import SageMakerModelBackend

    original = SageMakerModelBackend.create_training_job

    def create_training_job(self, *args: Any, **kwargs: Any):
        job = original(self, *args, **kwargs)
        if job.training_job_status == "Failed":  # refused before any container started (emulator.patches_strict)
            return job
        job.training_job_status, job.secondary_status = "InProgress", "Training"
        job.training_end_time = None
        thread = threading.Thread(
            target=_finish, args=(job, self.region_name), name=f"training-{job.training_job_name}", daemon=True
        )
        _threads.append(thread)
        thread.start()
        return job

    create_training_job._mlp_patch = True
    SageMakerModelBackend.create_training_job = create_training_job


PATCHES: list[Callable[[], None]] = [sagemaker_training_job_runs_the_container]
