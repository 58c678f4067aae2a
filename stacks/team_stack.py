"""One Terraform stack per team and environment: provider, state backend and the team's constructs."""

from __future__ import annotations

from cdktf import LocalBackend, S3Backend, TerraformOutput, TerraformStack
from cdktf_cdktf_provider_aws.provider import AwsProvider, AwsProviderDefaultTags, AwsProviderEndpoints
from constructs import Construct

import modules  # noqa: F401  (installs the fast provider loader before any provider import)
from config.platform import EnvironmentSpec, PlatformConfig, TeamSpec, stack_name
from config.recipes import learning_recipe
from modules.budget import Budget, BudgetProps
from modules.data_lake import DataLake, DataLakeProps
from modules.features import Features, FeaturesProps
from modules.monitoring import Monitoring, MonitoringProps, rollback_alarm_names
from modules.off_hours import OffHours, OffHoursProps
from modules.promotion import PROMOTED_DATA_PREFIX
from modules.registry import Registry, RegistryProps
from modules.retraining import Retraining, RetrainingProps
from modules.serving import Serving, ServingProps
from modules.training import Training, TrainingProps

AWS_PROVIDER_VERSION = "5.100.0"

# Every service the stacks (and their Lambdas) call; an emulator environment points each one at the
# emulator's URL. Keep this list in step with the resources the modules create.
EMULATED_SERVICES = (
    "s3",
    "kms",
    "iam",
    "sts",
    "sagemaker",
    "ecr",
    "ssm",
    "dynamodb",
    "lambda_",
    "cloudwatch",
    "cloudwatchlogs",
    "cloudwatchevents",
    "sns",
    "sqs",
    "applicationautoscaling",
    "budgets",
    "scheduler",
)


