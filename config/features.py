"""Feature definitions in the team config: one definition of each feature for training, serving and drift.

Training-serving skew happens when a feature is computed two ways. Here a team declares each feature
set once (`teams[i].settings.features`); the stack turns it into SageMaker Feature Store groups and
publishes the same definitions as `features/definitions.json` (docs/CONTRACTS.md), which the runtime
client (`common/features.py`), the drift baselines and the drift check all read.

Every problem is reported with the path of the field it is about (`...feature_sets[1].features[2].name`),
and a model with several problems reports all of them at once.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, ValidationInfo, field_validator, model_validator

from config.aws_limits import MAX_COMPOSITE_CHILDREN
from config.base import TERRAFORM_ESCAPED, Strict
from config.base import fail as _base_fail
from contract.definitions import SCHEMA, definitions_version
from contract.names import DRIFT_BACKSTOPS

FEATURE_NAME_PATTERN = r"^[a-zA-Z0-9]([-_]*[a-zA-Z0-9]){0,63}$"  # SageMaker FeatureDefinition.FeatureName
# A group is named `<prefix>-<set name>` (at most 64 characters); prefixes are at most 40 characters
# (config/platform.py MAX_PREFIX), which leaves 23 for the set name.
MAX_SET_NAME = 64 - 40 - 1
RESERVED = ("is_deleted", "write_time", "api_invocation_time")  # SageMaker Feature Store's own columns
EVENT_TIME_TYPES = ("Fractional", "String")  # SageMaker's rule for EventTimeFeatureName

FeatureName = Annotated[str, StringConstraints(pattern=FEATURE_NAME_PATTERN, max_length=64)]
SetName = Annotated[str, StringConstraints(pattern=FEATURE_NAME_PATTERN, max_length=MAX_SET_NAME)]
FeatureType = Literal["Integral", "Fractional", "String"]
# Range bounds: magnitudes up to 1e15 keep bin edges and their differences exact enough in doubles (a
# range such as [-1e308, 1e308] has an infinite width, so every bin edge is NaN and PSI is 0 forever).
MAX_BOUND = 1e15
Bound = Annotated[float, Field(ge=-MAX_BOUND, le=MAX_BOUND)]
# The drift composite alarm names one alarm per model input plus the backstops (at most 100 in all).
MAX_MODEL_INPUTS = MAX_COMPOSITE_CHILDREN - len(DRIFT_BACKSTOPS)
# Model inputs get alarms `<prefix>-drift-<feature>` and `<prefix>-missing-<feature>`; these would clash
# with the platform's own alarms (drift-max, missing-max).
RESERVED_INPUT_NAMES = ("max",)
NonBlank = Annotated[str, StringConstraints(pattern=r"\S")]


def _fail(problems: list[tuple[tuple[str | int, ...], str, Any]]) -> None:
    _base_fail("features", problems)


def _duplicates(names: list[str]) -> list[str]:
    """Names that occur twice, ignoring case: the offline store's Glue/Athena columns are case-insensitive."""
    seen: dict[str, str] = {}
    twice: list[str] = []
    for name in names:
        if name.lower() in seen and name not in twice:
            twice.append(name)
        seen.setdefault(name.lower(), name)
    return twice


