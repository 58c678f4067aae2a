"""Property tests of the config loader: whatever it is given, it returns a valid PlatformConfig or raises
ConfigError whose every problem line starts with where the problem is (a YAML path such as
`teams[1].settings.serving`, `<root>`, or `line N, column M` for unparsable YAML) — never any other
exception, so `python main.py validate` always prints a usable report.

Inputs: arbitrary YAML-able structures, mutations of the valid example platform.yaml (keys dropped,
values replaced by random types, deep-nested garbage grafted in), random text and random bytes
written to a file and read with load_config. The explicit regression tests at the end pin the
inputs found to escape as other exceptions (see their docstrings).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from config.platform import DEFAULT_CONFIG_FILE, ConfigError, PlatformConfig, load_config, parse_config

# The last test reports figures the others gathered in this process: keep the module on one xdist worker.
pytestmark = pytest.mark.xdist_group("test_config_properties")

INPUTS = {"structures": 0, "mutations": 0, "texts": 0, "bytes": 0, "dumped": 0}

SEGMENT = r"(?:[A-Za-z_][A-Za-z0-9_]*|\[\d+\])"
PROBLEM_LINE = re.compile(rf"^(?:<root>|line \d+, column \d+|{SEGMENT}(?:\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\])*): \S")
EXAMPLE = yaml.safe_load(DEFAULT_CONFIG_FILE.read_text(encoding="utf-8"))
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(
        [
            "",
            "dev",
            "prod",
            "local",
            "fraud",
            "111111111111",
            "ml.g5.xlarge",
            "us-east-1",
            "a@b.c",
            "http://127.0.0.1:4566",
            "canary",
            "linear",
            "AUC",
            "binary",
            "-1",
            "1e400",
        ]
    ),
)
keys = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        [
            "platform",
            "environments",
            "teams",
            "name",
            "region",
            "account_id",
            "settings",
            "features",
            "serving",
            "training",
            "monitoring",
            "budget",
            "owners",
            "cost_center",
            "state_backend",
            "emulator_endpoint",
        ]
    ),
)
structures = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)),
    max_leaves=30,
)
# Deep garbage: long single chains of lists/maps (depth 20..60), the shape a broken merge or template leaves.
deep = st.integers(min_value=20, max_value=60).flatmap(
    lambda depth: st.lists(st.booleans(), min_size=depth, max_size=depth).map(lambda shape: _nest(shape))
)


def _nest(shape: list[bool]) -> Any:
    value: Any = "leaf"
    for as_list in shape:
        value = [value] if as_list else {"k": value}
    return value


def paths(node: Any, here: tuple = ()) -> list[tuple]:
    """Every path (tuple of keys/indexes) into `node`, the root excluded."""
    found = []
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, child in children:
        found.append(here + (key,))
        found += paths(child, here + (key,))
    return found


def mutate(document: Any, path: tuple, operation: str, value: Any) -> Any:
    """Drop the key/item at `path`, or replace it with `value`."""
    document = copy.deepcopy(document)
    parent = document
    for part in path[:-1]:
        parent = parent[part]
    if operation == "drop":
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return document


def check(outcome: Any) -> None:
    """The contract: a PlatformConfig, or a ConfigError whose problems all start with a location."""
    if isinstance(outcome, PlatformConfig):
        return
    assert isinstance(outcome, ConfigError), f"{type(outcome).__name__}: {outcome}"
    assert outcome.problems and all(isinstance(p, str) for p in outcome.problems), outcome.problems
    for line in outcome.problems:
        assert PROBLEM_LINE.match(line), f"problem line without a location: {line!r}"
        assert "\n" not in line, f"a problem is one line (ConfigError's contract): {line!r}"


def outcome_of(call, *args) -> Any:
    try:
        return call(*args)
    except ConfigError as error:
        return error
    except Exception as error:
        return error


def test_the_example_is_valid():
    assert isinstance(parse_config(EXAMPLE), PlatformConfig)


@FAST
@given(structures)
def test_any_structure_parses_or_reports_located_problems(data):
    INPUTS["structures"] += 1
    check(outcome_of(parse_config, data))


@FAST
@given(st.data())
def test_mutations_of_the_example_parse_or_report_located_problems(data):
    INPUTS["mutations"] += 1
    document = EXAMPLE
    for _ in range(data.draw(st.integers(min_value=1, max_value=4), label="mutations")):
        candidates = paths(document)
        if not candidates:
            break
        path = data.draw(st.sampled_from(candidates), label="path")
        operation = data.draw(st.sampled_from(["drop", "replace", "deep"]), label="operation")
        value = None if operation == "drop" else data.draw(deep if operation == "deep" else structures, label="value")
        document = mutate(document, path, operation, value)
    check(outcome_of(parse_config, document))


@FAST
@given(st.data())
def test_dropping_a_required_key_names_it(data):
    """Removing platform/environments/teams or a team's name/owners is always reported at that path."""
    INPUTS["mutations"] += 1
    required = [
        ("platform",),
        ("environments",),
        ("teams",),
        ("platform", "name"),
        ("platform", "region"),
        ("environments", 0, "account_id"),
        ("teams", 1, "name"),
        ("teams", 0, "owners"),
        ("teams", 1, "cost_center"),
    ]
    path = data.draw(st.sampled_from(required))
    outcome = outcome_of(parse_config, mutate(EXAMPLE, path, "drop", None))
    check(outcome)
    assert isinstance(outcome, ConfigError)
    expected = "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(path))
    assert any(line.startswith(f"{expected}: ") for line in outcome.problems), (expected, outcome.problems)


