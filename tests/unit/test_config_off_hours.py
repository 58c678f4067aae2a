"""Off-hours (config/off_hours.py): a non-production environment's endpoints run only within a
time-zone-aware schedule; every bad schedule is a located config error."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml

from config.off_hours import firings, on_fraction
from config.platform import DEFAULT_CONFIG_FILE, ConfigError, parse_config

DEV, PROD = 0, 1  # positions of the example environments in platform.yaml
WEEKDAYS_8_TO_20 = ("cron(0 8 ? * MON-FRI *)", "cron(0 20 ? * MON-FRI *)")


@pytest.fixture()
def example() -> dict:
    return yaml.safe_load(DEFAULT_CONFIG_FILE.read_text())


def only_problem(data) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    assert len(caught.value.problems) == 1, caught.value.problems
    return caught.value.problems[0]


def test_example_dev_has_off_hours_and_prod_is_production(example):
    config = parse_config(example)
    assert config.environments[DEV].off_hours is not None and not config.environments[DEV].production
    assert config.environments[PROD].production and config.environments[PROD].off_hours is None


def test_unknown_time_zone_is_located(example):
    example["environments"][DEV]["off_hours"]["timezone"] = "Europe/Atlantis"
    assert only_problem(example).startswith("environments[0].off_hours.timezone: 'Europe/Atlantis' is not an IANA time zone")


@pytest.mark.parametrize("switch_on", ["cron(0 8 30 2 ? *)", "cron(0 8 1 1 ? 2020)"])
def test_a_schedule_that_never_turns_on_is_refused(example, switch_on):
    example["environments"][DEV]["off_hours"]["switch_on"] = switch_on
    assert only_problem(example) == (
        f"environments[0].off_hours.switch_on: {switch_on!r} never fires within five years: the endpoint would never turn on"
    )


def test_switching_on_only_when_switching_off_is_refused(example):
    example["environments"][DEV]["off_hours"]["switch_on"] = example["environments"][DEV]["off_hours"]["switch_off"]
    assert "never leaves the endpoint on" in only_problem(example)


@pytest.mark.parametrize(
    "expression, reason",
    [
        ("rate(1 day)", "a rate has no time of day"),
        ("cron(0 8 L * ? *)", "no L, W or #"),
        ("cron(0 25 ? * MON-FRI *)", "bad hours field"),
    ],
)
def test_switch_times_are_plain_cron(example, expression, reason):
    example["environments"][DEV]["off_hours"]["switch_off"] = expression
    problem = only_problem(example)
    assert problem.startswith("environments[0].off_hours.switch_off: ") and reason in problem


def test_production_is_never_switched_off(example):
    example["environments"][PROD]["off_hours"] = example["environments"][DEV]["off_hours"]
    assert only_problem(example).startswith("environments[1].off_hours: a production environment is never switched off")


def test_unknown_off_hours_key_is_refused(example):
    example["environments"][DEV]["off_hours"]["on"] = "cron(0 8 ? * MON-FRI *)"
    assert only_problem(example).startswith("environments[0].off_hours.on: unknown key")


def test_zero_minimum_says_why_it_cannot_be(example):
    example["teams"][0]["settings"]["serving"]["min_instances"] = 0
    problem = only_problem(example)
    assert problem.startswith("teams[0].settings.serving.min_instances: 0 is not possible")
    assert "inference components" in problem and "off_hours" in problem


def test_switch_times_are_local_time_across_daylight_saving():
    winter = next(firings(WEEKDAYS_8_TO_20[0], "Europe/Paris", dt.date(2026, 1, 5), 1))
    summer = next(firings(WEEKDAYS_8_TO_20[0], "Europe/Paris", dt.date(2026, 7, 6), 1))
    assert (winter.hour, summer.hour) == (7, 6)  # 08:00 CET = 07:00 UTC, 08:00 CEST = 06:00 UTC


@pytest.mark.parametrize(
    "switch_on, switch_off, fraction",
    [
        (*WEEKDAYS_8_TO_20, 60 / 168),
        ("cron(0 8 ? * MON *)", "cron(0 20 ? * FRI *)", (4 * 24 + 12) / 168),
        ("cron(0 0 ? * MON *)", "cron(30 0 ? * MON *)", 0.5 / 168),
    ],
)
def test_on_fraction_plays_the_switches(switch_on, switch_off, fraction):
    assert on_fraction(switch_on, switch_off, "Europe/Paris") == pytest.approx(fraction)


def test_budget_acts_only_at_a_percentage_a_notification_arrives_at(example):
    team = example["teams"][0]["settings"]
    assert parse_config(example).teams[0].settings.budget.acting_percent == 100  # the highest of [80, 100]
    team["budget"]["act_at_percent"] = 90
    assert only_problem(example) == (
        "teams[0].settings.budget.act_at_percent: 90 is not one of alert_thresholds_percent "
        "[80, 100]: no notification would arrive at that percentage"
    )
