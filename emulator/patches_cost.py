"""Narrow moto patches for what GPU accounting reads (see emulator/patches.py for the rules)."""

from __future__ import annotations

import builtins
import json
from collections.abc import Callable

import boto3

TRAINING_SECONDS_TAG = "mlp-emulator:training-seconds"  # set by the emulator's SageMaker (record_training_time)


def sagemaker_training_job_times(set_attribute: Callable[..., None] = builtins.setattr) -> None:
    """moto: DescribeTrainingJob has no TrainingTimeInSeconds or BillableTimeInSeconds (AWS reports both
    for an ended job; managed spot bills less than it ran), and its jobs end the moment they start.

    Patched: a job the emulator's training container ran reports the seconds the container took as both
    figures (no spot interruption is played, so no saving is claimed). The figure travels as the job's
    tag `mlp-emulator:training-seconds`, set by the emulator's container step (emulator.patches_training)
    or, from another process, by `record_training_time`; jobs without it are answered as before.
    """
    from moto.sagemaker.models import FakeTrainingJob

    original = FakeTrainingJob.response_object
    if getattr(original, "mlp_patched", False):
        return

    def response_object(self: FakeTrainingJob) -> dict:
        response = original.fget(self)
        seconds = next((t["Value"] for t in self.tags if t.get("Key") == TRAINING_SECONDS_TAG), None)
        if seconds is not None:
            response["TrainingTimeInSeconds"] = response["BillableTimeInSeconds"] = int(seconds)
        return response

    patched = property(response_object)
    patched.fget.mlp_patched = True  # type: ignore[attr-defined]
    set_attribute(FakeTrainingJob, "response_object", patched)


def record_training_time(job_name: str, seconds: float) -> None:
    """What SageMaker measures of a job the emulator's container ran (at least 1 s: AWS rounds up)."""
    sagemaker = boto3.client("sagemaker")
    arn = sagemaker.describe_training_job(TrainingJobName=job_name)["TrainingJobArn"]
    sagemaker.add_tags(ResourceArn=arn, Tags=[{"Key": TRAINING_SECONDS_TAG, "Value": str(max(1, round(seconds)))}])


def budgets_update_budget(set_attribute: Callable[..., None] = builtins.setattr) -> None:
    """moto: Budgets `UpdateBudget` is not implemented (and moto reports 0 actual spend for ever).

    Patched: UpdateBudget replaces the stored budget with NewBudget (its notifications stay), as AWS
    does; the emulator's billing (emulator/billing.py) uses it to set the actual spend AWS would
    compute, which the budget-breach handler reads.
    """
    from moto.budgets.exceptions import NotFoundException
    from moto.budgets.responses import BudgetsResponse

    def update_budget(self: BudgetsResponse) -> str:
        account_id, new = self._get_param("AccountId"), self._get_param("NewBudget")
        budget = self.backend.budgets.get(account_id, {}).get(new["BudgetName"])
        if budget is None:
            raise NotFoundException(f"Unable to update budget: {new['BudgetName']} - the budget doesn't exist.")
        budget.budget.update(new)
        return json.dumps({})

    set_attribute(BudgetsResponse, "update_budget", update_budget)


PATCHES: list[Callable[[], None]] = [sagemaker_training_job_times, budgets_update_budget]
