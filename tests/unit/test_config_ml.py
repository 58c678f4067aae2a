"""Validation of the ML settings (config/ml.py): every problem names its YAML path and says what to do."""

from __future__ import annotations

import copy

import pytest
import yaml

from config.ml import GPU_INSTANCE_TYPES
from config.platform import DEFAULT_CONFIG_FILE, ConfigError, parse_config

FRAUD, RECSYS = 0, 1  # positions of the example teams in platform.yaml


@pytest.fixture()
def example() -> dict:
    return yaml.safe_load(DEFAULT_CONFIG_FILE.read_text())


def settings(data: dict, team: int, section: str) -> dict:
    return data["teams"][team]["settings"].setdefault(section, {})


def problems_of(data) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    return caught.value.problems


def only_problem(data) -> str:
    problems = problems_of(data)
    assert len(problems) == 1, problems
    return problems[0]


@pytest.mark.parametrize("section", ["training", "serving"])
def test_unknown_instance_type_names_the_field_and_lists_gpu_families(example, section):
    settings(example, FRAUD, section)["instance_type"] = "ml.g9.xlarge"
    problem = only_problem(example)
    assert problem.startswith(f"teams[0].settings.{section}: ")
    assert "instance_type 'ml.g9.xlarge' is not a known SageMaker instance type" in problem
    for family in sorted({t.rsplit(".", 1)[0] for t in GPU_INSTANCE_TYPES}):
        assert f"'{family}'" in problem
    assert "'ml.g5'" in problem and "'ml.p5'" in problem


@pytest.mark.parametrize("section", ["training", "serving"])
def test_cpu_instance_refused_unless_allow_cpu(example, section):
    settings(example, FRAUD, section)["instance_type"] = "ml.m5.xlarge"
    problem = only_problem(example)
    assert problem.startswith(f"teams[0].settings.{section}: ")
    assert "'ml.m5.xlarge' is a CPU instance; set allow_cpu: true" in problem

    settings(example, FRAUD, section)["allow_cpu"] = True
    config = parse_config(example)
    assert getattr(config.teams[FRAUD].settings, section).instance_type == "ml.m5.xlarge"


def test_spot_max_wait_shorter_than_runtime_is_refused(example):
    # recsys trains for 12 hours on spot; waiting 6 hours in total cannot cover the run.
    settings(example, RECSYS, "training").update(max_wait_hours=6)
    problem = only_problem(example)
    assert problem == "teams[1].settings.training: max_wait_hours (6) must be >= max_runtime_hours (12) with spot"


def test_max_wait_does_not_matter_without_spot(example):
    settings(example, RECSYS, "training").update(max_wait_hours=6, spot=False)
    assert parse_config(example).teams[RECSYS].settings.training.spot is False


def test_min_instances_above_max_is_refused(example):
    settings(example, FRAUD, "serving").update(min_instances=5, max_instances=2)
    problem = only_problem(example)
    assert problem.startswith("teams[0].settings.serving: need min_instances <= initial_instance_count <= max_instances")
    assert "5 <= 1 <= 2" in problem


def test_initial_count_outside_min_max_is_refused(example):
    settings(example, FRAUD, "serving").update(initial_instance_count=6, max_instances=4)
    assert "6 <= 4" in only_problem(example)


def test_unknown_deployment_strategy_and_misspelt_keys_are_refused(example):
    data = copy.deepcopy(example)
    settings(data, FRAUD, "serving")["deployment"] = {"strategy": "blue", "canary_percnt": 10}
    problems = problems_of(data)
    assert any(p.startswith("teams[0].settings.serving.deployment.strategy: ") for p in problems), problems
    assert any(p.startswith("teams[0].settings.serving.deployment.canary_percnt: unknown key") for p in problems), problems


def test_canary_percent_bounds(example):
    settings(example, FRAUD, "serving")["deployment"] = {"strategy": "canary", "canary_percent": 80}
    assert only_problem(example).startswith("teams[0].settings.serving.deployment.canary_percent: ")


