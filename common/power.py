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
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from botocore.exceptions import ClientError

from common import aws
from common import endpoint as endpoint_lifecycle
from contract.environment import env
from contract.events import BadEvent, expect

log = logging.getLogger()

SCHEDULE_SOURCE = "mlp.off-hours"  # the off-hours schedules' input: {"source", "action": "off" | "on"}
OFF_HOURS, BUDGET = "off-hours", "budget"


def is_schedule_event(event: Any) -> bool:
    return isinstance(event, dict) and event.get("source") == SCHEDULE_SOURCE


def is_production() -> bool:
    return env("PRODUCTION") == "true"


def read_pointer() -> dict[str, Any]:
    """The deployed-model pointer, {} when none was written yet."""
    return aws.optional_json_parameter(env("DEPLOYED_MODEL_PARAMETER")) or {}


def put_pointer(pointer: dict[str, Any]) -> None:
    aws.client("ssm").put_parameter(
        Name=env("DEPLOYED_MODEL_PARAMETER"), Value=json.dumps(pointer, sort_keys=True), Type="String", Overwrite=True
    )


def switched_off() -> dict[str, Any] | None:
    """The recorded power state when the endpoint is switched off (and really absent), else None."""
    power = read_pointer().get("power")
    if isinstance(power, dict) and power.get("state") == "off" and endpoint_lifecycle.describe(env("ENDPOINT_NAME")) is None:
        return power
    return None


def on_schedule(event: dict[str, Any]) -> dict[str, Any]:
    """An off-hours schedule's request (the event says which switch; what exists is read from AWS)."""
    action = expect(event, "action", ("off", "on"))
    if is_production():
        raise BadEvent("this is a production environment: it is never switched off or on by a schedule")
    return switch_off(OFF_HOURS) if action == "off" else switch_on(resume=False)


def _power(pointer: dict[str, Any]) -> dict[str, Any]:
    """The pointer's power record ({} when the endpoint was never switched off)."""
    power = pointer.get("power")
    return power if isinstance(power, dict) else {}


def switch_off(reason: str) -> dict[str, Any]:
    if is_production():
        raise BadEvent("this is a production environment: its endpoint is never switched off")
    pointer = read_pointer()
    previous = _power(pointer)
    if previous.get("reason") == BUDGET:
        reason = BUDGET  # off-hours never turn a budget pause into something a schedule undoes
    deleted = endpoint_lifecycle.delete_keeping_configs(env("ENDPOINT_NAME"), _variant())
    power = (
        previous
        if previous.get("reason") == reason and previous.get("state") == "off"
        else {"state": "off", "reason": reason, "at": _now()}
    )
    if pointer.get("power") != power:
        put_pointer({**pointer, "power": power})
    log.info("endpoint %s switched off (%s); deleted now: %s", env("ENDPOINT_NAME"), reason, deleted)
    return {
        "switched": "off",
        "reason": reason,
        "endpoint_deleted": deleted,
        "serves_when_on": pointer.get("endpoint_config_name"),
    }


def switch_on(resume: bool) -> dict[str, Any]:
    """Recreate the endpoint on the pointer's config. A budget pause needs `resume` (an operator)."""
    pointer, name = read_pointer(), env("ENDPOINT_NAME")
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
            endpoint_lifecycle.read_recipe(),
            endpoint_lifecycle.owned_tags(pointer.get("run_id") or "unknown", version),
        )
        result = {"switched": "on", "endpoint_config_name": config, "model_package_version": version}
    if "power" in pointer:
        put_pointer({k: v for k, v in pointer.items() if k != "power"})
    return result


def _variant() -> str:
    return endpoint_lifecycle.read_recipe().variant_name


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


# --------------------------------------------------------------------------------------------------
# A budget breach: the budget's notification reaches the team's alert topic, which this function hears
# --------------------------------------------------------------------------------------------------

