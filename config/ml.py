"""Per-team ML settings: GPU training recipe, GPU serving, monitoring thresholds, retraining, budget.

Every field has a default a platform team could ship to production; teams override what they need.
Instance types are checked against known SageMaker families: GPU by default, CPU only when the team
says `allow_cpu: true` (a CPU endpoint serving a GPU-trained model is usually a mistake, but not always).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from config.aws_limits import (
    MAX_BUDGET_NOTIFICATIONS,
    MAX_BUDGET_USD,
    MAX_HYPERPARAMETER_VALUE,
    MAX_HYPERPARAMETERS,
    schedule_problem,
)
from config.base import TERRAFORM_ESCAPED, Strict, fail

# Known SageMaker instance families and sizes (2026). A type outside these lists is refused with the list.
GPU_INSTANCE_TYPES = frozenset(
    [f"ml.g4dn.{s}" for s in ("xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge")]
    + [f"ml.g5.{s}" for s in ("xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "48xlarge")]
    + [f"ml.g6.{s}" for s in ("xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "48xlarge")]
    + [f"ml.g6e.{s}" for s in ("xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "48xlarge")]
    + [f"ml.p3.{s}" for s in ("2xlarge", "8xlarge", "16xlarge")]
    + ["ml.p3dn.24xlarge", "ml.p4d.24xlarge", "ml.p4de.24xlarge", "ml.p5.48xlarge", "ml.p5e.48xlarge", "ml.p5en.48xlarge"]
)
CPU_INSTANCE_TYPES = frozenset(
    [
        f"ml.{f}.{s}"
        for f in ("m5", "m6i", "c5", "c6i", "r5")
        for s in ("large", "xlarge", "2xlarge", "4xlarge", "12xlarge", "24xlarge")
    ]
    + ["ml.t3.medium", "ml.t3.large", "ml.t3.xlarge", "ml.t3.2xlarge"]
)

# Families whose instances carry NVMe instance storage (hardware-encrypted): SageMaker refuses a volume
# KmsKeyId for them (training VolumeKmsKeyId, endpoint config KmsKeyId). Of the known types above only
# ml.p3 and the CPU families are EBS-only.
INSTANCE_STORAGE_FAMILIES = frozenset(
    ["g4dn", "g5", "g6", "g6e", "p3dn", "p4d", "p4de", "p5", "p5e", "p5en", "m5d", "c5d", "r5d"]
)


def has_instance_storage(instance_type: str) -> bool:
    """`ml.g5.xlarge` -> True (NVMe instance store), `ml.p3.2xlarge` -> False (EBS only)."""
    return instance_type.split(".")[1] in INSTANCE_STORAGE_FAMILIES


ImageTag = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")]
ImageDigest = Annotated[str, StringConstraints(pattern=r"^sha256:[0-9a-f]{64}$")]


def _schedule(expression: str) -> str:
    problem = schedule_problem(expression)
    if problem:
        raise ValueError(problem)
    return expression


ScheduleExpression = Annotated[str, StringConstraints(max_length=256), AfterValidator(_schedule)]


def check_instance_type(instance_type: str, allow_cpu: bool, where: str) -> None:
    if instance_type in GPU_INSTANCE_TYPES:
        return
    if instance_type in CPU_INSTANCE_TYPES:
        if allow_cpu:
            return
        raise ValueError(f"{where} {instance_type!r} is a CPU instance; set allow_cpu: true to use one on purpose")
    families = sorted({t.rsplit(".", 1)[0] for t in GPU_INSTANCE_TYPES})
    raise ValueError(f"{where} {instance_type!r} is not a known SageMaker instance type; GPU families: {families}")


class ImageRef(Strict):
    """An image in the team's own ECR repository, by tag, pinned by digest where known."""

    tag: ImageTag = "latest"
    digest: ImageDigest | None = Field(default=None, description="Pin the image by digest (recommended): sha256:<64 hex>.")

    def uri(self, repository_url: str) -> str:
        return f"{repository_url}@{self.digest}" if self.digest else f"{repository_url}:{self.tag}"


REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
ENTRY_POINTS = ("train.py", "inference.py")


