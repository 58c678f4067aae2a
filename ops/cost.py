"""GPU hours and their on-demand price: `python main.py cost <team>-<env> [--since --until]`.

Training: every training job of the team started in the period (ListTrainingJobs by the team's name
prefix), its billable seconds (spot: less than its training seconds; the difference is the saving) and
instance type, from DescribeTrainingJob. Serving: the team endpoint's current up-interval within the
period (from its CreationTime: a switched-off endpoint is deleted, so a recreated one starts a new
interval), times the instance count of its variant. Earlier intervals of the period, before a switch
off, are not recorded anywhere yet (see README "Cost": a known gap).

Prices: PRICES below, SageMaker on-demand USD per instance-hour in us-east-1 (training and real-time
inference are priced alike for these families to within a few percent; the inference price is used).
Source: https://aws.amazon.com/sagemaker/pricing/ (on-demand tab), transcribed on PRICES_AS_OF; the
page was not reachable from the build machine to re-check, so treat the figures as estimates and update
the table (and its date) from the page before relying on them. A type of the allowed lists that is not
in the table is reported as unpriced, never guessed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import boto3

from contract.names import TeamContext

PRICES_AS_OF = "2025-06-01"
PRICES_SOURCE = "https://aws.amazon.com/sagemaker/pricing/ (on-demand, us-east-1)"
PRICES: dict[str, float] = {
    "ml.g4dn.xlarge": 0.7364,
    "ml.g4dn.2xlarge": 1.0528,
    "ml.g4dn.4xlarge": 1.6856,
    "ml.g4dn.8xlarge": 3.0464,
    "ml.g4dn.12xlarge": 5.4768,
    "ml.g4dn.16xlarge": 6.0928,
    "ml.g5.xlarge": 1.408,
    "ml.g5.2xlarge": 1.515,
    "ml.g5.4xlarge": 2.03,
    "ml.g5.8xlarge": 3.06,
    "ml.g5.12xlarge": 7.09,
    "ml.g5.16xlarge": 5.12,
    "ml.g5.24xlarge": 10.18,
    "ml.g5.48xlarge": 20.36,
    "ml.p3.2xlarge": 3.825,
    "ml.p3.8xlarge": 14.688,
    "ml.p3.16xlarge": 28.152,
    "ml.p4d.24xlarge": 37.688,
}
HOURS_PER_MONTH = 730  # AWS's convention for monthly figures


@dataclass
class Usage:
    kind: str  # "training" or "serving"
    name: str
    instance_type: str
    instance_count: int
    billable_seconds: float
    training_seconds: float | None = None  # training: seconds run (spot saving = 1 - billable / training)

    @property
    def gpu_hours(self) -> float:
        return self.billable_seconds * self.instance_count / 3600

    @property
    def cost_usd(self) -> float | None:
        price = PRICES.get(self.instance_type)
        return None if price is None else round(self.gpu_hours * price, 4)


@dataclass
class CostReport:
    stack: str
    since: dt.datetime
    until: dt.datetime
    usage: list[Usage] = field(default_factory=list)
    budget_usd: float | None = None

    def total(self, kind: str) -> tuple[float, float]:
        rows = [u for u in self.usage if u.kind == kind]
        return sum(u.gpu_hours for u in rows), sum(u.cost_usd or 0 for u in rows)

    def lines(self) -> list[str]:
        out = [
            f"{self.stack}: {self.since:%Y-%m-%d %H:%M} .. {self.until:%Y-%m-%d %H:%M} UTC "
            f"(prices: {PRICES_SOURCE}, as of {PRICES_AS_OF})"
        ]
        for u in self.usage:
            cost = "unpriced" if u.cost_usd is None else f"{u.cost_usd:.2f} USD"
            spot = ""
            if u.training_seconds:
                spot = f", spot saving {100 * (1 - u.billable_seconds / u.training_seconds):.0f}%"
            out.append(f"  {u.kind:8} {u.name}: {u.instance_count} x {u.instance_type}, {u.gpu_hours:.3f} GPU h{spot}, {cost}")
        for kind in ("training", "serving"):
            hours, usd = self.total(kind)
            out.append(f"  {kind} total: {hours:.3f} GPU h, {usd:.2f} USD")
        budget = "none" if self.budget_usd is None else f"{self.budget_usd:.2f} USD per month"
        out.append(f"  budget: {budget}")
        return out


def training_usage(job: dict[str, Any]) -> Usage:
    """A DescribeTrainingJob answer as GPU usage (billable seconds as SageMaker reports them)."""
    config = job.get("ResourceConfig") or {}
    return Usage(
        "training",
        job["TrainingJobName"],
        config.get("InstanceType", "?"),
        int(config.get("InstanceCount") or 1),
        float(job.get("BillableTimeInSeconds") or 0),
        float(job.get("TrainingTimeInSeconds") or 0) or None,
    )


def report(ctx: TeamContext, since: dt.datetime, until: dt.datetime) -> CostReport:
    sagemaker = boto3.client("sagemaker")
    result = CostReport(f"{ctx.team}-{ctx.environment}", since, until)
    for page in sagemaker.get_paginator("list_training_jobs").paginate(
        NameContains=f"{ctx.prefix}-", CreationTimeAfter=since, CreationTimeBefore=until
    ):
        for summary in page["TrainingJobSummaries"]:
            if summary["TrainingJobName"].startswith(f"{ctx.prefix}-"):
                result.usage.append(training_usage(sagemaker.describe_training_job(TrainingJobName=summary["TrainingJobName"])))
    endpoint = _describe_endpoint(sagemaker, ctx.endpoint_name)
    if endpoint is not None:
        variant = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])["ProductionVariants"][0]
        start = max(endpoint["CreationTime"], since)
        count = int(
            ((endpoint.get("ProductionVariants") or [{}])[0]).get("CurrentInstanceCount") or variant["InitialInstanceCount"]
        )
        if until > start:
            result.usage.append(
                Usage("serving", ctx.endpoint_name, variant["InstanceType"], count, (until - start).total_seconds())
            )
    budgets = boto3.client("budgets")
    try:
        budget = budgets.describe_budget(AccountId=ctx.account_id, BudgetName=f"{ctx.prefix}-monthly")
        result.budget_usd = float(budget["Budget"]["BudgetLimit"]["Amount"])
    except budgets.exceptions.NotFoundException:
        result.budget_usd = None
    return result


def off_hours_saving(instance_type: str, instance_count: int, on_fraction: float) -> tuple[float, float]:
    """(hours off per month, USD saved per month) of an endpoint running `on_fraction` of the time."""
    hours_off = HOURS_PER_MONTH * (1 - on_fraction)
    return hours_off, hours_off * instance_count * PRICES[instance_type]


def _describe_endpoint(sagemaker: Any, name: str) -> dict[str, Any] | None:
    for page in sagemaker.get_paginator("list_endpoints").paginate(NameContains=name):
        if any(e["EndpointName"] == name for e in page["Endpoints"]):
            return sagemaker.describe_endpoint(EndpointName=name)
    return None
