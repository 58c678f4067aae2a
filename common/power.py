"""Switching a non-production endpoint off and on: off-hours and budget breaches.

Off deletes the endpoint and its scalable target and keeps its endpoint configs and models; on
recreates the endpoint on the config the deployed-model pointer names, with the recipe's deployment
config (blue/green, alarm rollback); its data capture comes with the config, and its autoscaling is
registered again by the endpoint's InService state change (common/endpoint.py). Nothing here is in
Terraform's state, so `plan` stays empty across a cycle.

The power state is recorded in the pointer (`power: {"state": "off", "reason", "at"}`, CONTRACTS.md):
- an approval while off records the new model in the pointer without creating the endpoint; the next
  switch-on serves it (an approval never undoes off-hours or a budget pause);
- a budget pause (`reason: "budget"`) outlives the off-hours schedule: a scheduled switch-on leaves
  the endpoint off until an operator resumes (`python main.py resume <team>-<env>`).
Production (`PRODUCTION=true`, from the config's `production: true`) is never switched off.

The functions take the function's environment (contract.environment.LambdaEnvironment), read once by the
deploy handler at its edge, and the event already parsed (contract.events).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from botocore.exceptions import ClientError

from common import aws
from common import endpoint as endpoint_lifecycle
from contract.environment import LambdaEnvironment
from contract.events import BadEvent, OffHoursSwitch, TopicNotice

log = logging.getLogger()

OFF_HOURS, BUDGET = "off-hours", "budget"


def read_pointer(parameter: str) -> dict[str, Any]:
    """The deployed-model pointer (DEPLOYED_MODEL_PARAMETER), {} when none was written yet."""
    return aws.optional_json_parameter(parameter) or {}


def put_pointer(parameter: str, pointer: dict[str, Any]) -> None:
    aws.client("ssm").put_parameter(Name=parameter, Value=json.dumps(pointer, sort_keys=True), Type="String", Overwrite=True)


def switched_off(environment: LambdaEnvironment) -> dict[str, Any] | None:
    """The recorded power state when the endpoint is switched off (and really absent), else None."""
    power = read_pointer(environment.deployed_model_parameter).get("power")
    if isinstance(power, dict) and power.get("state") == "off" and endpoint_lifecycle.describe(environment.endpoint_name) is None:
        return power
    return None


def on_schedule(event: OffHoursSwitch, environment: LambdaEnvironment) -> dict[str, Any]:
    """An off-hours schedule's request (the event says which switch; what exists is read from AWS)."""
    if environment.production:
        raise BadEvent("this is a production environment: it is never switched off or on by a schedule")
    return switch_off(OFF_HOURS, environment) if event.action == "off" else switch_on(False, environment)


def _power(pointer: dict[str, Any]) -> dict[str, Any]:
    """The pointer's power record ({} when the endpoint was never switched off)."""
    power = pointer.get("power")
    return power if isinstance(power, dict) else {}


def switch_off(reason: str, environment: LambdaEnvironment) -> dict[str, Any]:
    if environment.production:
        raise BadEvent("this is a production environment: its endpoint is never switched off")
    pointer = read_pointer(environment.deployed_model_parameter)
    previous = _power(pointer)
    if previous.get("reason") == BUDGET:
        reason = BUDGET  # off-hours never turn a budget pause into something a schedule undoes
    deleted = endpoint_lifecycle.delete_keeping_configs(environment.endpoint_name, _variant(environment))
    power = (
        previous
        if previous.get("reason") == reason and previous.get("state") == "off"
        else {"state": "off", "reason": reason, "at": _now()}
    )
    if pointer.get("power") != power:
        put_pointer(environment.deployed_model_parameter, {**pointer, "power": power})
    log.info("endpoint %s switched off (%s); deleted now: %s", environment.endpoint_name, reason, deleted)
    return {
        "switched": "off",
        "reason": reason,
        "endpoint_deleted": deleted,
        "serves_when_on": pointer.get("endpoint_config_name"),
    }


def switch_on(resume: bool, environment: LambdaEnvironment) -> dict[str, Any]:
    """Recreate the endpoint on the pointer's config. A budget pause needs `resume` (an operator)."""
    pointer, name = read_pointer(environment.deployed_model_parameter), environment.endpoint_name
    power = _power(pointer)
    if power.get("reason") == BUDGET and not resume:
        return {"switched": None, "reason": "paused by a budget breach: resume with `python main.py resume`"}
    result: dict[str, Any] = {"switched": None}
    config = pointer.get("endpoint_config_name")
    if endpoint_lifecycle.describe(name) is not None:
        result["reason"] = "the endpoint exists"
    elif not config:
        result["reason"] = "no model was deployed yet: the first approval creates the endpoint"
    else:
        version = int(pointer.get("model_package_version") or 0)
        endpoint_lifecycle.create(
            name,
            config,
            endpoint_lifecycle.read_recipe(environment.serving_recipe_parameter),
            endpoint_lifecycle.owned_tags(pointer.get("run_id") or "unknown", version, environment.team, environment.environment),
        )
        result = {"switched": "on", "endpoint_config_name": config, "model_package_version": version}
    if "power" in pointer:
        put_pointer(environment.deployed_model_parameter, {k: v for k, v in pointer.items() if k != "power"})
    return result