@FAST
@given(text=st.text(max_size=400))
@example(text="platform: [")
@example(text="a: !!python/object:os.system x")
@example(text="? [a]\n: b")
def test_random_text_file_loads_or_reports_located_problems(tmp_path: Path, text: str):
    INPUTS["texts"] += 1
    file = tmp_path / "platform.yaml"
    file.write_text(text, encoding="utf-8")
    check(outcome_of(load_config, file))


@FAST
@given(st.data())
def test_dumped_structures_and_mutations_load_from_a_file(tmp_path: Path, data):
    """YAML written by a tool (safe_dump) of garbage or of a mutated example goes through load_config."""
    INPUTS["dumped"] += 1
    document = data.draw(
        st.one_of(
            structures,
            st.builds(lambda path, value: mutate(EXAMPLE, path, "replace", value), st.sampled_from(paths(EXAMPLE)), structures),
        )
    )
    file = tmp_path / "platform.yaml"
    file.write_text(yaml.safe_dump(document), encoding="utf-8")
    check(outcome_of(load_config, file))


@FAST
@given(body=st.binary(max_size=200))
def test_random_bytes_file_loads_or_reports_located_problems(tmp_path: Path, body: bytes):
    INPUTS["bytes"] += 1
    file = tmp_path / "platform.yaml"
    file.write_bytes(body)
    check(outcome_of(load_config, file))


# Regressions found by the properties above (each escaped load_config as a non-ConfigError exception).


def test_impossible_date_is_a_config_error(tmp_path: Path):
    """PyYAML builds `2024-02-30` as a date and raises ValueError("day is out of range for month")."""
    file = tmp_path / "platform.yaml"
    file.write_text("platform: {name: mlp, region: us-east-1}\ncreated: 2024-02-30\n", encoding="utf-8")
    check(outcome_of(load_config, file))


def test_file_that_is_not_utf8_is_a_config_error(tmp_path: Path):
    """A Latin-1 file (e.g. an owner's name with an accent) raises UnicodeDecodeError, not an OSError."""
    file = tmp_path / "platform.yaml"
    file.write_bytes("platform: {name: café}\n".encode("latin-1"))
    check(outcome_of(load_config, file))


def test_deeply_nested_yaml_is_a_config_error(tmp_path: Path):
    """PyYAML's composer recurses per nesting level: 5000 `[` raise RecursionError."""
    file = tmp_path / "platform.yaml"
    file.write_text("platform: " + "[" * 5000 + "\n", encoding="utf-8")
    check(outcome_of(load_config, file))


def test_control_character_is_a_located_one_line_problem(tmp_path: Path):
    """A NUL or other control character makes PyYAML's reader raise ReaderError, which has no problem_mark:
    the problem came out as 'not valid YAML: unacceptable character #x0000 ...\\n  in "<unicode string>",
    position 0' -- no location first, and two lines."""
    file = tmp_path / "platform.yaml"
    file.write_text("platform:\x00 x\n", encoding="utf-8")
    check(outcome_of(load_config, file))


def test_zz_report_inputs():
    total = sum(INPUTS.values())
    print(f"\nconfig properties: {total} generated inputs tried ({INPUTS})")
    assert total > 0