class FeatureSpec(Strict):
    """One feature: a Feature Store column and one model/drift input, with what its values may be."""

    name: FeatureName = Field(description="Feature (column) name; SageMaker's reserved names are refused.")
    type: FeatureType = Field(description="SageMaker feature type: Integral (64-bit int), Fractional (double) or String.")
    # Free text: published in features/definitions.json through tfjson.template_literal (escaped for Terraform).
    description: NonBlank | None = Field(
        default=None, max_length=255, description="What the feature means, for people.", json_schema_extra=TERRAFORM_ESCAPED
    )
    range: tuple[Bound, Bound] | None = Field(
        default=None,
        strict=False,  # YAML gives a list; the bounds themselves stay strict numbers
        description="[low, high] that every value must lie in (inclusive; numeric features only). Ingestion rejects "
        "values outside it, and the drift baselines bin over it.",
    )
    categories: list[Annotated[NonBlank, StringConstraints(max_length=256)]] | None = Field(
        default=None,
        description="The values a String feature may take (unique, non-empty). Ingestion rejects others; drift "
        "baselines bucket by them.",
    )

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, name: str) -> str:
        if name.lower() in RESERVED:
            raise ValueError(f"{name!r} is reserved by SageMaker Feature Store (reserved: {', '.join(RESERVED)})")
        return name

    @field_validator("range")
    @classmethod
    def _numeric_range(cls, value: tuple[float, float] | None, info: ValidationInfo) -> tuple[float, float] | None:
        if value is None:
            return value
        if info.data.get("type") == "String":
            raise ValueError("range applies to Integral and Fractional features, not to a String feature (use categories)")
        if not value[0] < value[1]:
            raise ValueError(f"range low must be below high, got [{value[0]}, {value[1]}]")
        if info.data.get("type") == "Integral" and not all(float(v).is_integer() for v in value):
            raise ValueError(f"an Integral feature's range has whole-number bounds, got [{value[0]}, {value[1]}]")
        return value

    @field_validator("categories")
    @classmethod
    def _string_categories(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        if value is None:
            return value
        kind = info.data.get("type")
        if kind is not None and kind != "String":
            raise ValueError(f"categories apply to String features, not to a {kind} feature (use range)")
        if not value:
            raise ValueError("categories must not be empty (omit the key for an open set of values)")
        repeated = sorted({c for c in value if value.count(c) > 1})
        if repeated:
            raise ValueError(f"categories must be unique; listed more than once: {repeated}")
        return value


class FeatureSetSpec(Strict):
    """One feature set, created as the SageMaker feature group `<prefix>-<name>`."""

    name: SetName = Field(
        description=f"Feature set name, the last part of the feature group name (at most {MAX_SET_NAME} characters)."
    )
    record_identifier: FeatureName = Field(description="Feature whose value identifies a record (RecordIdentifierFeatureName).")
    event_time_feature: FeatureName = Field(
        description="Feature holding the record's event time (EventTimeFeatureName): Fractional epoch seconds or an "
        "ISO-8601 String (yyyy-MM-ddTHH:mm:ss[.SSS]Z)."
    )
    features: list[FeatureSpec] = Field(
        min_length=1, max_length=2500, description="Every feature of the set, identifier and event time included."
    )
    online_store: bool = Field(default=True, description="Low-latency store read by serving (GetRecord).")
    offline_store: bool = Field(default=True, description="Append-only S3 store read to build training data.")
    ttl_seconds: int | None = Field(default=None, gt=0, description="Online store record TTL (online store only); none if unset.")

    @model_validator(mode="after")
    def _consistent(self) -> FeatureSetSpec:
        problems: list[tuple[tuple[str | int, ...], str, Any]] = []
        names = [f.name for f in self.features]
        for duplicate in _duplicates(names):
            index = max(i for i, n in enumerate(names) if n.lower() == duplicate.lower())
            problems.append(
                (
                    ("features", index, "name"),
                    f"duplicate feature name {duplicate!r} (names are compared ignoring case)",
                    duplicate,
                )
            )
        by_name = {f.name: f for f in self.features}
        for field in ("record_identifier", "event_time_feature"):
            name = getattr(self, field)
            if name not in by_name:
                problems.append(((field,), f"{name!r} is not among the features of set {self.name!r}: {names}", name))
        if self.record_identifier == self.event_time_feature:
            problems.append(
                (
                    ("event_time_feature",),
                    "must differ from record_identifier (a record keeps its identifier across event times)",
                    self.event_time_feature,
                )
            )
        event_time = by_name.get(self.event_time_feature)
        if event_time is not None and event_time.type not in EVENT_TIME_TYPES:
            problems.append(
                (
                    ("event_time_feature",),
                    f"{event_time.name!r} is {event_time.type}; SageMaker requires the event time to be Fractional or String",
                    event_time.name,
                )
            )
        if not (self.online_store or self.offline_store):
            problems.append(
                ((), f"feature set {self.name!r} has neither store: enable online_store, offline_store or both", self.name)
            )
        if self.ttl_seconds is not None and not self.online_store:
            problems.append(
                (
                    ("ttl_seconds",),
                    "ttl_seconds applies to the online store, which is disabled (online_store: false)",
                    self.ttl_seconds,
                )
            )
        _fail(problems)
        return self


class ModelInputsSpec(Strict):
    """The model's inputs: which set they come from, in which order, and the label it is trained on."""

    feature_set: SetName = Field(description="The feature set the model's inputs come from.")
    features: list[FeatureName] = Field(
        min_length=1,
        max_length=MAX_MODEL_INPUTS,
        description="The model's input features, in input order (CSV column order); one drift alarm each.",
    )
    label: FeatureName = Field(description="Training label column; not a model input.")


class FeaturesSpec(Strict):
    """A team's `features:` block: its feature sets and the model's inputs."""

    feature_sets: list[FeatureSetSpec] = Field(min_length=1, description="Feature sets of the team, one feature group each.")
    model_inputs: ModelInputsSpec = Field(description="Which features, in which order, the model reads.")

    @model_validator(mode="after")
    def _consistent(self) -> FeaturesSpec:
        problems: list[tuple[tuple[str | int, ...], str, Any]] = []
        names = [s.name for s in self.feature_sets]
        for duplicate in _duplicates(names):
            index = max(i for i, n in enumerate(names) if n.lower() == duplicate.lower())
            problems.append(
                (
                    ("feature_sets", index, "name"),
                    f"duplicate feature set name {duplicate!r} (group names are compared ignoring case)",
                    duplicate,
                )
            )
        inputs = self.model_inputs
        chosen = next((s for s in self.feature_sets if s.name == inputs.feature_set), None)
        if chosen is None:
            problems.append(
                (
                    ("model_inputs", "feature_set"),
                    f"unknown feature set {inputs.feature_set!r}; declared: {names}",
                    inputs.feature_set,
                )
            )
            _fail(problems)
            return self
        known = [f.name for f in chosen.features]
        keys = (chosen.record_identifier, chosen.event_time_feature)
        seen: set[str] = set()
        for i, name in enumerate(inputs.features):
            loc = ("model_inputs", "features", i)
            if name not in known:
                problems.append((loc, f"unknown feature {name!r}: not a feature of set {chosen.name!r} ({known})", name))
            elif name in keys:
                role = "record identifier" if name == chosen.record_identifier else "event time"
                problems.append((loc, f"{name!r} is the {role} of set {chosen.name!r}, not a model input", name))
            if name in seen:
                problems.append((loc, f"{name!r} is listed twice", name))
            if name in RESERVED_INPUT_NAMES:
                problems.append((loc, f"{name!r} is reserved: its drift alarm would be the platform's drift-{name} alarm", name))
            seen.add(name)
        if inputs.label in inputs.features:
            problems.append(
                (("model_inputs", "label"), f"label {inputs.label!r} must not be a model input (target leakage)", inputs.label)
            )
        _fail(problems)
        return self


def _feature_set_document(feature_set: FeatureSetSpec) -> dict[str, Any]:
    return {
        "name": feature_set.name,
        "record_identifier": feature_set.record_identifier,
        "event_time_feature": feature_set.event_time_feature,
        "online_store": feature_set.online_store,
        "offline_store": feature_set.offline_store,
        "ttl_seconds": feature_set.ttl_seconds,
        # Unset optional keys are left out, as in the contract's example.
        "features": [f.model_dump(mode="json", exclude_none=True) for f in feature_set.features],
    }


def definitions_document(team: str, features: FeaturesSpec) -> dict[str, Any]:
    """The `features/definitions.json` document (docs/CONTRACTS.md). Its version changes with any change
    to a definition, so a drift baseline can tell which definitions it was computed with."""
    body = {
        "feature_sets": [_feature_set_document(s) for s in features.feature_sets],
        "model_inputs": features.model_inputs.model_dump(mode="json"),
    }
    return {"schema": SCHEMA, "version": definitions_version(body["feature_sets"], body["model_inputs"]), "team": team, **body}
