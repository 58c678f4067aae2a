"""Names and tags every construct of a team stack derives from (docs/CONTRACTS.md, "Names")."""
from __future__ import annotations

from dataclasses import dataclass


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

    @property
    def metric_namespace(self) -> str:
        """The CloudWatch namespace of the team's platform metrics: one per team and environment, so the
        `cloudwatch:namespace` condition on PutMetricData keeps one team from publishing into (and
        tripping the alarms of) another, whatever dimensions it writes."""
        return f"MLPlatform/{self.prefix}"

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
