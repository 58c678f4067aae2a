"""GPU training: the SageMaker execution role (modules/training/execution_role.py) and the training
recipe the retrain handler reads (SSM parameter `/<platform>/<team>/<env>/training-recipe`,
docs/CONTRACTS.md).

Why a recipe in SSM rather than Lambda environment: the same recipe is read by the retrain handler,
the `rebuild` and `train` commands and humans (`aws ssm get-parameter`), and it changes with the config
without touching the function.

Construct ids are Terraform addresses (`training/execution-role`, `training/execution-policy`,
`training/recipe`): keep them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cdktf_cdktf_provider_aws.ecr_repository import EcrRepository
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket
from cdktf_cdktf_provider_aws.ssm_parameter import SsmParameter
from constructs import Construct

from config.ml import MonitoringSettings, RetrainingSettings, TrainingSettings
from config.recipes import Learning, learning_recipe, training_recipe
from contract.layout import DEFINITIONS_KEY
from contract.names import TeamContext
from contract.recipes import TrainingRecipe
from modules.training.execution_role import ExecutionRole, ExecutionRoleProps
from modules.training.tfjson import jsonencode


@dataclass(frozen=True)
class TrainingProps:
    """What the training construct needs from the data lake and the registry: the resources themselves."""

    context: TeamContext
    settings: TrainingSettings
    key: KmsKey
    curated: S3Bucket
    artifacts: S3Bucket
    training_repository: EcrRepository
    inference_repository: EcrRepository
    # The endpoint's auto-rollback alarms: SageMaker reads them with the execution role during a deployment.
    rollback_alarm_names: tuple[str, ...] = ()
    # The learning loop's recipe blocks (config.recipes.learning_recipe): data policy, data gate, approval
    # (by default the config's defaults).
    learning: Learning = field(default_factory=lambda: learning_recipe(RetrainingSettings(), MonitoringSettings()))
    # Curated prefix of data promoted from another environment (modules/promotion), or None: a rebuild of
    # a promoted model reads its pinned copies there.
    promoted_data_prefix: str | None = None


class Training(Construct):
    """SageMaker execution role + policy, and the training recipe parameter."""

    def __init__(self, scope: Construct, id: str, props: TrainingProps):
        super().__init__(scope, id)
        ctx = props.context
        # One execution role for training jobs and the endpoint's models (execution_role.py).
        self.execution_role = ExecutionRole(
            self,
            ExecutionRoleProps(
                context=ctx,
                settings=props.settings,
                key=props.key,
                curated=props.curated,
                artifacts=props.artifacts,
                repositories=(props.training_repository, props.inference_repository),
                rollback_alarm_names=props.rollback_alarm_names,
                promoted_data_prefix=props.promoted_data_prefix,
            ),
        )
        self.recipe = recipe(props, self.execution_role.arn)
        self.recipe_parameter = SsmParameter(
            self,
            "recipe",
            name=ctx.parameter_name("training-recipe"),
            type="String",
            # Terraform writes the JSON (tokens resolved, strings escaped by Terraform): see tfjson.py.
            value=jsonencode(self.recipe.to_document()),
            description=f"Training recipe of {ctx.prefix} (read by the retrain handler and `main.py rebuild`)",
        )


def recipe(props: TrainingProps, role_arn: str) -> TrainingRecipe:
    """The training recipe (docs/CONTRACTS.md, "Recipes"); tokens inside are resolved by Terraform."""
    return training_recipe(
        props.settings,
        props.learning,
        repository_url=props.training_repository.repository_url,
        inference_repository_url=props.inference_repository.repository_url,
        artifacts_bucket=props.artifacts.bucket,
        definitions_key=DEFINITIONS_KEY,
        curated_bucket=props.curated.bucket,
        kms_key_arn=props.key.arn,
        role_arn=role_arn,
    )
