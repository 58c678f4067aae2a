"""Monitoring: alarms on the platform's own drift and quality metrics and on the endpoint's golden
signals, all notifying an SNS topic (encrypted with the team key) that e-mails the owners.

Why the platform's own metrics: SageMaker Model Monitor is closed to new customers and the provider
has no model-quality job definition, so the drift_check and quality_check handlers publish to the
team's own `MLPlatform/<prefix>` namespace (docs/CONTRACTS.md, "Metrics") once per schedule tick, stamped with the end of
the window they cover. So:

- every alarm on those metrics has one period per tick (the schedule's rate; the window length for a
  cron schedule), evaluated once: CloudWatch then compares the latest published value;
- an empty window publishes no PSI and a window without labels no quality value, so those alarms treat
  missing data as not breaching: no traffic is not drift;
- the endpoint's auto-rollback list (`rollback_alarm_names`) is the serving variant's own health:
  p99 model latency, 5XX errors and model invocation errors of `EndpointName`/`VariantName`. Never
  the drift or quality alarms: they are what starts a retrain, so they are still in ALARM when the
  retrained model arrives and would roll it back on arrival; they also judge the data, not the fleet;
- the retraining rule matches the drift composite and the quality alarm (`retrain_alarm_names`); the
  composite fires once however many features drift together.

Construct ids are Terraform addresses: keep them. See README.md beside this file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from cdktf_cdktf_provider_aws.cloudwatch_composite_alarm import CloudwatchCompositeAlarm
from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import CloudwatchMetricAlarm
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from cdktf_cdktf_provider_aws.sns_topic import SnsTopic
from cdktf_cdktf_provider_aws.sns_topic_policy import SnsTopicPolicy
from cdktf_cdktf_provider_aws.sns_topic_subscription import SnsTopicSubscription
from constructs import Construct

from config.aws_limits import COMPOSITE_ALARM_RULE_CHARS, MAX_COMPOSITE_CHILDREN
from config.ml import MonitoringSettings
from contract.layout import VARIANT
from contract.names import DRIFT_BACKSTOPS, DRIFT_MAX_KIND, TeamContext, owner_slug
from modules.iam import Statement, allow, deny_insecure_transport, policy_document

SAGEMAKER_NAMESPACE = "AWS/SageMaker"
GOLDEN_SIGNAL_PERIOD = 300  # endpoint metrics arrive every minute; alarm on 5-minute aggregates
MAX_PERIOD = 7 * 24 * 3600  # CloudWatch: period x evaluation periods <= 7 days (for periods >= 1 hour)
# A feature missing (null, NaN/inf, absent) in this much more of the window than in the training rows
# is a drift signal of its own.
MISSING_RATE_INCREASE_THRESHOLD = 0.1
# Services that publish to the topic: alarms, EventBridge rules and the team's budget.
PUBLISHING_SERVICES = ("cloudwatch.amazonaws.com", "events.amazonaws.com", "budgets.amazonaws.com")

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


# The alarms that roll a blue/green deployment back (see the module docstring); the SageMaker execution
# role may describe exactly these (SageMaker reads them with that role during a deployment).
ROLLBACK_KINDS = ("latency-p99", "errors-5xx", "model-errors")


def rollback_alarm_names(ctx: TeamContext) -> list[str]:
    return [ctx.alarm_name(kind) for kind in ROLLBACK_KINDS]


@dataclass(frozen=True)
class MonitoringProps:
    context: TeamContext
    settings: MonitoringSettings
    owners: list[str]
    key: KmsKey  # the team key: encrypts the topic
    feature_names: list[str] = field(default_factory=list)  # the model's inputs; a drift alarm each
    endpoint_name: str | None = None  # the team's endpoint (context.endpoint_name) unless given
    variant_name: str = VARIANT


def metric_period_seconds(settings: MonitoringSettings) -> int:
    """Seconds between two publications of the drift and quality metrics: the schedule's rate, or the
    window length for a cron schedule; capped at CloudWatch's 7-day maximum."""
    rate = _RATE.match(settings.schedule)
    seconds = int(rate.group(1)) * _UNIT_SECONDS[rate.group(2).rstrip("s")] if rate else settings.window_hours * 3600
    return min(max(seconds, 60), MAX_PERIOD)


def feature_threshold(settings: MonitoringSettings, feature: str) -> float:
    return settings.feature_thresholds.get(feature, settings.drift_threshold_psi)


