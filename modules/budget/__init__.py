"""A monthly cost budget per team and environment (account), filtered by the Team cost-allocation tag
every resource carries, alerting the owners and the team's topic. Activate `Team` as a cost-allocation
tag in the billing console once per organisation."""
from __future__ import annotations

from dataclasses import dataclass

from cdktf_cdktf_provider_aws.budgets_budget import BudgetsBudget, BudgetsBudgetCostFilter, BudgetsBudgetNotification
from constructs import Construct

from modules.naming import TeamContext
from stacks.config_ml import BudgetSettings


@dataclass(frozen=True)
class BudgetProps:
    context: TeamContext
    settings: BudgetSettings
    owners: list[str]
    topic_arn: str


class Budget(Construct):
    def __init__(self, scope: Construct, id: str, props: BudgetProps):
        super().__init__(scope, id)
        ctx, settings = props.context, props.settings
        notifications = [
            BudgetsBudgetNotification(
                comparison_operator="GREATER_THAN",
                notification_type="ACTUAL",
                threshold=percent,
                threshold_type="PERCENTAGE",
                subscriber_email_addresses=props.owners,
                subscriber_sns_topic_arns=[props.topic_arn],
            )
            for percent in settings.alert_thresholds_percent
        ]
        notifications.append(
            BudgetsBudgetNotification(
                comparison_operator="GREATER_THAN",
                notification_type="FORECASTED",
                threshold=100,
                threshold_type="PERCENTAGE",
                subscriber_email_addresses=props.owners,
                subscriber_sns_topic_arns=[props.topic_arn],
            )
        )
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
            # Each environment is its own account, so the Team tag alone selects this stack's spend.
            cost_filter=[BudgetsBudgetCostFilter(name="TagKeyValue", values=[f"user:Team${ctx.team}"])],
            notification=notifications,
        )
