"""Names and tags every construct of a team stack derives from (docs/CONTRACTS.md, "Names").

Standard library only: config validation (config/deploy.py) derives the same names to check them against AWS
limits and against the other stacks of the account before anything is synthesized.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from contract.metrics import NAMESPACE_ROOT

# Drift alarms: one per model input (`drift-<feature>`), the backstop on the largest PSI, and the
# endpoint-level missing-value and unscored-input signals: together the drift composite's children.
DRIFT_MAX_KIND = "drift-max"
DRIFT_BACKSTOPS = (DRIFT_MAX_KIND, "missing-max", "unscored")


def owner_slug(email: str) -> str:
    """The construct id part of an owner's SNS subscription: `ML.Oncall@x.com` -> `ml-oncall-x-com`."""
    return re.sub(r"[^a-z0-9]+", "-", email.lower()).strip("-")


def drift_alarm_kinds(features: list[str]) -> list[str]:
    return [*(f"drift-{feature}" for feature in features), *DRIFT_BACKSTOPS]


@dataclass(frozen=True)
class TeamContext:
    """Who and where a stack is for; passed to every construct so names never drift apart."""

    platform: str
    team: str
    environment: str
    account_id: str
    region: str
    cost_center: str
    is_emulator: bool

    @property
    def prefix(self) -> str:
        return f"{self.platform}-{self.team}-{self.environment}"

    @property
    def protect_data(self) -> bool:
        """Real environments keep data through `terraform destroy`; emulator stacks are disposable."""
        return not self.is_emulator

    def bucket_name(self, purpose: str) -> str:
        return f"{self.prefix}-{purpose}-{self.account_id}"

    @property
    def endpoint_name(self) -> str:
        return self.prefix

    @property
    def runs_table_name(self) -> str:
        return f"{self.prefix}-runs"

    def parameter_name(self, what: str) -> str:
        """SSM parameters: training-recipe, serving-recipe, deployed-model."""
        return f"/{self.platform}/{self.team}/{self.environment}/{what}"

    def alarm_name(self, kind: str) -> str:
        """Every alarm of the team starts with the prefix (the retrain handler refuses other alarms).

        Kinds: latency-p99, errors-5xx, invocations-low, drift-max, drift-<feature>, drift (composite),
        quality."""
        return f"{self.prefix}-{kind}"

    def drift_alarm_rule(self, features: list[str]) -> str:
        """The drift composite alarm's rule: any of its children (drift_alarm_kinds) in ALARM."""
        return " OR ".join(f'ALARM("{self.alarm_name(kind)}")' for kind in drift_alarm_kinds(features))

    def feature_group_name(self, feature_set: str) -> str:
        return f"{self.prefix}-{feature_set}"

    def model_package_group_name(self, group: str) -> str:
        return f"{self.prefix}-{group}"

    @property
    def execution_role_name(self) -> str:
        """The SageMaker execution role of training jobs and the endpoint's models."""
        return f"{self.prefix}-sagemaker"

    def repository_url(self, purpose: str) -> str:
        """ECR repository URL (`training`, `inference`), as the provider reports `repository_url`."""
        return f"{self.account_id}.dkr.ecr.{self.region}.amazonaws.com/{self.prefix}-{purpose}"

    @property
    def metric_namespace(self) -> str:
        """The CloudWatch namespace of the team's platform metrics: one per team and environment, so the
        `cloudwatch:namespace` condition on PutMetricData keeps one team from publishing into (and
        tripping the alarms of) another, whatever dimensions it writes."""
        return f"{NAMESPACE_ROOT}/{self.prefix}"

    def function_name(self, handler: str) -> str:
        return f"{self.prefix}-{handler.replace('_', '-')}"

    def arn(self, service: str, resource: str, region: bool = True) -> str:
        return f"arn:aws:{service}:{self.region if region else ''}:{self.account_id}:{resource}"

    @property
    def tags(self) -> dict[str, str]:
        return {
            "Team": self.team,
            "Environment": self.environment,
            "CostCenter": self.cost_center,
            "ManagedBy": "ml-platform-blueprint",
        }
