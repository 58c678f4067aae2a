"""The contract package: stdlib only, one source for every name the stacks, handlers, CLI and emulator
share, and docs/CONTRACTS.md lists every one of them."""

from __future__ import annotations

import ast
import dataclasses
import sys
from pathlib import Path

import pytest

from contract import layout, metrics
from contract.environment import FunctionEnvironmentError, LambdaEnvironment
from contract.handlers import HANDLER_NAMES, HANDLERS, handler_spec

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = (ROOT / "docs" / "CONTRACTS.md").read_text()


def example_environment(**changes) -> LambdaEnvironment:
    values = {f.name: f"value-{f.name}" for f in dataclasses.fields(LambdaEnvironment)}
    values.update(
        retrain_alarm_arns=("arn:a", "arn:b"),
        retrain_schedule_rule_arns=(),
        cooldown_seconds=86400,
        auto_approve=False,
        window_hours=24,
        quality_min_samples=50,
        production=True,
        budget_act_percent=100,
        problem_type="binary",
    )
    values.update(changes)
    return LambdaEnvironment(**values)


def test_contract_imports_the_standard_library_only():
    allowed = set(sys.stdlib_module_names) | {"contract"}
    for path in sorted((ROOT / "contract").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else ([node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else [])
            )
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}"


def test_environment_round_trips_through_the_function_variables():
    environment = example_environment()
    variables = environment.to_env()
    assert all(isinstance(v, str) for v in variables.values())
    assert variables["RETRAIN_ALARM_ARNS"] == "arn:a,arn:b" and variables["RETRAIN_SCHEDULE_RULE_ARNS"] == ""
    assert variables["AUTO_APPROVE"] == "false" and variables["PRODUCTION"] == "true"
    assert variables["ARTIFACT_BUCKET"] == "value-artifact_bucket"
    assert LambdaEnvironment.from_env(variables) == environment


def test_a_missing_or_malformed_variable_is_named():
    variables = example_environment().to_env()
    del variables["RUNS_TABLE"]
    variables["AUTO_APPROVE"] = "yes"
    with pytest.raises(FunctionEnvironmentError, match=r"RUNS_TABLE is not set.*AUTO_APPROVE='yes': expected true or false"):
        LambdaEnvironment.from_env(variables)


@pytest.mark.parametrize(
    "variable, value, message",
    [
        ("PROBLEM_TYPE", "multiclass", r"PROBLEM_TYPE='multiclass': expected one of \['binary', 'regression'\]"),
        ("WINDOW_HOURS", "0", "WINDOW_HOURS=0: expected an integer >= 1"),
        ("WINDOW_HOURS", "six", "WINDOW_HOURS='six'"),
        ("COOLDOWN_SECONDS", "-1", "COOLDOWN_SECONDS=-1: expected an integer >= 0"),
        ("BUDGET_ACT_PERCENT", "0", "BUDGET_ACT_PERCENT=0"),
    ],
)
def test_a_value_no_handler_can_work_with_is_named(variable, value, message):
    variables = {**example_environment().to_env(), variable: value}
    with pytest.raises(FunctionEnvironmentError, match=message):
        LambdaEnvironment.from_env(variables)


def test_every_variable_field_and_constant_is_in_contracts_md():
    for variable in example_environment().to_env():
        assert f"`{variable}`" in CONTRACTS, f"docs/CONTRACTS.md does not list the Lambda variable {variable}"
    for module in (layout, metrics):
        for name, value in vars(module).items():
            if name.isupper() and isinstance(value, str):
                assert value in CONTRACTS, f"docs/CONTRACTS.md does not mention {module.__name__}.{name} = {value!r}"
            elif name.isupper() and isinstance(value, tuple):
                assert all(f"`{item}`" in CONTRACTS for item in value), f"{module.__name__}.{name}"
    for spec in HANDLERS:
        assert f"`{spec.name}`" in CONTRACTS, f"docs/CONTRACTS.md does not list the handler {spec.name}"
        for route in spec.routes:
            assert f"`prefix-{route}`" in CONTRACTS, f"docs/CONTRACTS.md does not list the rule prefix-{route}"


def test_handler_table_is_the_handler_folders():
    folders = {p.parent.name for p in (ROOT / "lambdas").glob("*/handler.py")}
    assert set(HANDLER_NAMES) == folders
    assert handler_spec("drift_check").construct_id == "drift-check"
    with pytest.raises(KeyError, match="unknown handler 'nope'"):
        handler_spec("nope")
