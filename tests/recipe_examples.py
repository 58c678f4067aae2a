"""Typed recipes for tests, built the way the stack builds them (config/recipes.py) from default settings,
with plain names where the stack has Terraform tokens."""

from __future__ import annotations

import dataclasses
from typing import Any

from config.ml import MonitoringSettings, RetrainingSettings, ServingSettings, TrainingSettings
from config.recipes import learning_recipe, serving_recipe, training_recipe
from contract.recipes import DataPolicy, ServingRecipe, TrainingRecipe

ACCOUNT, REGION, PREFIX = "123456789012", "us-east-1", "mlp-fraud-dev"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0123"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/{PREFIX}-sagemaker"


def example_training(settings: TrainingSettings | None = None, **changes: Any) -> TrainingRecipe:
    recipe = training_recipe(
        settings or TrainingSettings(),
        learning_recipe(RetrainingSettings(), MonitoringSettings()),
        repository_url=f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{PREFIX}-training",
        inference_repository_url=f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{PREFIX}-inference",
        artifacts_bucket=f"{PREFIX}-artifacts-{ACCOUNT}",
        curated_bucket=f"{PREFIX}-curated-{ACCOUNT}",
        kms_key_arn=KEY,
        role_arn=ROLE,
        definitions_key="features/definitions.json",
    )
    return dataclasses.replace(recipe, **changes)


def example_serving(settings: ServingSettings | None = None, **changes: Any) -> ServingRecipe:
    recipe = serving_recipe(
        settings or ServingSettings(),
        endpoint_name=PREFIX,
        prefix=PREFIX,
        role_arn=ROLE,
        kms_key_arn=KEY,
        artifacts_bucket=f"{PREFIX}-artifacts-{ACCOUNT}",
        rollback_alarm_names=[f"{PREFIX}-latency-p99"],
    )
    return dataclasses.replace(recipe, **changes)


def data_policy(**changes: Any) -> DataPolicy:
    """The config's default data policy, changed."""
    return dataclasses.replace(learning_recipe(RetrainingSettings(), MonitoringSettings()).data_policy, **changes)
