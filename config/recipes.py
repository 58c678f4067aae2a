"""The training recipe document (docs/CONTRACTS.md, "Recipes"), without cdktf: the training construct
writes it with Terraform tokens inside, and config validation renders it with the names the tokens
will resolve to, to check it fits in a standard SSM parameter before anything is synthesized."""

from __future__ import annotations

from typing import Any

from config.ml import MonitoringSettings, RetrainingSettings, TrainingSettings, has_instance_storage


def learning_recipe(retraining: RetrainingSettings, monitoring: MonitoringSettings) -> dict[str, Any]:
    """The recipe's learning-loop blocks: what a retrain pins (`data_policy`), the data gate (`data_gate`)
    and the champion/challenger gate (`approval`: the team's quality metric and threshold)."""
    return {
        "data_policy": retraining.training_data.model_dump(),
        "data_gate": retraining.data_gate.model_dump(),
        "approval": {
            "metric": monitoring.metric,
            "threshold": monitoring.quality_threshold,
            "lower_is_better": monitoring.lower_is_better,
            "min_improvement": retraining.approval.min_improvement,
        },
    }


def training_recipe(
    settings: TrainingSettings,
    *,
    repository_url: str,
    inference_repository_url: str,
    artifacts_bucket: str,
    curated_bucket: str,
    kms_key_arn: str,
    role_arn: str,
    definitions_key: str,
    learning: dict[str, Any] | None = None,
) -> dict[str, Any]:
    artifacts = f"s3://{artifacts_bucket}"
    return {
        "image_uri": settings.image.uri(repository_url),
        # Registered models are served with the inference image (same tag); both are pinned by digest
        # when a run starts.
        "inference_image_uri": settings.image.uri(inference_repository_url),
        "definitions_s3_uri": f"{artifacts}/{definitions_key}",
        "instance_type": settings.instance_type,
        "instance_count": settings.instance_count,
        "volume_size_gb": settings.volume_size_gb,
        "max_runtime_seconds": settings.max_runtime_hours * 3600,
        "spot": {"enabled": settings.spot, "max_wait_seconds": settings.max_wait_hours * 3600 if settings.spot else None},
        "checkpoint_s3_uri": f"{artifacts}/checkpoints",
        "output_s3_uri": f"{artifacts}/models",
        "kms_key_arn": kms_key_arn,
        # The training volume's key: none for types with instance storage, which SageMaker refuses.
        "volume_kms_key_arn": None if has_instance_storage(settings.instance_type) else kms_key_arn,
        "role_arn": role_arn,
        "hyperparameters": dict(settings.hyperparameters),
        "vpc": settings.vpc.model_dump() if settings.vpc else None,
        "network_isolation": settings.network_isolation,
        "training_data": {"bucket": curated_bucket, "prefix": settings.data_prefix},
        **(learning or {}),
    }
