"""Narrow moto patches for what GPU accounting reads (see emulator/patches.py for the rules)."""
from __future__ import annotations

import builtins
from collections.abc import Callable


def sagemaker_training_job_times(set_attribute: Callable[..., None] = builtins.setattr) -> None:
    """moto: DescribeTrainingJob has no TrainingTimeInSeconds or BillableTimeInSeconds (AWS reports both
    for an ended job; managed spot bills less than it ran), and its jobs end the moment they start.

    Patched: a job the emulator's training container ran (`record_training_time`) reports the seconds
    the container took as both figures (no spot interruption is played, so no saving is claimed);
    other jobs are answered as before.
    """
    from moto.sagemaker.models import FakeTrainingJob

    original = FakeTrainingJob.response_object
    if getattr(original, "mlp_patched", False):
        return

    def response_object(self: FakeTrainingJob) -> dict:
        response = original.fget(self)
        seconds = getattr(self, "mlp_training_seconds", None)
        if seconds is not None:
            response["TrainingTimeInSeconds"] = response["BillableTimeInSeconds"] = seconds
        return response

    patched = property(response_object)
    patched.fget.mlp_patched = True  # type: ignore[attr-defined]
    set_attribute(FakeTrainingJob, "response_object", patched)


def record_training_time(job_name: str, seconds: int) -> None:
    """What SageMaker measures of a job the emulator's container ran (at least 1 s: AWS rounds up)."""
    from moto.sagemaker.models import sagemaker_backends

    for regions in sagemaker_backends.values():
        for backend in regions.values():
            job = backend.training_jobs.get(job_name)
            if job is not None:
                job.mlp_training_seconds = max(1, int(seconds))
                return
    raise LookupError(f"training job {job_name} is not in the emulator")


PATCHES: list[Callable[[], None]] = [sagemaker_training_job_times]