def source_dir_path(source_dir: str | None, team: str) -> Path:
    """Where a team's model code is: `training.source_dir`, else model_code/<team>, under the repository."""
    return REPOSITORY_ROOT / (source_dir or f"model_code/{team}")


def check_source_dir(source_dir: str) -> None:
    """A named source_dir must be a directory inside the repository holding the entry points."""
    path = (REPOSITORY_ROOT / source_dir).resolve()
    if not path.is_relative_to(REPOSITORY_ROOT):
        raise ValueError(f"source_dir {source_dir!r} is outside the repository")
    if not path.is_dir():
        raise ValueError(f"source_dir {source_dir!r} is not a directory")
    missing = [name for name in ENTRY_POINTS if not (path / name).is_file()]
    if missing:
        raise ValueError(f"source_dir {source_dir!r} has no {missing} at its top (the training and inference entry points)")


class VpcSettings(Strict):
    subnet_ids: list[Annotated[str, StringConstraints(pattern=r"^subnet-[0-9a-f]{8,17}$")]] = Field(min_length=1)
    security_group_ids: list[Annotated[str, StringConstraints(pattern=r"^sg-[0-9a-f]{8,17}$")]] = Field(min_length=1)


class TrainingSettings(Strict):
    image: ImageRef = ImageRef()
    instance_type: str = "ml.g5.xlarge"
    allow_cpu: bool = False
    instance_count: int = Field(default=1, ge=1, le=64)
    volume_size_gb: int = Field(default=50, ge=1, le=16384)
    max_runtime_hours: int = Field(default=24, ge=1, le=28 * 24)
    spot: bool = Field(default=True, description="Managed spot training (checkpoints go to the artifacts bucket).")
    max_wait_hours: int = Field(default=48, ge=1, le=28 * 24, description="Spot: runtime plus time waiting for capacity.")
    # Free text written into the recipe through tfjson.jsonencode, which escapes it for Terraform.
    hyperparameters: dict[
        Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,256}$")],
        Annotated[str, StringConstraints(max_length=MAX_HYPERPARAMETER_VALUE)],
    ] = Field(default_factory=dict, max_length=MAX_HYPERPARAMETERS, json_schema_extra=TERRAFORM_ESCAPED)
    vpc: VpcSettings | None = None
    network_isolation: bool = Field(default=False, description="No network access from the training container.")
    source_dir: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_./-]{1,200}$")] | None = Field(
        default=None,
        description="The team's model code (train.py, inference.py at its top), relative to the repository "
        "root; default model_code/<team>. Packed into a code bundle by `main.py publish-code` (git commit read from git).",
    )
    data_prefix: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_./-]*/$")] = Field(
        default="training/", description="Prefix of the training data in the curated bucket."
    )

    @model_validator(mode="after")
    def _check(self) -> TrainingSettings:
        check_instance_type(self.instance_type, self.allow_cpu, "instance_type")
        if self.source_dir is not None:
            check_source_dir(self.source_dir)
        if self.spot and self.max_wait_hours < self.max_runtime_hours:
            raise ValueError(
                f"max_wait_hours ({self.max_wait_hours}) must be >= max_runtime_hours ({self.max_runtime_hours}) with spot"
            )
        return self


class DeploymentSettings(Strict):
    """Blue/green traffic shifting for model updates, rolled back automatically on the team's alarms."""

    strategy: Literal["canary", "linear", "all_at_once"] = "canary"
    canary_percent: int = Field(default=10, ge=1, le=50)
    linear_step_percent: int = Field(default=25, ge=5, le=50)
    wait_minutes: int = Field(default=10, ge=0, le=60, description="Wait between traffic shifts.")
    termination_wait_minutes: int = Field(default=5, ge=0, le=60, description="Keep the old fleet this long after the shift.")
    maximum_execution_timeout_minutes: int = Field(default=120, ge=10, le=480)


