"""The environment every platform Lambda function gets (docs/CONTRACTS.md, "Lambda environment"), as one
typed object: the stack writes it with `to_env()`, a handler reads it with `from_env()`.

Standard library only.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

from contract.layout import DEFINITIONS_KEY

PROBLEM_TYPES = ("binary", "regression")


class FunctionEnvironmentError(RuntimeError):
    """The function's environment lacks a variable or holds a value of the wrong form."""


@dataclass(frozen=True)
class LambdaEnvironment:
    platform: str
    team: str
    environment: str
    prefix: str
    raw_bucket: str
    curated_bucket: str
    artifact_bucket: str
    kms_key_arn: str
    endpoint_name: str
    model_package_group: str
    runs_table: str
    training_recipe_parameter: str
    serving_recipe_parameter: str
    deployed_model_parameter: str
    code_bundle_parameter: str  # written by `main.py publish-code`: the team's current code bundle
    metric_namespace: str
    retrain_alarm_arns: tuple[str, ...]  # what the retrain handler accepts: its own alarms (by ARN) ...
    watch_rule_arn: str  # ... and its own rules
    retrain_schedule_rule_arns: tuple[str, ...]
    alert_topic_arn: str
    cooldown_seconds: int
    auto_approve: bool
    window_hours: int
    quality_min_samples: int  # the quality check scores a window only with at least this many joined labels
    problem_type: str  # binary | regression
    production: bool  # off-hours and budget breaches never switch production off (common/power.py)
    budget_act_percent: int
    feature_definitions_key: str = DEFINITIONS_KEY

    @staticmethod
    def variable(field: str) -> str:
        return "ARTIFACT_BUCKET" if field == "artifact_bucket" else field.upper()

    def to_env(self) -> dict[str, str]:
        """The function's variables (strings; lists comma-separated, booleans `true`/`false`)."""
        out = {}
        for field in fields(self):
            name, value = field.name, getattr(self, field.name)
            if isinstance(value, bool):
                value = "true" if value else "false"
            elif isinstance(value, tuple):
                value = ",".join(value)
            out[self.variable(name)] = str(value)
        return out

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LambdaEnvironment:
        """Read and check every variable once (at the handler's edge); a missing one is named."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        problems = []
        for field in fields(cls):
            variable = cls.variable(field.name)
            raw = environ.get(variable)
            if raw is None or (raw == "" and field.type not in ("tuple[str, ...]",)):
                if field.default is not dataclasses.MISSING:
                    continue
                problems.append(f"{variable} is not set")
                continue
            try:
                values[field.name] = _parse(field.type, raw)
            except ValueError as error:
                problems.append(f"{variable}={raw!r}: {error}")
        problems += _out_of_range(values)
        if problems:
            raise FunctionEnvironmentError(
                "function environment: " + "; ".join(problems) + " (the stack sets every variable on every function)"
            )
        return cls(**values)  # type: ignore[arg-type]


def _out_of_range(values: Mapping[str, object]) -> list[str]:
    """The values of the right type that no handler can work with (the stack never writes them)."""
    problems = []
    if values.get("problem_type", PROBLEM_TYPES[0]) not in PROBLEM_TYPES:
        problems.append(f"PROBLEM_TYPE={values['problem_type']!r}: expected one of {list(PROBLEM_TYPES)}")
    for field, least in (
        ("window_hours", 1),
        ("quality_min_samples", 1),
        ("cooldown_seconds", 0),
        ("budget_act_percent", 1),
    ):
        value = values.get(field, least)
        if isinstance(value, int) and value < least:
            problems.append(f"{LambdaEnvironment.variable(field)}={value}: expected an integer >= {least}")
    return problems


def _parse(kind: object, raw: str) -> object:
    if kind == "bool":
        if raw not in ("true", "false"):
            raise ValueError("expected true or false")
        return raw == "true"
    if kind == "int":
        return int(raw)
    if kind == "tuple[str, ...]":
        return tuple(item for item in raw.split(",") if item)
    return raw