def _variant(environment: LambdaEnvironment) -> str:
    return endpoint_lifecycle.read_recipe(environment.serving_recipe_parameter).variant_name


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


# --------------------------------------------------------------------------------------------------
# A budget breach: the budget's notification reaches the team's alert topic, which this function hears
# --------------------------------------------------------------------------------------------------

OWN_ALERT_ATTRIBUTE = "mlp-origin"  # set on the alert this function publishes, so it ignores its own message
PAUSED_RULES = ("retrain-schedule", "retrain-on-alarm")  # the rules that start training runs on their own


def on_topic_notice(event: TopicNotice, environment: LambdaEnvironment) -> dict[str, Any]:
    """A message on the team's alert topic (budget notices arrive there, as do alarms): only says when
    to look. Whether the budget is breached is read from AWS Budgets (actual spend against the limit at
    BUDGET_ACT_PERCENT)."""
    topic = environment.alert_topic_arn
    for message in event.messages:
        if message.topic_arn != topic:
            raise BadEvent(f"message from topic {message.topic_arn!r}; this function hears {topic!r}")
        if OWN_ALERT_ATTRIBUTE in message.attributes:
            return {"acted": False, "reason": "this function's own alert"}
    spend, limit = _budget_spend(environment)
    percent = float(environment.budget_act_percent)
    figures = {"actual_spend_usd": spend, "limit_usd": limit, "act_at_percent": percent}
    if spend * 100 < limit * percent:
        return {"acted": False, "reason": "the budget is not breached at the acting percentage", **figures}
    if environment.production:
        # The budget's own notification already reached the owners (e-mail and this topic).
        log.warning("budget breached in production (%s of %s USD): alerted only", spend, limit)
        return {"acted": False, "reason": "production is only alerted", **figures}
    already = (read_pointer(environment.deployed_model_parameter).get("power") or {}).get("reason") == BUDGET
    off = switch_off(BUDGET, environment)
    paused = _set_rules(environment.prefix, enabled=False)
    if not already:
        _alert(
            topic,
            f"Budget breached: {environment.prefix} switched off",
            f"Actual spend {spend:.2f} USD reached {percent:g}% of the {limit:.2f} USD monthly budget. The endpoint "
            f"{environment.endpoint_name} is switched off and scheduled retraining is paused "
            f"({', '.join(paused) or 'no rules'}). "
            f"Resume with: python main.py resume {environment.team}-{environment.environment}",
        )
    return {"acted": True, **off, "paused_rules": paused, "alerted": not already, **figures}


def resume(environment: LambdaEnvironment) -> dict[str, Any]:
    """The operator's way back from a budget pause: retraining rules enabled, the endpoint switched on."""
    if environment.production:
        raise BadEvent("this is a production environment: nothing is ever paused there")
    return {"resumed_rules": _set_rules(environment.prefix, enabled=True), **switch_on(True, environment)}


def _budget_spend(environment: LambdaEnvironment) -> tuple[float, float]:
    account = environment.alert_topic_arn.split(":")[4]
    name = f"{environment.prefix}-monthly"
    budget = aws.client("budgets").describe_budget(AccountId=account, BudgetName=name)["Budget"]
    actual = (budget.get("CalculatedSpend") or {}).get("ActualSpend") or {"Amount": "0"}
    return float(actual["Amount"]), float(budget["BudgetLimit"]["Amount"])


def _set_rules(prefix: str, enabled: bool) -> list[str]:
    """Enable or disable the team's retraining rules that exist (the schedule is optional)."""
    events, changed = aws.client("events"), []
    for rule in PAUSED_RULES:
        name = f"{prefix}-{rule}"
        try:
            (events.enable_rule if enabled else events.disable_rule)(Name=name)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
            continue
        changed.append(name)
    return changed


def _alert(topic_arn: str, subject: str, message: str) -> None:
    aws.client("sns").publish(
        TopicArn=topic_arn,
        Subject=subject[:100],
        Message=message,
        MessageAttributes={OWN_ALERT_ATTRIBUTE: {"DataType": "String", "StringValue": "deploy"}},
    )