class TeamStack(TerraformStack):
    """The whole MLOps environment of one team in one environment."""

    def __init__(self, scope: Construct, config: PlatformConfig, team: TeamSpec, environment: EnvironmentSpec):
        name = stack_name(team.name, environment.name)
        super().__init__(scope, name)
        self.context = config.team_context(team.name, environment.name)
        self._provider(environment)
        self._backend(name, config, environment)

        settings = team.settings
        self.promotion_sources, self.promotion_targets = self._promotion_sides(config, team, environment)
        self.data_lake = DataLake(
            self,
            "data-lake",
            DataLakeProps(
                context=self.context,
                noncurrent_version_days=settings.data.noncurrent_version_days,
                access_log_days=settings.data.access_log_days,
                kms_deletion_window_days=settings.data.kms_deletion_window_days,
                **self._source_grants(settings),
            ),
        )
        self.registry = Registry(
            self,
            "registry",
            RegistryProps(
                context=self.context,
                key=self.data_lake.key,
                model_package_groups=list(settings.registry.model_package_groups),
                image_retention_count=settings.registry.image_retention_count,
                untagged_image_days=settings.registry.untagged_image_days,
            ),
        )
        self._ml(team, environment)
        self._promotion(settings)
        self._outputs()

    def _promotion_sides(self, config: PlatformConfig, team: TeamSpec, environment: EnvironmentSpec):
        """(environments this stack promotes from, environments it promotes to), as TeamContexts."""
        sources = [config.team_context(team.name, p.source) for p in team.promotions if p.target == environment.name]
        targets = [config.team_context(team.name, p.target) for p in team.promotions if p.source == environment.name]
        return sources, targets

    def _source_grants(self, settings) -> dict:
        """Bucket and key statements of the data lake when this stack is a promotion source."""
        from modules.promotion import source_key_statements, source_lake_statements

        if not self.promotion_targets:
            return {}
        ctx, targets = self.context, self.promotion_targets
        return {
            "extra_bucket_statements": source_lake_statements(ctx, targets, settings.training.data_prefix),
            "extra_key_statements": tuple(source_key_statements(ctx, targets)),
        }

    def _promotion(self, settings) -> None:
        """The registry grants of a promotion source, the promoter role of a promotion target."""
        from modules.promotion import (
            PromotionSource,
            PromotionSourceProps,
            PromotionTarget,
            PromotionTargetProps,
            SourceSide,
        )

        group = settings.registry.model_package_groups[0]
        if self.promotion_targets:
            PromotionSource(
                self,
                "promotion-source",
                PromotionSourceProps(context=self.context, targets=self.promotion_targets, registry=self.registry),
            )
        if self.promotion_sources:
            lake = self.data_lake
            PromotionTarget(
                self,
                "promotion-target",
                PromotionTargetProps(
                    context=self.context,
                    target_group=group,
                    key=lake.key,
                    artifacts=lake.artifacts,
                    curated=lake.curated,
                    # A team's settings are one for all its environments: the source's group and data prefix are ours.
                    sources=[SourceSide(s, group, settings.training.data_prefix) for s in self.promotion_sources],
                ),
            )

    def _ml(self, team: TeamSpec, environment: EnvironmentSpec) -> None:
        """Features, training, monitoring, serving, the retraining loop and the budget."""
        ctx, settings, lake = self.context, team.settings, self.data_lake
        repositories = self.registry.repositories
        self.features = None
        if settings.features is not None:
            self.features = Features(
                self,
                "features",
                FeaturesProps(
                    context=ctx,
                    features=settings.features,
                    key=lake.key,
                    artifacts=lake.artifacts,
                ),
            )
        self.training = Training(
            self,
            "training",
            TrainingProps(
                context=ctx,
                settings=settings.training,
                key=lake.key,
                curated=lake.curated,
                artifacts=lake.artifacts,
                training_repository=repositories["training"],
                inference_repository=repositories["inference"],
                rollback_alarm_names=tuple(rollback_alarm_names(ctx)),
                learning=learning_recipe(settings.retraining, settings.monitoring),
                promoted_data_prefix=PROMOTED_DATA_PREFIX if self.promotion_sources else None,
            ),
        )
        monitored = list(settings.features.model_inputs.features) if settings.features else []
        self.monitoring = Monitoring(
            self,
            "monitoring",
            MonitoringProps(
                context=ctx,
                settings=settings.monitoring,
                owners=list(team.owners),
                key=lake.key,
                feature_names=monitored,
            ),
        )
        self.serving = Serving(
            self,
            "serving",
            ServingProps(
                context=ctx,
                settings=settings.serving,
                execution_role=self.training.execution_role,
                key=lake.key,
                artifacts=lake.artifacts,
                rollback_alarm_names=self.monitoring.rollback_alarm_names,
                depends_on=self.monitoring.alarms,  # SageMaker checks the rollback alarms exist
            ),
        )
        self.retraining = Retraining(
            self,
            "retraining",
            RetrainingProps(
                context=ctx,
                key=lake.key,
                raw=lake.raw,
                curated=lake.curated,
                artifacts=lake.artifacts,
                registry=self.registry,
                execution_role=self.training.execution_role,
                alert_topic=self.monitoring.topic,
                retrain_alarm_names=self.monitoring.retrain_alarm_names,
                retraining=settings.retraining,
                monitoring=settings.monitoring,
                training_data_prefix=settings.training.data_prefix,
                auto_approve=environment.auto_approve_models,
                log_retention_days=settings.log_retention_days,
                production=environment.production,
                budget_act_percent=settings.budget.acting_percent,
                promoted_data_prefix=PROMOTED_DATA_PREFIX if self.promotion_sources else None,
            ),
        )
        self.budget = Budget(
            self,
            "budget",
            BudgetProps(
                context=ctx,
                settings=settings.budget,
                owners=list(team.owners),
                topic=self.monitoring.topic,
            ),
        )
        self.off_hours = OffHours(
            self,
            "off-hours",
            OffHoursProps(
                context=ctx,
                function=self.retraining.functions["deploy"],
                alert_topic=self.monitoring.topic,
                key=lake.key,
                off_hours=environment.off_hours,
            ),
        )

    def _provider(self, environment: EnvironmentSpec) -> None:
        ctx = self.context
        common = {"region": ctx.region, "default_tags": [AwsProviderDefaultTags(tags=ctx.tags)]}
        if environment.is_emulator:
            url = environment.emulator_endpoint.rstrip("/")
            AwsProvider(
                self,
                "aws",
                **common,
                # The access key names the account on the emulator (emulator/patches_accounts.py; LocalStack's rule too).
                access_key=environment.account_id,
                secret_key="test",
                skip_credentials_validation=True,
                skip_metadata_api_check="true",
                skip_requesting_account_id=True,
                skip_region_validation=True,
                s3_use_path_style=True,
                # A 500 from an emulator is not transient: fail in seconds, not after minutes of retries.
                # Two attempts (the provider's max_retries counts attempts): the Go SDK sometimes loses a 200's
                # body on its own side ("read tcp ...: use of closed network connection" while the emulator's
                # log shows the answer sent whole and the connection closed cleanly, issue 18). The SDK
                # classes that error retryable (its retry middleware only says "exceeded maximum number of
                # attempts" for retryable errors) and retries it by default, as on AWS; a repeated 500 still
                # fails the run.
                max_retries=2,
                endpoints=[AwsProviderEndpoints(**dict.fromkeys(EMULATED_SERVICES, url))],
            )
        else:
            AwsProvider(self, "aws", **common, allowed_account_ids=[environment.account_id])

    def _backend(self, name: str, config: PlatformConfig, environment: EnvironmentSpec) -> None:
        if environment.state_backend is None:
            LocalBackend(self, path=f"terraform.{name}.tfstate")
            return
        state = environment.state_backend
        backend = S3Backend(
            self,
            bucket=state.bucket,
            key=f"{state.key_prefix}/{config.platform.name}/{name}.tfstate",
            region=state.region or config.platform.region,
            encrypt=True,
            kms_key_id=state.kms_key_id,
        )
        # S3-native state locking (Terraform >= 1.10); cdktf 0.21's S3Backend predates the option.
        backend.add_override("use_lockfile", True)

    def _outputs(self) -> None:
        for purpose, bucket in self.data_lake.buckets.items():
            TerraformOutput(self, f"{purpose}-bucket", value=bucket.bucket)
        TerraformOutput(self, "kms-key-arn", value=self.data_lake.key.arn)
        TerraformOutput(self, "model-package-group", value=self.registry.primary_group.model_package_group_name)
        for purpose, repository in self.registry.repositories.items():
            TerraformOutput(self, f"{purpose}-repository", value=repository.repository_url)
        TerraformOutput(self, "endpoint", value=self.serving.endpoint_name)  # created by the deploy handler
        TerraformOutput(self, "training-recipe-parameter", value=self.training.recipe_parameter.name)
        TerraformOutput(self, "serving-recipe-parameter", value=self.serving.recipe_parameter.name)
        TerraformOutput(self, "alerts-topic", value=self.monitoring.topic.arn)
        TerraformOutput(self, "runs-table", value=self.retraining.runs_table.name)
