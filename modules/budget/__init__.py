"""Budget: a monthly AWS Budgets cost budget per team and environment, filtered by the `Team`
cost-allocation tag every resource carries (provider default_tags), alerting the owners by e-mail and
the team's SNS topic.

Why the Team tag only: a budget's cost filter ORs the values of one filter key, and both tags would be
values of the one key `TagKeyValue`, so `user:Team$fraud` with `user:Environment$dev` would count every
team's dev spend. Each environment has its own account here and a budget sees its own account's
costs, so the Team tag alone selects this stack's spend. Activate `Team` (and `Environment`,
`CostCenter`) as cost-allocation tags in the billing console once per organisation; until then the
filtered spend is zero.

Construct ids are Terraform addresses: keep them. See README.md beside this file.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktf_cdktf_provider_aws.budgets_budget import BudgetsBudget, BudgetsBudgetCostFilter, BudgetsBudgetNotification
from cdktf_cdktf_provider_aws.sns_topic import SnsTopic
from constructs import Construct

from config.aws_limits import MAX_BUDGET_NOTIFICATIONS, MAX_EMAIL_SUBSCRIBERS
from config.ml import BudgetSettings
from contract.names import TeamContext

FORECAST_PERCENT = 100


@dataclass(frozen=True)
class BudgetProps:
    context: TeamContext
    settings: BudgetSettings
    owners: list[str]
    topic: SnsTopic  # the team's alert topic (modules/monitoring): a subscriber of every notification


def cost_filter_value(tag: str, value: str) -> str:
    """A TagKeyValue filter value: `user:<tag>$<value>` for a user-defined cost-allocation tag."""
    return f"user:{tag}${value}"


class Budget(Construct):
    def __init__(self, scope: Construct, id: str, props: BudgetProps):
        super().__init__(scope, id)
        ctx, settings = props.context, props.settings
        owners = list(dict.fromkeys(props.owners))
        # Validation (TeamSpec.owners, BudgetSettings) refuses more; reaching these is a bug there.
        assert len(owners) <= MAX_EMAIL_SUBSCRIBERS, f"{len(owners)} owners: a notification takes {MAX_EMAIL_SUBSCRIBERS}"

        def notify(kind: str, percent: int) -> BudgetsBudgetNotification:
            return BudgetsBudgetNotification(
                comparison_operator="GREATER_THAN",
                notification_type=kind,
                threshold=percent,
                threshold_type="PERCENTAGE",
                subscriber_email_addresses=owners,
                subscriber_sns_topic_arns=[props.topic.arn],
            )

        notifications = [notify("ACTUAL", percent) for percent in sorted(set(settings.alert_thresholds_percent))]
        notifications.append(notify("FORECASTED", FORECAST_PERCENT))
        assert len(notifications) <= MAX_BUDGET_NOTIFICATIONS, f"{len(notifications)} budget notifications"
        self.budget = BudgetsBudget(
            self,
            "monthly",
            name=f"{ctx.prefix}-monthly",
            # Set explicitly: with skip_requesting_account_id (emulators) the provider cannot look it up.
            account_id=ctx.account_id,
            budget_type="COST",
            time_unit="MONTHLY",
            limit_amount=f"{settings.monthly_limit_usd:.2f}",
            limit_unit="USD",
            cost_filter=[BudgetsBudgetCostFilter(name="TagKeyValue", values=[cost_filter_value("Team", ctx.team)])],
            notification=notifications,
        )
