"""AWS limits a config value can cross, checked at validation so `validate` implies AWS accepts the stack.

Each is AWS's documented figure; the constructs assert them again (an assertion there means validation
missed a case). Keep this module free of cdktf/jsii: validation must not start Node.
"""

from __future__ import annotations

import json
import re
from typing import Any

# Regions of the `aws` partition known to the pinned provider (hashicorp/aws 5.100.0; every name below
# occurs in its binary, tests/unit/test_config_limits.py checks it). The stacks write `arn:aws:` ARNs,
# so the China, GovCloud and ISO partitions are refused rather than deployed with wrong ARNs.
AWS_REGIONS = frozenset(
    {
        "af-south-1",
        "ap-east-1",
        "ap-east-2",
        "ap-northeast-1",
        "ap-northeast-2",
        "ap-northeast-3",
        "ap-south-1",
        "ap-south-2",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-southeast-3",
        "ap-southeast-4",
        "ap-southeast-5",
        "ap-southeast-7",
        "ca-central-1",
        "ca-west-1",
        "eu-central-1",
        "eu-central-2",
        "eu-north-1",
        "eu-south-1",
        "eu-south-2",
        "eu-west-1",
        "eu-west-2",
        "eu-west-3",
        "il-central-1",
        "me-central-1",
        "me-south-1",
        "mx-central-1",
        "sa-east-1",
        "us-east-1",
        "us-east-2",
        "us-west-1",
        "us-west-2",
    }
)

SSM_STANDARD_VALUE_BYTES = 4096  # SSM standard parameter value: 4 KB
COMPOSITE_ALARM_RULE_CHARS = 10240  # CloudWatch PutCompositeAlarm AlarmRule
MAX_COMPOSITE_CHILDREN = 100  # CloudWatch: a composite alarm's rule names at most 100 alarms
MAX_EMAIL_SUBSCRIBERS = 10  # AWS Budgets: per notification, at most 10 e-mail subscribers and one SNS topic
MAX_BUDGET_NOTIFICATIONS = 10  # AWS Budgets: notifications per budget (Notification, API reference)
MAX_HYPERPARAMETERS = 100  # SageMaker CreateTrainingJob HyperParameters: 100 entries
MAX_HYPERPARAMETER_VALUE = 2500  # ... each value at most 2,500 characters
MAX_BUDGET_USD = 1_000_000_000.0  # a sanity bound: AWS Budgets takes larger amounts, no team needs them
KMS_KEY_ID_LENGTH = 36  # a key id is a UUID (or mrk- and 32 hex): 36 characters either way


def terraform_jsonencode_size(value: Any) -> int:
    """UTF-8 bytes of Terraform's `jsonencode(value)`: compact, keys sorted, and (Go's encoder) `<`, `>`,
    `&`, U+2028 and U+2029 written as 6-character escapes."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    escaped = sum(text.count(c) for c in "<>&\u2028\u2029")
    return len(text.encode("utf-8")) + 5 * escaped - 2 * (text.count("\u2028") + text.count("\u2029"))


# EventBridge schedule expressions. rate(): a positive whole number and a unit, singular exactly for 1.
_RATE = re.compile(r"^rate\((\d{1,6}) (minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\(([^()]*)\)$")
_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
# (name, low, high, names for 1.., extra single tokens allowed)
_CRON_FIELDS = (
    ("minutes", 0, 59, [], r"$^"),
    ("hours", 0, 23, [], r"$^"),
    ("day-of-month", 1, 31, [], r"^(\?|L|LW|([1-9]|[12]\d|3[01])W)$"),
    ("month", 1, 12, _MONTHS, r"$^"),
    ("day-of-week", 1, 7, _DAYS, r"^(\?|L|[1-7]L|[1-7]#[1-5]|(SUN|MON|TUE|WED|THU|FRI|SAT)(L|#[1-5]))$"),
    ("year", 1970, 2199, [], r"$^"),
)


def _cron_value(text: str, low: int, high: int, names: list[str]) -> int | None:
    if text in names:
        return names.index(text) + 1
    if text.isdigit() and len(text) <= 4 and low <= int(text) <= high:
        return int(text)
    return None


def _cron_field_problem(text: str, low: int, high: int, names: list[str], extra: str) -> str | None:
    if re.match(extra, text):
        return None
    for part in text.split(","):
        base, _, step = part.partition("/")
        if step and not (step.isdigit() and len(step) <= 4 and 1 <= int(step) <= high):
            return f"step {step!r}"
        if base == "*":
            continue
        start, dash, end = base.partition("-")
        first = _cron_value(start, low, high, names)
        last = _cron_value(end, low, high, names) if dash else first
        if first is None or last is None:
            return f"{part!r} (values {low}-{high}{' or names' if names else ''})"
    return None


def schedule_problem(expression: str) -> str | None:
    """Why EventBridge would refuse `expression`, or None."""
    rate = _RATE.match(expression)
    if rate:
        count, unit = int(rate.group(1)), rate.group(2)
        if count < 1:
            return f"{expression!r}: the rate must be at least 1"
        if (count == 1) != (not unit.endswith("s")):
            return f"{expression!r}: the unit is singular for 1 and plural otherwise (rate(1 hour), rate(5 hours))"
        return None
    cron = _CRON.match(expression)
    if not cron:
        return f"{expression!r} is neither rate(<n> <unit>) nor cron(<6 fields>)"
    fields = cron.group(1).split(" ")
    if len(fields) != 6:
        return (
            f"{expression!r}: cron takes 6 fields separated by single spaces (minutes hours day-of-month month day-of-week year)"
        )
    for text, (name, low, high, names, extra) in zip(fields, _CRON_FIELDS):
        problem = _cron_field_problem(text, low, high, names, extra)
        if problem:
            return f"{expression!r}: bad {name} field: {problem}"
    if (fields[2] == "?") == (fields[4] == "?"):
        return f"{expression!r}: exactly one of day-of-month and day-of-week must be '?'"
    return None
