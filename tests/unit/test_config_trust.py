"""A config that validates is a config that deploys: tried as a hostile or careless team would.

- Template injection: a canary `file()` call is planted in every string field of the schema (the list
  comes from walking the pydantic models, tests/config_cases.py) and validation refuses it at that
  field's path, except in the fields the stack escapes (then tests/integration/test_config_injection.py
  proves `terraform plan` never evaluates it).
- Hand-written hostile configs, one per case found in review (names that nest, synth crashes, loader
  crashes, duplicate keys, values AWS refuses, meaningless values): each ends in a located problem.
- Generated hostile configs (hypothesis): each ends in located problems, or synthesizes with no config
  text that Terraform would evaluate.
Figures are printed at the end (test_zz_report).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.platform import ConfigError, PlatformConfig, load_config, parse_config
from tests.config_cases import (
    ACCEPTED_ESCAPED_FIELDS,
    CANARIES,
    KEY,
    VALUE,
    example,
    full_example,
    plant,
    string_fields,
    write,
    yaml_path,
)
from tests.synth import synth

# The last test reports figures the others gathered in this process: keep the module on one xdist worker.
pytestmark = pytest.mark.xdist_group("test_config_trust")

ROOT = Path(__file__).resolve().parents[2]
OUTCOMES: Counter = Counter()


def problems_of(data) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    return caught.value.problems


# --- template injection, every string field -----------------------------------------------------

FIELDS = string_fields()
ACCEPTED_ESCAPED = set(ACCEPTED_ESCAPED_FIELDS)


def test_the_schema_walk_finds_every_kind_of_string_field():
    paths = {yaml_path(p) for p, _ in FIELDS}
    assert len(FIELDS) >= 40
    for expected in (
        "teams[0].owners[0]",
        "teams[0].settings.training.vpc.subnet_ids[0]",
        "teams[0].settings.features.feature_sets[0].features[0].categories[0]",
        "teams[0].settings.monitoring.feature_thresholds",
        "environments[0].state_backend.kms_key_id",
    ):
        assert expected in paths
    assert parse_config(full_example())  # the base every canary is planted into is valid


@pytest.mark.parametrize("canary", CANARIES, ids=["interpolation", "directive"])
@pytest.mark.parametrize("path,escaped", FIELDS, ids=[yaml_path(p) + (p[-1] if p[-1] in (KEY, VALUE) else "") for p, _ in FIELDS])
def test_a_template_in_any_string_field_is_refused_at_its_path(path, escaped, canary):
    data = plant(full_example(), path, canary)
    try:
        config = parse_config(data)
    except ConfigError as error:
        OUTCOMES["canary: refused at its path"] += 1
        where = yaml_path(path)
        assert any(p.startswith(where) for p in error.problems), (where, error.problems)
        if not escaped:
            assert any(
                p.startswith(where) and ("Terraform would evaluate" in p or "does not match" in p or "Input should be" in p)
                for p in error.problems
            ), error.problems
        return
    OUTCOMES["canary: accepted (escaped field)"] += 1
    assert escaped and path in ACCEPTED_ESCAPED, f"{yaml_path(path)} accepted a template and is not escaped by the stack"
    assert canary in str(config.model_dump())  # kept verbatim


# --- hand-written hostile configs ----------------------------------------------------------------


def team(data, i=0):
    return data["teams"][i]


def settings_of(data, i=0):
    return data["teams"][i].setdefault("settings", {})


def add_team(data, name, environments=("dev",), **extra):
    data["teams"].append(
        {"name": name, "cost_center": "CC-9", "owners": ["x@example.com"], "environments": list(environments), **extra}
    )


def inputs(data, names):
    features = settings_of(data)["features"]
    features["feature_sets"][0]["features"] += [{"name": n, "type": "Fractional"} for n in names]
    features["model_inputs"]["features"] = names
    settings_of(data)["monitoring"].pop("feature_thresholds", None)


HOSTILE = [
    # injection
    (
        "owner e-mail template",
        lambda d: team(d).update(owners=['${trimspace(file("/etc/hostname"))}@example.com']),
        "teams[0].owners[0]",
        "Terraform would evaluate",
    ),
    (
        "category template",
        lambda d: settings_of(d)["features"]["feature_sets"][0]["features"][3].update(categories=['${file("x")}']),
        "teams[0].settings.features.feature_sets[0].features[3].categories[0]",
        "Terraform would evaluate",
    ),
    # names that nest or collide in one account
    (
        "team fraud-dev-tools beside fraud",
        lambda d: add_team(d, "fraud-dev-tools"),
        "teams[2].environments[0]",
        "nests inside stack fraud-dev",
    ),
    (
        "team fraud-dev beside fraud",
        lambda d: add_team(d, "fraud-dev", ["dev"]),
        "teams[2].environments[0]",
        "nests inside stack fraud-dev",
    ),
    (
        "exact model package group clash",
        lambda d: (
            add_team(d, "fraud-dev", ["dev"]),
            settings_of(d).update(registry={"model_package_groups": ["models", "dev-models"]}),
        ),
        "teams[2].settings.registry.model_package_groups[0]",
        "is also fraud-dev's",
    ),
    # validated, then synth crashed
    (
        "duplicate owners",
        lambda d: team(d).update(owners=["a@example.com", "a@example.com"]),
        "teams[0].owners[1]",
        "repeats owner",
    ),
    (
        "owners equal after slugging",
        lambda d: team(d).update(owners=["a.b@example.com", "A-B@example.com"]),
        "teams[0].owners[1]",
        "slugged",
    ),
    ("11 owners", lambda d: team(d).update(owners=[f"o{i}@example.com" for i in range(11)]), "teams[0].owners", "at most 10"),
    (
        "quality_threshold NaN",
        lambda d: settings_of(d)["monitoring"].update(quality_threshold=float("nan")),
        "teams[0].settings.monitoring.quality_threshold",
        "finite",
    ),
    (
        "quality_threshold inf",
        lambda d: settings_of(d)["monitoring"].update(quality_threshold=float("inf")),
        "teams[0].settings.monitoring.quality_threshold",
        "finite",
    ),
    (
        "threshold names a non-input",
        lambda d: settings_of(d)["monitoring"].update(feature_thresholds={"amout": 0.2}),
        "teams[0].settings.monitoring.feature_thresholds",
        "not a model input",
    ),
    ("input named max", lambda d: inputs(d, ["max"]), "teams[0].settings.features.model_inputs.features[0]", "reserved"),
    (
        "duplicate model package groups",
        lambda d: settings_of(d).update(registry={"model_package_groups": ["models", "models"]}),
        "teams[0].settings.registry.model_package_groups[1]",
        "duplicate",
    ),
    (
        "100 model inputs",
        lambda d: inputs(d, [f"f{i}" for i in range(98)]),
        "teams[0].settings.features.model_inputs.features",
        "at most 97",
    ),
    # valid here, refused by AWS
    (
        "training recipe over 4 KB",
        lambda d: settings_of(d)["training"].update(hyperparameters={f"p{i}": "v" * 200 for i in range(25)}),
        "teams[0].settings.training",
        "standard SSM parameter",
    ),
    (
        "composite rule over 10,240",
        lambda d: d["platform"].update(name="mlplatformxyzabc") or inputs(d, [f"{'f' * 61}_{i:02d}" for i in range(97)]),
        "teams[0].settings.features.model_inputs.features",
        "CloudWatch takes 10240",
    ),
    (
        "rate(0 minutes)",
        lambda d: settings_of(d)["monitoring"].update(schedule="rate(0 minutes)"),
        "teams[0].settings.monitoring.schedule",
        "at least 1",
    ),
    (
        "rate(1 hours)",
        lambda d: settings_of(d)["monitoring"].update(schedule="rate(1 hours)"),
        "teams[0].settings.monitoring.schedule",
        "singular",
    ),
    (
        "malformed cron",
        lambda d: settings_of(d)["retraining"].update(schedule="cron(0 25 * * ? *)"),
        "teams[0].settings.retraining.schedule",
        "hours",
    ),
    (
        "cron without ?",
        lambda d: settings_of(d)["retraining"].update(schedule="cron(0 12 * * MON *)"),
        "teams[0].settings.retraining.schedule",
        "'?'",
    ),
    (
        "cron of 5 fields",
        lambda d: settings_of(d)["retraining"].update(schedule="cron(0 12 * * ?)"),
        "teams[0].settings.retraining.schedule",
        "6 fields",
    ),
    ("region typo", lambda d: d["platform"].update(region="us-east-9"), "platform.region", "not a region"),
    ("GovCloud region", lambda d: d["platform"].update(region="us-gov-west-1"), "platform.region", "not a region"),
    (
        "budget inf",
        lambda d: settings_of(d)["budget"].update(monthly_limit_usd=float("inf")),
        "teams[0].settings.budget.monthly_limit_usd",
        "finite",
    ),
    (
        "budget 1e300",
        lambda d: settings_of(d)["budget"].update(monthly_limit_usd=1e300),
        "teams[0].settings.budget.monthly_limit_usd",
        "less than or equal",
    ),
    ("e-mail list in one owner", lambda d: team(d).update(owners=["a,b;c@x.y"]), "teams[0].owners[0]", "does not match"),
    (
        "e-mail with a display name",
        lambda d: team(d).update(owners=["Ann <ann@example.com>"]),
        "teams[0].owners[0]",
        "does not match",
    ),
    (
        "too many budget alerts",
        lambda d: settings_of(d)["budget"].update(alert_thresholds_percent=list(range(10, 110, 10))),
        "teams[0].settings.budget.alert_thresholds_percent",
        "at most 9",
    ),
    # valid and meaningless
    (
        "negative AUC threshold",
        lambda d: settings_of(d)["monitoring"].update(quality_threshold=-0.5),
        "teams[0].settings.monitoring",
        "outside [0.0, 1.0]",
    ),
    (
        "thresholds without features",
        lambda d: settings_of(d, 1)["monitoring"].update(feature_thresholds={"x": 0.2}) or settings_of(d, 1).pop("features"),
        "teams[1].settings.monitoring.feature_thresholds",
        "need features",
    ),
    (
        "range of +-1e308",
        lambda d: settings_of(d)["features"]["feature_sets"][0]["features"][2].update(range=[-1e308, 1e308]),
        "teams[0].settings.features.feature_sets[0].features[2].range[0]",
        "greater than or equal",
    ),
    (
        "fractional range of an Integral",
        lambda d: settings_of(d)["features"]["feature_sets"][0]["features"][4].update(range=[0, 23.5]),
        "teams[0].settings.features.feature_sets[0].features[4].range",
        "whole-number",
    ),
    (
        "zero cooldown",
        lambda d: settings_of(d)["retraining"].update(cooldown_hours=0),
        "teams[0].settings.retraining.cooldown_hours",
        "greater than or equal to 1",
    ),
    (
        "negative cooldown",
        lambda d: settings_of(d)["retraining"].update(cooldown_hours=-1),
        "teams[0].settings.retraining.cooldown_hours",
        "greater than or equal to 1",
    ),
    (
        "max_instances: true",
        lambda d: settings_of(d)["serving"].update(max_instances=True),
        "teams[0].settings.serving.max_instances",
        "valid integer",
    ),
    ("spot: 1", lambda d: settings_of(d)["training"].update(spot=1), "teams[0].settings.training.spot", "valid boolean"),
    (
        "number as text",
        lambda d: settings_of(d)["training"].update(instance_count="2"),
        "teams[0].settings.training.instance_count",
        "valid integer",
    ),
    (
        "whitespace category",
        lambda d: settings_of(d)["features"]["feature_sets"][0]["features"][3].update(categories=["grocery", "  "]),
        "teams[0].settings.features.feature_sets[0].features[3].categories[1]",
        "does not match",
    ),
    (
        "5000-digit integer",
        lambda d: settings_of(d)["training"].update(volume_size_gb=10**5000),
        "teams[0].settings.training.volume_size_gb",
        "less than or equal",
    ),
]


@pytest.mark.parametrize("name,change,where,expected", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_config_gets_a_located_problem(name, change, where, expected):
    data = example()
    change(data)
    problems = problems_of(data)
    OUTCOMES["hand-written: located problem"] += 1
    assert any(p.startswith(where) and expected in p for p in problems), problems


HOSTILE_YAML = [
    (
        "!!timestamp",
        "platform: {name: mlp, region: us-east-1}\ncreated: !!timestamp 2024-02-30\n",
        "line 2, column 10",
        "explicit tag",
    ),
    ("!!bool maybe", "platform: {name: mlp, region: !!bool maybe}\n", "line 1, column 31", "explicit tag"),
    ("!!int four", "platform: !!int four\n", "line 1, column 11", "explicit tag"),
    ("!!python/object", "platform: !!python/object/apply:os.system [echo hi]\n", "line 1, column 11", "explicit tag"),
    ("5000-digit integer", "platform: " + "9" * 5000 + "\n", "line 1, column 11", "5000 digits"),
    ("second name: in a team", None, "line", "duplicate key 'name'"),
    ("second platform: block", None, "line", "duplicate key 'platform'"),
]


def _example_text() -> str:
    return Path(ROOT / "platform.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize("name,text,where,expected", HOSTILE_YAML, ids=[h[0] for h in HOSTILE_YAML])
def test_hostile_yaml_gets_a_located_problem(tmp_path, name, text, where, expected):
    if name == "second name: in a team":
        text = _example_text().replace("  - name: recsys\n", "  - name: recsys\n    name: fraud2\n")
    elif name == "second platform: block":
        text = _example_text() + "\nplatform: {name: evil, region: us-east-1}\n"
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    OUTCOMES["hand-written YAML: located problem"] += 1
    assert any(p.startswith(where) and expected in p for p in caught.value.problems), caught.value.problems


# --- the command line ------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["option first", "command first"])
def test_validate_accepts_options_before_or_after_the_command(tmp_path, order):
    bad = example()
    team(bad).update(owners=['${file("/etc/hostname")}@example.com'])
    file = write(tmp_path, json.dumps(bad))  # JSON is YAML
    args = ["--config", str(file), "validate"] if order == "option first" else ["validate", "--config", str(file)]
    result = subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "teams[0].owners[0]" in result.stderr and "Traceback" not in result.stderr


def test_synth_options_before_or_after_the_command_are_kept():
    from main import parser

    for argv in (
        ["--stacks", "fraud-dev", "synth"],
        ["synth", "--stacks", "fraud-dev"],
        ["--config", "a.yaml", "synth", "--outdir", "o"],
    ):
        args = parser().parse_args(argv)
        assert args.stacks == ("fraud-dev" if "--stacks" in argv else None)
        assert args.config == ("a.yaml" if "--config" in argv else None)
    assert parser().parse_args(["validate", "--config", "b.yaml"]).config == "b.yaml"
    assert parser().parse_args(["--config", "b.yaml", "validate"]).config == "b.yaml"


# --- generated hostile configs ---------------------------------------------------------------------

HOSTILE_TEXT = st.sampled_from(
    [
        '${file("/etc/hostname")}',
        "%{ if true }x%{ endif }",
        "a,b;c@x.y",
        "a@b.c",
        "fraud-dev",
        "max",
        " ",
        "",
        "rate(0 minutes)",
        "rate(1 minute)",
        "cron(0 12 * * ? *)",
        "cron(61 * * * ? *)",
        "us-east-9",
        "eu-west-1",
    ]
)
HOSTILE_NUMBER = st.one_of(
    st.sampled_from([float("nan"), float("inf"), -1.0, 0, 1, True, 1e300, 10**30, 0.5]),
    st.integers(min_value=-5, max_value=200),
    st.floats(allow_nan=True, allow_infinity=True),
)
TEAM_NAMES = st.lists(st.sampled_from(["fraud", "dev", "tools", "x1", "prod"]), min_size=1, max_size=3).map("-".join)
# Where a generated value lands (paths into the example; strings and numbers alike).
TARGETS = [
    ("platform", "region"),
    ("teams", 0, "owners", 0),
    ("teams", 1, "name"),
    ("teams", 0, "cost_center"),
    ("teams", 0, "settings", "monitoring", "quality_threshold"),
    ("teams", 0, "settings", "monitoring", "schedule"),
    ("teams", 0, "settings", "retraining", "cooldown_hours"),
    ("teams", 0, "settings", "serving", "max_instances"),
    ("teams", 0, "settings", "budget", "monthly_limit_usd"),
    ("teams", 1, "settings", "monitoring", "feature_thresholds", KEY),
    ("teams", 0, "settings", "features", "model_inputs", "features", 0),
    ("teams", 0, "settings", "features", "feature_sets", 0, "features", 2, "description"),
    ("teams", 0, "settings", "training", "hyperparameters", VALUE),
]
UNESCAPED = re.compile(r"(?<!\$)\$\{file\(|(?<!%)%\{ if")


@st.composite
def hostile_configs(draw):
    data = example()
    data["teams"][0]["environments"] = ["local"]
    data["teams"][1]["environments"] = ["local"]
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        path = draw(st.sampled_from(TARGETS))
        data = plant(data, path, draw(st.one_of(HOSTILE_TEXT, HOSTILE_NUMBER)))
    for name in draw(st.lists(TEAM_NAMES, max_size=2)):
        add_team(data, name, ["local"])
    return data


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=hostile_configs())
def test_generated_hostile_configs_end_located_or_synthesize_safely(tmp_path_factory, data):
    OUTCOMES["generated"] += 1
    try:
        config = parse_config(data)
    except ConfigError as error:
        OUTCOMES["generated: located problem"] += 1
        assert all(re.match(r"^(<root>|[a-z_]+(\[\d+\]|\.[A-Za-z_][A-Za-z0-9_]*)*): \S", p) for p in error.problems), (
            error.problems
        )
        return
    assert isinstance(config, PlatformConfig)
    OUTCOMES["generated: valid, synthesized"] += 1
    stacks = synth(config, tmp_path_factory.mktemp("hostile"))
    for stack in stacks.values():
        assert not UNESCAPED.search(json.dumps(stack.document)), f"{stack.name}: config text Terraform would evaluate"


def test_zz_report():
    print(f"\nconfig trust: {dict(sorted(OUTCOMES.items()))}")
    assert OUTCOMES
