"""Feature definitions in the team config: one definition of each feature for training, serving and drift.

Training-serving skew happens when a feature is computed two ways. Here a team declares each feature
set once; the stack turns it into SageMaker Feature Store groups and publishes the same definitions
as `features/definitions.json` (docs/CONTRACTS.md), which the runtime client, the drift baselines and
the drift check all read.
"""
from __future__ import annotations

import hashlib
import json
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

FeatureName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9]([-_]*[a-zA-Z0-9]){0,63}$")]
SetName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([-_]*[a-z0-9]){0,30}$")]
RESERVED = ("is_deleted", "write_time", "api_invocation_time")  # SageMaker Feature Store's own columns


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeatureSpec(Strict):
    name: FeatureName
    type: Literal["Integral", "Fractional", "String"]
    description: str | None = Field(default=None, max_length=255)
    range: tuple[float, float] | None = Field(default=None, description="Expected [low, high] of a numeric feature (drift bins).")
    categories: list[str] | None = Field(default=None, description="Expected values of a String feature (drift buckets).")

    @model_validator(mode="after")
    def _check(self) -> FeatureSpec:
        if self.name.lower() in RESERVED:
            raise ValueError(f"feature name {self.name!r} is reserved by SageMaker Feature Store ({', '.join(RESERVED)})")
        if self.range is not None:
            if self.type == "String":
                raise ValueError(f"feature {self.name!r}: range applies to Integral/Fractional features, not String")
            if not self.range[0] < self.range[1]:
                raise ValueError(f"feature {self.name!r}: range low must be below high, got {list(self.range)}")
        if self.categories is not None:
            if self.type != "String":
                raise ValueError(f"feature {self.name!r}: categories apply to String features, not {self.type}")
            if not self.categories or len(set(self.categories)) != len(self.categories):
                raise ValueError(f"feature {self.name!r}: categories must be non-empty and unique")
        return self


class FeatureSetSpec(Strict):
    name: SetName
    record_identifier: FeatureName
    event_time_feature: FeatureName
    features: list[FeatureSpec] = Field(min_length=2, max_length=2500)
    online_store: bool = True
    offline_store: bool = True
    ttl_seconds: int | None = Field(default=None, ge=60, description="Online store record TTL.")

    @model_validator(mode="after")
    def _check(self) -> FeatureSetSpec:
        names = [f.name for f in self.features]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"feature set {self.name!r}: duplicate feature names {duplicates}")
        by_name = {f.name: f for f in self.features}
        for role, name in (("record_identifier", self.record_identifier), ("event_time_feature", self.event_time_feature)):
            if name not in by_name:
                raise ValueError(f"feature set {self.name!r}: {role} {name!r} is not among its features")
        if by_name[self.event_time_feature].type not in ("Fractional", "String"):
            raise ValueError(f"feature set {self.name!r}: event_time_feature must be Fractional or String (SageMaker's rule)")
        if not (self.online_store or self.offline_store):
            raise ValueError(f"feature set {self.name!r}: enable the online store, the offline store or both")
        if self.ttl_seconds is not None and not self.online_store:
            raise ValueError(f"feature set {self.name!r}: ttl_seconds needs the online store")
        return self


class ModelInputsSpec(Strict):
    feature_set: SetName
    features: list[FeatureName] = Field(min_length=1, description="The model's inputs, in input order.")
    label: FeatureName


class FeaturesSpec(Strict):
    feature_sets: list[FeatureSetSpec] = Field(min_length=1)
    model_inputs: ModelInputsSpec

    @model_validator(mode="after")
    def _check(self) -> FeaturesSpec:
        names = [s.name for s in self.feature_sets]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate feature set names {duplicates}")
        inputs = self.model_inputs
        chosen = next((s for s in self.feature_sets if s.name == inputs.feature_set), None)
        if chosen is None:
            raise ValueError(f"model_inputs.feature_set {inputs.feature_set!r} is not a declared feature set {names}")
        known = {f.name for f in chosen.features}
        unknown = [f for f in inputs.features if f not in known]
        if unknown:
            raise ValueError(f"model_inputs.features {unknown} are not features of {chosen.name!r}")
        keys = [f for f in inputs.features if f in (chosen.record_identifier, chosen.event_time_feature)]
        if keys:
            raise ValueError(f"model_inputs.features must not include the record identifier or event time {keys}")
        if len(set(inputs.features)) != len(inputs.features):
            raise ValueError("model_inputs.features lists a feature twice")
        return self


def definitions_document(team: str, features: FeaturesSpec) -> dict:
    """The `features/definitions.json` document (docs/CONTRACTS.md); its version changes with any definition."""
    body = features.model_dump(mode="json")
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return {"schema": 1, "version": hashlib.sha256(canonical.encode()).hexdigest()[:16], "team": team, **body}
