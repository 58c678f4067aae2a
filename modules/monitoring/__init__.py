"""Monitoring: alarms on the platform's own drift and quality metrics and on the endpoint's golden
signals, all to an SNS topic (encrypted with the team key) that e-mails the owners.

Why the platform's own metrics: SageMaker Model Monitor is closed to new customers and the provider
has no model-quality job definition, so the drift_check and quality_check handlers publish to the
`MLPlatform` namespace (docs/CONTRACTS.md). An empty window publishes no drift value, so those alarms
treat missing data as not breaching.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

from cdktf_cdktf_provider_aws.cloudwatch_composite_alarm import CloudwatchCompositeAlarm
from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import CloudwatchMetricAlarm
from cdktf_cdktf_provider_aws.sns_topic import SnsTopic
from cdktf_cdktf_provider_aws.sns_topic_policy import SnsTopicPolicy
from cdktf_cdktf_provider_aws.sns_topic_subscription import SnsTopicSubscription
from constructs import Construct

from modules.naming import TeamContext
from stacks.config_ml import MonitoringSettings

NAMESPACE = "MLPlatform"
VARIANT = "primary"


@dataclass(frozen=True)
class MonitoringProps:
    context: TeamContext
    settings: MonitoringSettings
    owners: list[str]
    kms_key_arn: str
    feature_names: list[str]


def window_seconds(settings: MonitoringSettings) -> int:
    return settings.window_hours * 3600


class Monitoring(Construct):
    def __init__(self, scope: Construct, id: str, props: MonitoringProps):
        super().__init__(scope, id)
        ctx, settings = props.context, props.settings
        self._ctx = ctx
        self.topic = SnsTopic(self, "alerts", name=f"{ctx.prefix}-alerts", kms_master_key_id=props.kms_key_arn)
        SnsTopicPolicy(self, "alerts-policy", arn=self.topic.arn, policy=json.dumps(_topic_policy(ctx, self.topic.arn)))
        for owner in props.owners:
            SnsTopicSubscription(self, f"owner-{_slug(owner)}", topic_arn=self.topic.arn, protocol="email", endpoint=owner)

        platform = {"Team": ctx.team, "Environment": ctx.environment, "Endpoint": ctx.endpoint_name}
        period = min(window_seconds(settings), 86400)
        self.alarms: list = []
        feature_alarms = []
        for feature in props.feature_names:
            threshold = settings.feature_thresholds.get(feature, settings.drift_threshold_psi)
            feature_alarms.append(self._alarm(
                f"drift-{feature}", "FeaturePSI", NAMESPACE, {**platform, "Feature": feature}, "Maximum", period,
                "GreaterThanThreshold", threshold, "notBreaching",
                f"PSI of {feature} over the last window above {threshold} (data drift)",
            ))  # fmt: skip
        drift_max = self._alarm(
            "drift-max", "MaxFeaturePSI", NAMESPACE, platform, "Maximum", period, "GreaterThanThreshold",
            settings.drift_threshold_psi, "notBreaching", "Largest feature PSI over the last window (data drift)",
        )  # fmt: skip
        self.drift = CloudwatchCompositeAlarm(
            self,
            "drift",
            alarm_name=ctx.alarm_name("drift"),
            alarm_description=f"Data drift on {ctx.endpoint_name}: any feature's PSI over its threshold",
            alarm_rule=" OR ".join(f"ALARM(\"{a.alarm_name}\")" for a in [*feature_alarms, drift_max]),
            alarm_actions=[self.topic.arn],
            ok_actions=[self.topic.arn],
        )
        quality_operator = "GreaterThanThreshold" if settings.lower_is_better else "LessThanThreshold"
        quality = self._alarm(
            "quality", settings.metric, NAMESPACE, platform, "Average", period, quality_operator,
            settings.quality_threshold, "notBreaching",
            f"{settings.metric} against ground truth {'above' if settings.lower_is_better else 'below'} {settings.quality_threshold} (concept drift)",
        )  # fmt: skip
        endpoint = {"EndpointName": ctx.endpoint_name, "VariantName": VARIANT}
        latency = self._alarm(
            "latency-p99", "ModelLatency", "AWS/SageMaker", endpoint, "p99", 300, "GreaterThanThreshold",
            settings.latency_p99_ms * 1000, "notBreaching", f"Model latency p99 above {settings.latency_p99_ms} ms",
        )  # ModelLatency is in microseconds  # fmt: skip
        errors = self._alarm(
            "errors-5xx", "Invocation5XXErrors", "AWS/SageMaker", endpoint, "Sum", 300, "GreaterThanThreshold",
            settings.errors_5xx_threshold, "notBreaching", f"More than {settings.errors_5xx_threshold} 5XX errors in 5 minutes",
        )  # fmt: skip
        if settings.min_invocations_per_hour:
            self._alarm(
                "invocations-low", "Invocations", "AWS/SageMaker", endpoint, "Sum", 3600, "LessThanThreshold",
                settings.min_invocations_per_hour, "breaching", f"Fewer than {settings.min_invocations_per_hour} invocations in an hour",
            )  # fmt: skip
        # Composite alarms cannot roll back an endpoint: the metric alarms behind drift join the list.
        self.rollback_alarm_names = [latency.alarm_name, errors.alarm_name, drift_max.alarm_name, quality.alarm_name]
        self.retrain_alarm_names = [ctx.alarm_name("drift"), ctx.alarm_name("quality")]

    def _alarm(self, kind, metric, namespace, dimensions, statistic, period, operator, threshold, missing, description):
        ctx = self._ctx
        percentile = re.fullmatch(r"p\d+(\.\d+)?", statistic)
        alarm = CloudwatchMetricAlarm(
            self,
            kind,
            alarm_name=ctx.alarm_name(kind),
            alarm_description=description,
            namespace=namespace,
            metric_name=metric,
            dimensions=dimensions,
            statistic=None if percentile else statistic,
            extended_statistic=statistic if percentile else None,
            period=period,
            evaluation_periods=1,
            comparison_operator=operator,
            threshold=threshold,
            treat_missing_data=missing,
            alarm_actions=[self.topic.arn],
            ok_actions=[self.topic.arn],
        )
        self.alarms.append(alarm)
        return alarm


def _slug(email: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", email.lower()).strip("-")


def _topic_policy(ctx: TeamContext, topic_arn: str) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AlarmsAndEventsPublish",
                "Effect": "Allow",
                "Principal": {"Service": ["cloudwatch.amazonaws.com", "events.amazonaws.com", "budgets.amazonaws.com"]},
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {"StringEquals": {"aws:SourceAccount": ctx.account_id}},
            },
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ],
    }