class ServingSettings(Strict):
    instance_type: str = "ml.g5.xlarge"
    allow_cpu: bool = False
    initial_instance_count: int = Field(default=1, ge=1, le=100)
    min_instances: int = Field(default=1, ge=0, le=100, description="At least 1: see _check for why not 0.")
    max_instances: int = Field(default=4, ge=1, le=100)
    target_invocations_per_instance: int = Field(default=100, ge=1, le=1_000_000, description="Autoscaling target (per minute).")
    scale_in_cooldown_seconds: int = Field(default=300, ge=0, le=24 * 3600)
    scale_out_cooldown_seconds: int = Field(default=60, ge=0, le=24 * 3600)
    data_capture_percent: int = Field(default=100, ge=0, le=100)
    network_isolation: bool = Field(default=True, description="No network access from the serving container.")
    deployment: DeploymentSettings = DeploymentSettings()

    @model_validator(mode="after")
    def _check(self) -> ServingSettings:
        check_instance_type(self.instance_type, self.allow_cpu, "instance_type")
        if self.min_instances == 0:
            fail(
                "serving",
                [
                    (
                        ("min_instances",),
                        "0 is not possible: the endpoint's production variant cannot scale to zero "
                        "instances (SageMaker scales to zero only with inference components, which the platform does "
                        "not use); an environment's off_hours delete a non-production endpoint outside its hours instead",
                        0,
                    )
                ],
            )
        if not self.min_instances <= self.initial_instance_count <= self.max_instances:
            raise ValueError(
                f"need min_instances <= initial_instance_count <= max_instances, got "
                f"{self.min_instances} <= {self.initial_instance_count} <= {self.max_instances}"
            )
        return self


BINARY_METRICS = ("Accuracy", "Precision", "Recall", "F1", "AUC")
REGRESSION_METRICS = ("MAE", "RMSE", "R2")
# Values a metric can take (MAE/RMSE in the label's unit, bounded to keep alarm thresholds sane: CloudWatch
# takes values within +-2^360; R2 is at most 1 and unbounded below).
METRIC_RANGES = {**dict.fromkeys(BINARY_METRICS, (0.0, 1.0)), "MAE": (0.0, 1e15), "RMSE": (0.0, 1e15), "R2": (-1e15, 1.0)}


class MonitoringSettings(Strict):
    schedule: ScheduleExpression = "rate(1 hour)"
    window_hours: int = Field(default=1, ge=1, le=168)
    drift_threshold_psi: float = Field(default=0.2, gt=0, le=10)
    feature_thresholds: dict[str, float] = Field(
        default_factory=dict,
        description="Per-feature PSI thresholds; each names one of the model's inputs (features.model_inputs).",
    )
    problem_type: Literal["binary", "regression"] = "binary"
    quality_metric: str | None = Field(default=None, description="AUC for binary and R2 for regression by default.")
    quality_threshold: float = Field(
        default=0.7, description="Alarm when the metric goes below this (above it for MAE/RMSE, where lower is better)."
    )
    quality_min_samples: int = Field(
        default=50,
        ge=1,
        le=10**7,
        description="A window with fewer labelled requests joined to their predictions publishes no quality "
        "metric (only QualitySampleCount): a handful of labels must not fire the quality alarm.",
    )
    latency_p99_ms: int = Field(default=500, ge=1, le=3_600_000)
    errors_5xx_threshold: int = Field(default=5, ge=1, le=1_000_000_000, description="5XX errors per 5 minutes.")
    min_invocations_per_hour: int = Field(
        default=0, ge=0, le=1_000_000_000, description="Alarm when traffic drops below this (0: off)."
    )

    @property
    def metric(self) -> str:
        return self.quality_metric or ("AUC" if self.problem_type == "binary" else "R2")

    @property
    def lower_is_better(self) -> bool:
        return self.metric in ("MAE", "RMSE")

    @model_validator(mode="after")
    def _check(self) -> MonitoringSettings:
        allowed = BINARY_METRICS if self.problem_type == "binary" else REGRESSION_METRICS
        if self.metric not in allowed:
            raise ValueError(
                f"quality_metric {self.metric!r} does not fit problem_type {self.problem_type}; one of {list(allowed)}"
            )
        bad = [name for name, value in self.feature_thresholds.items() if not 0 < value <= 10]
        if bad:
            raise ValueError(f"feature_thresholds must be in (0, 10]: {bad}")
        low, high = METRIC_RANGES[self.metric]
        if not low <= self.quality_threshold <= high:
            raise ValueError(f"quality_threshold {self.quality_threshold} is outside [{low}, {high}], the range of {self.metric}")
        return self