OWN_ALERT_ATTRIBUTE = "mlp-origin"  # set on the alert this function publishes, so it ignores its own message
PAUSED_RULES = ("retrain-schedule", "retrain-on-alarm")  # the rules that start training runs on their own


def is_topic_notice(event: Any) -> bool:
    records = event.get("Records") if isinstance(event, dict) else None
    return (
        isinstance(records, list)
        and bool(records)
        and all(isinstance(r, dict) and r.get("EventSource") == "aws:sns" for r in records)
    )


def on_topic_notice(event: dict[str, Any]) -> dict[str, Any]:
    """A message on the team's alert topic (budget notices arrive there, as do alarms): only says when
    to look. Whether the budget is breached is read from AWS Budgets (actual spend against the limit at
    BUDGET_ACT_PERCENT)."""
    for record in event["Records"]:
        sns = record.get("Sns") or {}
        if sns.get("TopicArn") != env("ALERT_TOPIC_ARN"):
            raise BadEvent(f"message from topic {sns.get('TopicArn')!r}; this function hears {env('ALERT_TOPIC_ARN')!r}")
        if OWN_ALERT_ATTRIBUTE in (sns.get("MessageAttributes") or {}):
            return {"acted": False, "reason": "this function's own alert"}
    spend, limit = _budget_spend()
    percent = float(env("BUDGET_ACT_PERCENT"))
    figures = {"actual_spend_usd": spend, "limit_usd": limit, "act_at_percent": percent}
    if spend * 100 < limit * percent:
        return {"acted": False, "reason": "the budget is not breached at the acting percentage", **figures}
    if is_production():
        # The budget's own notification already reached the owners (e-mail and this topic).
        log.warning("budget breached in production (%s of %s USD): alerted only", spend, limit)
        return {"acted": False, "reason": "production is only alerted", **figures}
    already = (read_pointer().get("power") or {}).get("reason") == BUDGET
    off = switch_off(BUDGET)
    paused = _set_rules(enabled=False)
    if not already:
        _alert(
            f"Budget breached: {env('PREFIX')} switched off",
            f"Actual spend {spend:.2f} USD reached {percent:g}% of the {limit:.2f} USD monthly budget. The endpoint "
            f"{env('ENDPOINT_NAME')} is switched off and scheduled retraining is paused ({', '.join(paused) or 'no rules'}). "
            f"Resume with: python main.py resume {env('TEAM')}-{env('ENVIRONMENT')}",
        )
    return {"acted": True, **off, "paused_rules": paused, "alerted": not already, **figures}


def resume() -> dict[str, Any]:
    """The operator's way back from a budget pause: retraining rules enabled, the endpoint switched on."""
    if is_production():
        raise BadEvent("this is a production environment: nothing is ever paused there")
    return {"resumed_rules": _set_rules(enabled=True), **switch_on(resume=True)}


def _budget_spend() -> tuple[float, float]:
    account = env("ALERT_TOPIC_ARN").split(":")[4]
    budget = aws.client("budgets").describe_budget(AccountId=account, BudgetName=f"{env('PREFIX')}-monthly")["Budget"]
    actual = (budget.get("CalculatedSpend") or {}).get("ActualSpend") or {"Amount": "0"}
    return float(actual["Amount"]), float(budget["BudgetLimit"]["Amount"])


def _set_rules(enabled: bool) -> list[str]:
    """Enable or disable the team's retraining rules that exist (the schedule is optional)."""
    events, changed = aws.client("events"), []
    for rule in PAUSED_RULES:
        name = f"{env('PREFIX')}-{rule}"
        try:
            (events.enable_rule if enabled else events.disable_rule)(Name=name)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
            continue
        changed.append(name)
    return changed


def _alert(subject: str, message: str) -> None:
    aws.client("sns").publish(
        TopicArn=env("ALERT_TOPIC_ARN"),
        Subject=subject[:100],
        Message=message,
        MessageAttributes={OWN_ALERT_ATTRIBUTE: {"DataType": "String", "StringValue": "deploy"}},
    )
