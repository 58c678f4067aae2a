"""Off-hours of a non-production team endpoint, and the budget's way to the deploy handler.

Two EventBridge Scheduler schedules (Scheduler, unlike EventBridge rules, evaluates cron in a time zone:
`schedule_expression_timezone`) invoke the deploy function with `{"source": "mlp.off-hours",
"action": "off" | "on"}`; the handler deletes the endpoint or recreates it from the deployed-model
pointer (common/power.py). The endpoint is not in Terraform's state, so a switch leaves
`plan` empty, and `destroy` removes it (serving/teardown) whether it is on or off.

The deploy function also hears the team's alert topic, where the budget's notifications arrive: on
each message it reads the budget from AWS Budgets and acts at the configured percentage.

Construct ids are Terraform addresses: keep them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from cdktf_cdktf_provider_aws.lambda_permission import LambdaPermission
from cdktf_cdktf_provider_aws.scheduler_schedule import (
    SchedulerSchedule,
    SchedulerScheduleFlexibleTimeWindow,
    SchedulerScheduleTarget,
    SchedulerScheduleTargetRetryPolicy,
)
from cdktf_cdktf_provider_aws.sns_topic import SnsTopic
from cdktf_cdktf_provider_aws.sns_topic_subscription import SnsTopicSubscription
from constructs import Construct

from config.off_hours import OffHoursSpec
from contract.names import TeamContext
from modules.functions import PlatformFunction
from modules.iam import allow, policy_document, service_trust_policy

SWITCH_SOURCE = "mlp.off-hours"  # common/power.py SCHEDULE_SOURCE


@dataclass(frozen=True)
class OffHoursProps:
    context: TeamContext
    function: PlatformFunction  # the deploy handler (modules/retraining): switches the endpoint, acts on the budget
    alert_topic: SnsTopic  # the team's alert topic (modules/monitoring), where the budget's notifications arrive
    key: KmsKey  # the team key: encrypts the schedules' input
    off_hours: OffHoursSpec | None


class OffHours(Construct):
    def __init__(self, scope: Construct, id: str, props: OffHoursProps):
        super().__init__(scope, id)
        ctx, function, topic_arn, key_arn = props.context, props.function, props.alert_topic.arn, props.key.arn
        SnsTopicSubscription(self, "budget-notices", topic_arn=topic_arn, protocol="lambda", endpoint=function.arn)
        LambdaPermission(
            self,
            "budget-notices-permission",
            statement_id="sns-alert-topic",
            action="lambda:InvokeFunction",
            function_name=function.function.function_name,
            principal="sns.amazonaws.com",
            source_arn=topic_arn,
        )
        if props.off_hours is None:
            return
        # Scheduler assumes this role to invoke the function; only this account's schedules may.
        self.role = IamRole(
            self,
            "scheduler-role",
            name=f"{ctx.prefix}-off-hours-scheduler",
            assume_role_policy=service_trust_policy("scheduler.amazonaws.com", ctx.account_id),
        )
        IamRolePolicy(
            self,
            "scheduler-policy",
            name="invoke-deploy",
            role=self.role.id,
            policy=policy_document(
                [
                    allow("InvokeDeploy", "lambda:InvokeFunction", function.arn),
                    # The schedules' input is encrypted with the team key (Scheduler decrypts it as this role).
                    allow("ScheduleInputKey", "kms:Decrypt", key_arn),
                ]
            ),
        )
        for action, expression in (("off", props.off_hours.switch_off), ("on", props.off_hours.switch_on)):
            SchedulerSchedule(
                self,
                f"switch-{action}",
                name=f"{ctx.prefix}-switch-{action}",
                schedule_expression=expression,
                schedule_expression_timezone=props.off_hours.timezone,
                kms_key_arn=key_arn,
                flexible_time_window=SchedulerScheduleFlexibleTimeWindow(mode="OFF"),
                target=SchedulerScheduleTarget(
                    arn=function.arn,
                    role_arn=self.role.arn,
                    input=json.dumps({"source": SWITCH_SOURCE, "action": action}),
                    retry_policy=SchedulerScheduleTargetRetryPolicy(maximum_event_age_in_seconds=3600, maximum_retry_attempts=8),
                ),
            )
