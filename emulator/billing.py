"""What AWS does around the team's costs, played on the emulator one step at a time.

- `set_actual_spend`: billing's figure in AWS Budgets (moto keeps none: it reports 0 spend), so a
  test or the demo can reach the budget's acting percentage;
- `notify_topic`: SNS delivering a message on the team's alert topic to its Lambda subscribers (a
  budget notification arrives there), each invoked under its deployed role;
- `play_schedule`: EventBridge Scheduler firing one of the team's deployed schedules: its target and
  input are read from the deployed schedule, never assumed.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3

from contract.names import TeamContext
from emulator.eventbridge import Delivery, _handler_of
from emulator.iam_check import authorized_invoke


def set_actual_spend(ctx: TeamContext, amount_usd: float) -> None:
    """Billing's figure on the deployed budget (through UpdateBudget, emulator/patches_cost.py)."""
    budgets = boto3.client("budgets")
    budget = budgets.describe_budget(AccountId=ctx.account_id, BudgetName=f"{ctx.prefix}-monthly")["Budget"]
    spend = {"Amount": f"{amount_usd:.2f}", "Unit": "USD"}
    budget["CalculatedSpend"] = {"ActualSpend": spend, "ForecastedSpend": spend}
    budgets.update_budget(AccountId=ctx.account_id, NewBudget=budget)


def notify_topic(ctx: TeamContext, topic_arn: str, subject: str, message: str) -> list[Delivery]:
    sns, deliveries = boto3.client("sns"), []
    for subscription in sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]:
        if subscription["Protocol"] != "lambda":
            continue  # e-mail: the owners read it
        handler = _handler_of(ctx, subscription["Endpoint"].rsplit(":", 1)[-1])
        record = {
            "EventSource": "aws:sns",
            "EventVersion": "1.0",
            "EventSubscriptionArn": subscription["SubscriptionArn"],
            "Sns": {
                "Type": "Notification",
                "MessageId": str(uuid.uuid4()),
                "TopicArn": topic_arn,
                "Subject": subject,
                "Message": message,
                "MessageAttributes": {},
            },
        }
        deliveries.append(
            Delivery(subscription["SubscriptionArn"], handler, authorized_invoke(ctx, handler, {"Records": [record]}))
        )
    return deliveries


def play_schedule(ctx: TeamContext, name: str) -> Delivery:
    schedule = boto3.client("scheduler").get_schedule(Name=name)
    target = schedule["Target"]
    handler = _handler_of(ctx, target["Arn"].rsplit(":", 1)[-1])
    event: Any = json.loads(target.get("Input") or "{}")
    return Delivery(name, handler, authorized_invoke(ctx, handler, event))
