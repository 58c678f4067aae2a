"""Config validation: the example is valid; bad files get every problem, each with its YAML path."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from config.platform import DEFAULT_CONFIG_FILE, ConfigError, load_config, parse_config, with_emulator_override

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def example() -> dict:
    return yaml.safe_load(DEFAULT_CONFIG_FILE.read_text())


def problems_of(data) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    return caught.value.problems


def test_example_config_is_valid_with_at_least_four_stacks():
    config = load_config()
    assert len(config.teams) >= 2 and len(config.environments) >= 2
    assert len(config.stack_names()) >= 4
    assert "fraud-dev" in config.stack_names()


def test_defaults_fill_in_team_settings(example):
    config = parse_config(example)
    recsys = next(t for t in config.teams if t.name == "recsys")
    assert recsys.settings.data.noncurrent_version_days == 90
    assert recsys.settings.registry.model_package_groups == ["models"]


def mutate(example: dict, path: str, value):
    data = copy.deepcopy(example)
    target = data
    parts = path.split(".")
    for part in parts[:-1]:
        target = target[int(part)] if part.isdigit() else target[part]
    last = parts[-1]
    if value is DELETE:
        del target[int(last) if last.isdigit() else last]
    else:
        target[int(last) if last.isdigit() else last] = value
    return data


DELETE = object()

BAD = [
    ("teams.1.name", "Recsys!", "teams[1].name", "does not match"),
    ("teams.0.name", "x", "teams[0].name", "at least 2"),
    ("teams.0.cost_center", DELETE, "teams[0].cost_center", "Field required"),
    ("teams.0.owners", [], "teams[0].owners", "at least 1"),
    ("teams.0.owners", ["not-an-email"], "teams[0].owners[0]", "does not match"),
    ("teams.1.environments", ["dev", "staging"], "teams[1].environments[1]", "unknown environment 'staging'"),
    ("teams.1.environments", ["dev", "dev"], "teams[1].environments", "duplicate name 'dev'"),
    ("teams.1.name", "fraud", "teams", "duplicate name 'fraud'"),
    ("environments.0.account_id", "1234", "environments[0].account_id", "does not match"),
    ("environments.0.account_id", 111111111111, "environments[0].account_id", "string"),
    ("environments.1.state_backend", DELETE, "environments[1]", "needs state_backend"),
    ("environments.2.emulator_endpoint", "localhost:4566", "environments[2].emulator_endpoint", "does not match"),
    ("platform.region", "moon-1", "platform.region", "not a region of the aws partition"),
    ("platform.colour", "blue", "platform.colour", "unknown key"),
    (
        "teams.0.settings.data.noncurrent_version_days",
        0,
        "teams[0].settings.data.noncurrent_version_days",
        "greater than or equal to 1",
    ),
    ("teams.0.settings.log_retention_days", 42, "teams[0].settings", "log_retention_days must be one of"),
    ("teams.0.settings.registry", {"model_package_groups": []}, "teams[0].settings.registry.model_package_groups", "at least 1"),
    ("teams", [], "teams", "at least 1"),
    ("teams.0.name", "averyveryverylongteamn", "teams[0].name", "at most 20"),
]


@pytest.mark.parametrize("path,value,where,expected", BAD, ids=[b[0] + "=" + repr(b[1])[:20] for b in BAD])
def test_bad_value_is_reported_with_its_path(example, path, value, where, expected):
    problems = problems_of(mutate(example, path, value))
    assert any(p.startswith(where) and expected in p for p in problems), problems


def test_every_problem_is_reported_at_once(example):
    data = mutate(example, "teams.0.name", "Bad Name")
    data = mutate(data, "teams.1.owners", [])
    data = mutate(data, "environments.0.account_id", "12")
    problems = problems_of(data)
    assert len(problems) == 3, problems
    assert {p.split(":")[0] for p in problems} == {"teams[0].name", "teams[1].owners", "environments[0].account_id"}


def test_prefix_too_long_for_bucket_names(example):
    data = mutate(example, "platform.name", "abcdefghijklmnopqrst")
    data = mutate(data, "teams.0.name", "abcdefghijklmnopqrst")
    problems = problems_of(data)
    assert any(p.startswith("teams[0].name") and "S3 bucket name" in p for p in problems), problems


def test_yaml_syntax_error_names_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("platform:\n  name: mlp\n  region: [us-east-1\n")
    with pytest.raises(ConfigError) as caught:
        load_config(bad)
    assert "line" in caught.value.problems[0] and "not valid YAML" in caught.value.problems[0]


def test_missing_file_and_non_mapping(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.yaml")
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(listing)


def test_config_from_environment_variable(tmp_path, monkeypatch, example):
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump(mutate(example, "platform.name", "acme")))
    monkeypatch.setenv("MLP_CONFIG", str(other))
    assert load_config().platform.name == "acme"


def test_emulator_endpoint_override_only_touches_emulator_environments(monkeypatch, example):
    monkeypatch.setenv("MLP_EMULATOR_ENDPOINT", "http://127.0.0.1:5123")
    config = with_emulator_override(parse_config(example))
    assert config.environment("local").emulator_endpoint == "http://127.0.0.1:5123"
    assert config.environment("dev").emulator_endpoint is None


def test_bad_config_exits_non_zero_and_writes_nothing(tmp_path, example):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(mutate(example, "teams.1.name", "Recsys!")))
    outdir = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "main.py", "--config", str(bad), "--outdir", str(outdir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "teams[1].name" in result.stderr and "does not match" in result.stderr
    assert "Traceback" not in result.stderr
    assert not outdir.exists()


def test_unknown_stack_is_refused_before_synthesis(tmp_path):
    outdir = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "main.py", "--stacks", "fraud-qa", "--outdir", str(outdir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "unknown stack(s) ['fraud-qa']" in result.stderr
    assert not outdir.exists()