class Monitoring(Construct):
    """SNS topic + subscriptions + policy, per-feature and max drift alarms, the drift composite, the
    quality alarm and the endpoint's golden-signal alarms."""

    def __init__(self, scope: Construct, id: str, props: MonitoringProps):
        super().__init__(scope, id)
        ctx, settings = props.context, props.settings
        self._ctx = ctx
        features = list(props.feature_names)
        _check_features(ctx, settings, features)
        endpoint_name = props.endpoint_name or ctx.endpoint_name

        self.topic = SnsTopic(self, "alerts", name=f"{ctx.prefix}-alerts", kms_master_key_id=props.key.arn)
        SnsTopicPolicy(self, "alerts-policy", arn=self.topic.arn, policy=policy_document(_topic_statements(ctx, self.topic.arn)))
        for owner in props.owners:
            SnsTopicSubscription(self, f"owner-{owner_slug(owner)}", topic_arn=self.topic.arn, protocol="email", endpoint=owner)

        self.alarms: list[CloudwatchMetricAlarm] = []
        platform = {"Team": ctx.team, "Environment": ctx.environment, "Endpoint": endpoint_name}
        period = metric_period_seconds(settings)

        self.feature_alarms: dict[str, CloudwatchMetricAlarm] = {}
        for feature in features:
            threshold = feature_threshold(settings, feature)
            self.feature_alarms[feature] = self._alarm(
                f"drift-{feature}",
                ctx.metric_namespace,
                "FeaturePSI",
                {**platform, "Feature": feature},
                "Maximum",
                period,
                "GreaterThanThreshold",
                threshold,
                "notBreaching",
                f"Data drift: PSI of {feature} on {endpoint_name} above {threshold} over the last window",
            )
        # With per-feature alarms in place (they carry each feature's own threshold), drift-max is the
        # backstop at the loosest threshold, so a feature whose threshold was raised does not trip it;
        # without them it is the only drift alarm, at the default threshold.
        max_threshold = max([settings.drift_threshold_psi, *(feature_threshold(settings, f) for f in features)])
        self.drift_max = self._alarm(
            DRIFT_MAX_KIND,
            ctx.metric_namespace,
            "MaxFeaturePSI",
            platform,
            "Maximum",
            period,
            "GreaterThanThreshold",
            max_threshold,
            "notBreaching",
            f"Data drift: largest feature PSI on {endpoint_name} above {max_threshold} over the last window",
        )
        # Missing values: per feature (notify), their maximum and the count of unscored inputs (drift).
        self.missing_alarms = {
            feature: self._alarm(
                f"missing-{feature}",
                ctx.metric_namespace,
                "FeatureMissingRateIncrease",
                {**platform, "Feature": feature},
                "Maximum",
                period,
                "GreaterThanThreshold",
                MISSING_RATE_INCREASE_THRESHOLD,
                "notBreaching",
                f"{feature} missing (null, NaN/inf, absent) in {MISSING_RATE_INCREASE_THRESHOLD:.0%} more of the window "
                "than in the training rows",
            )
            for feature in features
        }
        # Endpoint-level signals: missing-max and unscored are drift (composite children); the capture
        # alarms (unreadable records, a window with no readable record) notify only.
        signals = {
            "missing-max": (
                "MaxMissingRateIncrease",
                "Maximum",
                "GreaterThanThreshold",
                MISSING_RATE_INCREASE_THRESHOLD,
                f"Data drift: a model input of {endpoint_name} missing in {MISSING_RATE_INCREASE_THRESHOLD:.0%} "
                "more of the window than in the training rows",
            ),
            "unscored": (
                "UnscoredFeatures",
                "Maximum",
                "GreaterThanThreshold",
                0,
                f"Data drift: a model input of {endpoint_name} could not be scored (no live value, or none in training)",
            ),
            "capture-malformed": (
                "MalformedCaptureRecords",
                "Maximum",
                "GreaterThanThreshold",
                0,
                f"Unreadable data-capture records of {endpoint_name} in the last window",
            ),
            "capture-empty": (
                "DriftSampleCount",
                "Minimum",
                "LessThanThreshold",
                1,
                f"No readable captured request of {endpoint_name} in the last window (no traffic, or capture broken)",
            ),
        }
        self.signal_alarms = {
            kind: self._alarm(
                kind, ctx.metric_namespace, metric, platform, statistic, period, operator, threshold, "notBreaching", description
            )
            for kind, (metric, statistic, operator, threshold, description) in signals.items()
        }
        self.missing_max, self.unscored = self.signal_alarms["missing-max"], self.signal_alarms["unscored"]
        children = [*self.feature_alarms.values(), self.drift_max, self.missing_max, self.unscored]
        self.drift = CloudwatchCompositeAlarm(
            self,
            "drift",
            alarm_name=ctx.alarm_name("drift"),
            alarm_description=f"Data drift on {endpoint_name}: a feature's PSI above its threshold (starts a retrain)",
            # Plain names keep the rule readable in the console; depends_on orders the creation, since
            # CloudWatch refuses a rule naming an alarm that does not exist yet.
            alarm_rule=ctx.drift_alarm_rule(features),
            alarm_actions=[self.topic.arn],
            ok_actions=[self.topic.arn],
            depends_on=children,
        )

        metric = settings.metric
        below = not settings.lower_is_better
        self.quality = self._alarm(
            "quality",
            ctx.metric_namespace,
            metric,
            platform,
            "Average",
            period,
            "LessThanThreshold" if below else "GreaterThanThreshold",
            settings.quality_threshold,
            "notBreaching",
            f"Model quality: {metric} against ground truth {'below' if below else 'above'} {settings.quality_threshold} "
            "over the last window (concept drift; starts a retrain)",
        )

        endpoint = {"EndpointName": endpoint_name, "VariantName": props.variant_name}
        self.latency = self._alarm(
            "latency-p99",
            SAGEMAKER_NAMESPACE,
            "ModelLatency",
            endpoint,
            "p99",
            GOLDEN_SIGNAL_PERIOD,
            "GreaterThanThreshold",
            settings.latency_p99_ms * 1000,  # ModelLatency is in microseconds
            "notBreaching",
            f"Model latency p99 above {settings.latency_p99_ms} ms over 5 minutes",
        )
        self.errors = self._alarm(
            "errors-5xx",
            SAGEMAKER_NAMESPACE,
            "Invocation5XXErrors",
            endpoint,
            "Sum",
            GOLDEN_SIGNAL_PERIOD,
            "GreaterThanThreshold",
            settings.errors_5xx_threshold,
            "notBreaching",
            f"More than {settings.errors_5xx_threshold} 5XX errors from the model in 5 minutes",
        )
        self.model_errors = self._alarm(
            "model-errors",
            SAGEMAKER_NAMESPACE,
            "InvocationModelErrors",
            endpoint,
            "Sum",
            GOLDEN_SIGNAL_PERIOD,
            "GreaterThanThreshold",
            settings.errors_5xx_threshold,
            "notBreaching",
            f"More than {settings.errors_5xx_threshold} failed model invocations (non-2XX, timeouts) in 5 minutes",
        )
        self.invocations_low = None
        if settings.min_invocations_per_hour > 0:
            # No invocations publish no datapoint at all: here missing data is the thing to alarm on.
            self.invocations_low = self._alarm(
                "invocations-low",
                SAGEMAKER_NAMESPACE,
                "Invocations",
                endpoint,
                "Sum",
                3600,
                "LessThanThreshold",
                settings.min_invocations_per_hour,
                "breaching",
                f"Fewer than {settings.min_invocations_per_hour} invocations in an hour",
            )

        self.rollback_alarm_names = rollback_alarm_names(ctx)
        self.retrain_alarm_names = [ctx.alarm_name("drift"), ctx.alarm_name("quality")]

    def _alarm(self, kind, namespace, metric, dimensions, statistic, period, operator, threshold, missing, description):
        percentile = re.fullmatch(r"p\d{1,2}(\.\d+)?", statistic) is not None
        alarm = CloudwatchMetricAlarm(
            self,
            kind,
            alarm_name=self._ctx.alarm_name(kind),
            alarm_description=description[:1024],
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


def _check_features(ctx: TeamContext, settings: MonitoringSettings, features: list[str]) -> None:
    """Validation (config/*.py) refuses all of these with a located error; reaching one is a bug there."""
    assert len(set(features)) == len(features), f"monitored feature names repeat: {features}"
    assert len(features) + len(DRIFT_BACKSTOPS) <= MAX_COMPOSITE_CHILDREN, (
        f"{len(features)} monitored features: too many for the drift composite"
    )
    assert set(settings.feature_thresholds) <= set(features), f"feature_thresholds name non-inputs: {settings.feature_thresholds}"
    assert len(ctx.drift_alarm_rule(features)) <= COMPOSITE_ALARM_RULE_CHARS, "drift composite rule too long"


def _topic_statements(ctx: TeamContext, topic_arn: str) -> list[Statement]:
    """Alarms, EventBridge rules and the budget of this account may publish; nothing over plain HTTP.
    The account's own principals (the loop's Lambdas) publish through their IAM policies."""
    return [
        allow(
            "ServicesOfThisAccountPublish",
            "sns:Publish",
            topic_arn,
            {"StringEquals": {"aws:SourceAccount": ctx.account_id}},
            principal={"Service": list(PUBLISHING_SERVICES)},
        ),
        deny_insecure_transport("sns:Publish", topic_arn),
    ]
