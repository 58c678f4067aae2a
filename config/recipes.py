"""The training and serving recipes (docs/CONTRACTS.md, "Recipes") built from the validated config, the
same way for both: each function returns the typed recipe of contract/recipes.py, without cdktf. The
training and serving constructs pass Terraform tokens for the names (the recipe's strings hold them) and
write `to_document()` to the SSM parameter; config validation renders the training recipe with the
names the tokens will resolve to, to check it fits in a standard SSM parameter before anything is
synthesized."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from config.ml import (
    DeploymentSettings,
    MonitoringSettings,
    RetrainingSettings,
    ServingSettings,
    TrainingSettings,
    has_instance_storage,
)
from contract.layout import DATA_CAPTURE_PREFIX, VARIANT
from contract.recipes import (
    Approval,
    Autoscaling,
    DataCapture,
    DataGate,
    DataPolicy,
    ServingRecipe,
    Spot,
    TrainingData,
    TrainingRecipe,
    Vpc,
)


@dataclass(frozen=True)
class Learning:
    """The training recipe's learning-loop blocks: what a retrain pins (`data_policy`), the data gate
    (`data_gate`) and the champion/challenger gate (`approval`: the team's quality metric and threshold)."""

    data_policy: DataPolicy
    data_gate: DataGate
    approval: Approval


def learning_recipe(retraining: RetrainingSettings, monitoring: MonitoringSettings) -> Learning:
    policy, gate = retraining.training_data, retraining.data_gate
    return Learning(
        data_policy=DataPolicy(
            include_base=policy.include_base,
            labelled_windows=policy.labelled_windows,
            recency_hours=policy.recency_hours,
            max_rows=policy.max_rows,
            min_labels=policy.min_labels,
            label_delay_hours=policy.label_delay_hours,
        ),
        data_gate=DataGate(
            min_rows=gate.min_rows,
            max_invalid_rate=gate.max_invalid_rate,
            max_missing_rate=gate.max_missing_rate,
            max_label_problem_rate=gate.max_label_problem_rate,
        ),
        approval=Approval(
            metric=monitoring.metric,
            threshold=monitoring.quality_threshold,
            lower_is_better=monitoring.lower_is_better,
            min_improvement=retraining.approval.min_improvement,
        ),
    )


def training_recipe(
    settings: TrainingSettings,
    learning: Learning,
    *,
    repository_url: str,
    inference_repository_url: str,
    artifacts_bucket: str,
    curated_bucket: str,
    kms_key_arn: str,
    role_arn: str,
    definitions_key: str,
) -> TrainingRecipe:
    artifacts = f"s3://{artifacts_bucket}"
    return TrainingRecipe(
        image_uri=settings.image.uri(repository_url),
        # Registered models are served with the inference image (same tag); both are pinned by digest
        # when a run starts.
        inference_image_uri=settings.image.uri(inference_repository_url),
        definitions_s3_uri=f"{artifacts}/{definitions_key}",
        instance_type=settings.instance_type,
        instance_count=settings.instance_count,
        volume_size_gb=settings.volume_size_gb,
        max_runtime_seconds=settings.max_runtime_hours * 3600,
        spot=Spot(enabled=settings.spot, max_wait_seconds=settings.max_wait_hours * 3600 if settings.spot else None),
        checkpoint_s3_uri=f"{artifacts}/checkpoints",
        output_s3_uri=f"{artifacts}/models",
        kms_key_arn=kms_key_arn,
        # The training volume's key: none for types with instance storage, which SageMaker refuses.
        volume_kms_key_arn=None if has_instance_storage(settings.instance_type) else kms_key_arn,
        role_arn=role_arn,
        hyperparameters=dict(settings.hyperparameters),
        vpc=Vpc(tuple(settings.vpc.subnet_ids), tuple(settings.vpc.security_group_ids)) if settings.vpc else None,
        network_isolation=settings.network_isolation,
        training_data=TrainingData(bucket=curated_bucket, prefix=settings.data_prefix),
        data_policy=learning.data_policy,
        data_gate=learning.data_gate,
        approval=learning.approval,
    )


def serving_recipe(
    settings: ServingSettings,
    *,
    endpoint_name: str,
    prefix: str,
    role_arn: str,
    kms_key_arn: str,
    artifacts_bucket: str,
    rollback_alarm_names: list[str],
) -> ServingRecipe:
    return ServingRecipe(
        endpoint_name=endpoint_name,
        instance_type=settings.instance_type,
        initial_instance_count=settings.initial_instance_count,
        variant_name=VARIANT,
        execution_role_arn=role_arn,
        kms_key_arn=kms_key_arn,
        # The endpoint config's (volume) key: none for types with instance storage, which SageMaker refuses.
        volume_kms_key_arn=None if has_instance_storage(settings.instance_type) else kms_key_arn,
        network_isolation=settings.network_isolation,
        data_capture=DataCapture(
            percent=settings.data_capture_percent,
            destination_s3_uri=f"s3://{artifacts_bucket}/{DATA_CAPTURE_PREFIX.rstrip('/')}",
        ),
        deployment_config=deployment_config(settings.deployment, rollback_alarm_names),
        # Registered by the deploy handler once the endpoint is InService (Application Auto Scaling
        # addresses the variant by name, which every config the handler creates keeps).
        autoscaling=Autoscaling(
            min_capacity=settings.min_instances,
            max_capacity=settings.max_instances,
            policy_name=f"{prefix}-invocations-per-instance",
            target_invocations_per_instance=settings.target_invocations_per_instance,
            scale_in_cooldown_seconds=settings.scale_in_cooldown_seconds,
            scale_out_cooldown_seconds=settings.scale_out_cooldown_seconds,
        ),
    )


def deployment_config(settings: DeploymentSettings, rollback_alarm_names: list[str]) -> dict[str, Any]:
    """Blue/green policy in the SageMaker API's own shape: the deploy handler passes it to UpdateEndpoint
    and CreateEndpoint unchanged."""
    routing: dict[str, Any] = {
        "Type": {"canary": "CANARY", "linear": "LINEAR", "all_at_once": "ALL_AT_ONCE"}[settings.strategy],
        "WaitIntervalInSeconds": settings.wait_minutes * 60,
    }
    if settings.strategy == "canary":
        routing["CanarySize"] = {"Type": "CAPACITY_PERCENT", "Value": settings.canary_percent}
    elif settings.strategy == "linear":
        routing["LinearStepSize"] = {"Type": "CAPACITY_PERCENT", "Value": settings.linear_step_percent}
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": routing,
            "TerminationWaitInSeconds": settings.termination_wait_minutes * 60,
            "MaximumExecutionTimeoutInSeconds": settings.maximum_execution_timeout_minutes * 60,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": name} for name in rollback_alarm_names]},
    }