class TrainingDataPolicy(Strict):
    """What a retrain pins (common/data_policy.py): the base data under `training.data_prefix`, and
    the windows curated from the team's labels joined with the data capture (`<data_prefix>labelled/`)."""

    include_base: bool = Field(default=True, description="Pin the base data (objects outside labelled/) too.")
    labelled_windows: Literal["all", "since_last_run"] = Field(
        default="all",
        description="all: every labelled window within recency_hours; since_last_run: only window "
        "versions the live model's manifest did not pin (labels that arrived since).",
    )
    recency_hours: int = Field(default=168, ge=1, le=24 * 366, description="Labelled windows older than this are left out.")
    max_rows: int | None = Field(default=None, ge=1, le=10**9, description="Row cap: newest windows first, then the base data.")
    min_labels: int = Field(default=50, ge=1, le=10**7, description="A window with fewer usable labelled rows is not curated.")
    label_delay_hours: int = Field(default=24, ge=0, le=24 * 30, description="How long after a request its label may be filed.")


class DataGateSettings(Strict):
    """The data gate before a GPU job (common/data_gate.py): rates over the pinned rows."""

    min_rows: int = Field(default=100, ge=1, le=10**9)
    max_invalid_rate: float = Field(default=0.01, ge=0, le=1, description="Rows or captured requests the definitions refuse.")
    max_missing_rate: float = Field(default=0.05, ge=0, le=1, description="Per model input.")
    max_label_problem_rate: float = Field(
        default=0.2, ge=0, le=1, description="Labels malformed, conflicting or matching no captured request."
    )


class ApprovalSettings(Strict):
    """The champion/challenger gate at registration (common/approval.py)."""

    min_improvement: float = Field(
        default=0.01,
        ge=0,
        le=1e15,
        description="How much better than the champion, on the "
        "same holdout, a new model must be to be approved automatically (metric units).",
    )


class RetrainingSettings(Strict):
    cooldown_hours: int = Field(default=24, ge=1, le=24 * 30, description="At most one training run per window.")
    schedule: ScheduleExpression | None = Field(default=None, description="Retrain on a schedule too, e.g. rate(7 days).")
    on_drift: bool = True
    on_quality: bool = True
    training_data: TrainingDataPolicy = TrainingDataPolicy()
    data_gate: DataGateSettings = DataGateSettings()
    approval: ApprovalSettings = ApprovalSettings()


MAX_ALERT_THRESHOLDS = MAX_BUDGET_NOTIFICATIONS - 1  # the budget module adds one forecast notification


class BudgetSettings(Strict):
    monthly_limit_usd: float = Field(default=1000, ge=0.01, le=MAX_BUDGET_USD)
    alert_thresholds_percent: list[int] = Field(
        default_factory=lambda: [80, 100],
        min_length=1,
        max_length=MAX_ALERT_THRESHOLDS,
        description=f"Actual-spend alerts; with the forecast alert at most {MAX_BUDGET_NOTIFICATIONS} notifications.",
    )

    act_at_percent: int | None = Field(
        default=None,
        description="At this actual-spend percentage non-production endpoints are switched off and "
        "scheduled retraining paused (production is only alerted); one of alert_thresholds_percent (default: the highest).",
    )

    @property
    def acting_percent(self) -> int:
        return self.act_at_percent if self.act_at_percent is not None else max(self.alert_thresholds_percent)

    @model_validator(mode="after")
    def _check(self) -> BudgetSettings:
        if any(not 1 <= t <= 1000 for t in self.alert_thresholds_percent):
            raise ValueError("alert_thresholds_percent must be between 1 and 1000")
        if self.act_at_percent is not None and self.act_at_percent not in self.alert_thresholds_percent:
            fail(
                "budget",
                [
                    (
                        ("act_at_percent",),
                        f"{self.act_at_percent} is not one of alert_thresholds_percent "
                        f"{self.alert_thresholds_percent}: no notification would arrive at that percentage",
                        self.act_at_percent,
                    )
                ],
            )
        return self