def test_image_digest_must_be_sha256(example):
    settings(example, FRAUD, "training")["image"] = {"tag": "v1", "digest": "md5:abc"}
    assert only_problem(example).startswith("teams[0].settings.training.image.digest: 'md5:abc' does not match")


def test_every_problem_is_reported_at_once(example):
    settings(example, FRAUD, "training")["instance_type"] = "ml.m5.xlarge"
    settings(example, FRAUD, "serving").update(min_instances=5, max_instances=2)
    settings(example, RECSYS, "training").update(max_wait_hours=6)
    problems = problems_of(example)
    assert [p.split(":", 1)[0] for p in problems] == [
        "teams[0].settings.training",
        "teams[0].settings.serving",
        "teams[1].settings.training",
    ]


@pytest.mark.parametrize(
    "source_dir, message",
    [
        ("model_code/nowhere", "is not a directory"),
        ("model_code/examples", "has no ['train.py', 'inference.py']"),
        ("../outside", "outside the repository"),
        ("model_code/fraud/train.py", "is not a directory"),
    ],
)
def test_a_named_source_dir_must_hold_the_entry_points(example, source_dir, message):
    settings(example, FRAUD, "training")["source_dir"] = source_dir
    problem = only_problem(example)
    assert problem.startswith("teams[0].settings.training") and message in problem


def test_the_typed_code_commit_is_gone_and_the_default_source_dir_is_the_teams(example):
    settings(example, FRAUD, "training")["code_commit"] = "3f9c2e1"
    assert "code_commit" in only_problem(example)
    del settings(example, FRAUD, "training")["code_commit"]
    settings(example, FRAUD, "training")["source_dir"] = "model_code/recsys"
    assert parse_config(example).teams[FRAUD].settings.training.source_dir == "model_code/recsys"
    from config.ml import REPOSITORY_ROOT, source_dir_path

    assert source_dir_path(None, "fraud") == REPOSITORY_ROOT / "model_code" / "fraud"


@pytest.mark.parametrize(
    "block, value, where",
    [
        ("training_data", {"labelled_windows": "yesterday"}, "teams[0].settings.retraining.training_data.labelled_windows"),
        ("training_data", {"max_rows": 0}, "teams[0].settings.retraining.training_data.max_rows"),
        ("training_data", {"recency_hours": "168"}, "teams[0].settings.retraining.training_data.recency_hours"),
        ("data_gate", {"max_missing_rate": 1.5}, "teams[0].settings.retraining.data_gate.max_missing_rate"),
        ("data_gate", {"min_rows": 0}, "teams[0].settings.retraining.data_gate.min_rows"),
        ("approval", {"min_improvement": -0.1}, "teams[0].settings.retraining.approval.min_improvement"),
        ("approval", {"margin": 0.1}, "teams[0].settings.retraining.approval.margin"),
    ],
)
def test_learning_loop_settings_are_checked_at_their_path(example, block, value, where):
    settings(example, FRAUD, "retraining")[block] = value
    assert only_problem(example).startswith(where), only_problem(example)


def test_the_learning_loop_settings_reach_the_training_recipe(example):
    from config.recipes import learning_recipe

    team = parse_config(example).teams[FRAUD].settings
    recipe = learning_recipe(team.retraining, team.monitoring)
    assert recipe.data_policy.to_document() == {
        "include_base": True,
        "labelled_windows": "since_last_run",
        "recency_hours": 168,
        "max_rows": 1500,
        "min_labels": 50,
        "label_delay_hours": 24,
    }
    assert recipe.approval.to_document() == {
        "metric": "AUC",
        "threshold": 0.75,
        "lower_is_better": False,
        "min_improvement": 0.01,
    }
    recsys = parse_config(example).teams[RECSYS].settings
    assert learning_recipe(recsys.retraining, recsys.monitoring).approval.lower_is_better is True  # RMSE
