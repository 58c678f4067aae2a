"""The feature definitions document (`features/definitions.json`, docs/CONTRACTS.md): its schema, its
version and the one parser every reader uses (training, serving, ingestion, drift baselines and
checks, the emulator's traffic), raising the one `DefinitionsError`.

Standard library only.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from contract.layout import DEFINITIONS_KEY

SCHEMA = 1
FEATURE_TYPES = ("Integral", "Fractional", "String")
INTEGRAL_MIN, INTEGRAL_MAX = -(2**63), 2**63 - 1  # SageMaker stores Integral as a 64-bit integer

Value = int | float | str


class DefinitionsError(ValueError):
    """The definitions document is malformed, or does not describe what was asked of it."""


@dataclass(frozen=True)
class Feature:
    """One feature's definition: name, SageMaker type and the values it may take."""

    name: str
    type: str
    description: str | None = None
    range: tuple[float, float] | None = None
    categories: tuple[str, ...] | None = None

    def problem(self, value: object) -> str | None:
        """Why `value` is not a valid value of this feature, or None when it is."""
        if self.type == "Integral":
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                return f"expected an integer (Integral), got {type(value).__name__} {value!r}"
            if not INTEGRAL_MIN <= int(value) <= INTEGRAL_MAX:
                return f"{value!r} does not fit in a 64-bit Integral"
        elif self.type == "Fractional":
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                return f"expected a number (Fractional), got {type(value).__name__} {value!r}"
            if not math.isfinite(float(value)):
                return f"expected a finite number, got {value!r}"
        elif not isinstance(value, str):
            return f"expected a string (String), got {type(value).__name__} {value!r}"
        if self.range is not None:
            low, high = self.range
            if not low <= float(value) <= high:  # numeric: checked above
                return f"{value!r} is outside the declared range [{low:g}, {high:g}]"
        if self.categories is not None and value not in self.categories:
            return f"{value!r} is not one of the declared categories {list(self.categories)}"
        return None

    def to_string(self, value: Value) -> str:
        """The ValueAsString the Feature Store API takes (call after `problem` returned None)."""
        if self.type == "Integral":
            return str(int(value))
        if self.type == "Fractional":
            return repr(float(value))
        return str(value)

    def from_string(self, text: str) -> Value:
        """The typed value of a ValueAsString read back from the store."""
        if self.type == "Integral":
            return int(text)
        if self.type == "Fractional":
            return float(text)
        return text


@dataclass(frozen=True)
class FeatureSet:
    """One feature set (SageMaker feature group) of the definitions."""

    name: str
    record_identifier: str
    event_time_feature: str
    features: tuple[Feature, ...]
    online_store: bool = True
    offline_store: bool = True
    ttl_seconds: int | None = None

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    def feature(self, name: str) -> Feature:
        for feature in self.features:
            if feature.name == name:
                return feature
        raise DefinitionsError(f"feature set {self.name!r} has no feature {name!r}; features: {self.feature_names}")


@dataclass(frozen=True)
class ModelInputs:
    """The model's input features in input order, the set they come from and the training label."""

    feature_set: str
    features: tuple[str, ...]
    label: str


def definitions_version(feature_sets: Any, model_inputs: Any) -> str:
    """First 16 hex of sha256 over the canonical JSON of feature_sets + model_inputs (docs/CONTRACTS.md);
    config/features.py writes the document with it, the runtime checks documents against it."""
    canonical = json.dumps({"feature_sets": feature_sets, "model_inputs": model_inputs}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class FeatureDefinitions:
    """A parsed `features/definitions.json`. `document` keeps the plain dict for code that reads it as one
    (the drift baselines)."""

    version: str
    team: str
    feature_sets: tuple[FeatureSet, ...]
    model_inputs: ModelInputs
    document: Mapping[str, Any]

    @classmethod
    def from_dict(cls, document: Mapping[str, Any], *, verify_version: bool = False) -> FeatureDefinitions:
        """Parse and cross-check the document. With `verify_version`, a document whose version does not
        match its content (edited by hand after the stack wrote it) is refused."""
        try:
            if document.get("schema") != SCHEMA:
                raise DefinitionsError(
                    f"unsupported definitions schema {document.get('schema')!r}; this client reads schema {SCHEMA}"
                )
            sets = tuple(_feature_set(raw) for raw in document["feature_sets"])
            raw_inputs = document["model_inputs"]
            inputs = ModelInputs(
                str(raw_inputs["feature_set"]), tuple(str(n) for n in raw_inputs["features"]), str(raw_inputs["label"])
            )
            definitions = cls(str(document["version"]), str(document["team"]), sets, inputs, document)
        except (KeyError, TypeError, AttributeError) as error:
            raise DefinitionsError(f"malformed feature definitions: {type(error).__name__} {error}") from error
        definitions._check(verify_version)
        return definitions

    @classmethod
    def load(cls, s3_client: Any, bucket: str, key: str = DEFINITIONS_KEY, *, verify_version: bool = False) -> FeatureDefinitions:
        """Read the document the stack wrote to the artifacts bucket."""
        body = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
        try:
            document = json.loads(body)
        except ValueError as error:
            raise DefinitionsError(f"s3://{bucket}/{key} is not JSON: {error}") from error
        if not isinstance(document, dict):
            raise DefinitionsError(f"s3://{bucket}/{key}: expected a JSON object")
        return cls.from_dict(document, verify_version=verify_version)

    def _check(self, verify_version: bool) -> None:
        names = [s.name for s in self.feature_sets]
        if len(set(names)) != len(names):
            raise DefinitionsError(f"duplicate feature set names in {names}")
        for feature_set in self.feature_sets:
            for key in (feature_set.record_identifier, feature_set.event_time_feature):
                feature_set.feature(key)  # raises DefinitionsError when absent
        model_set = self.feature_set(self.model_inputs.feature_set)
        for name in self.model_inputs.features:
            model_set.feature(name)
        if verify_version:
            expected = definitions_version(self.document["feature_sets"], self.document["model_inputs"])
            if expected != self.version:
                raise DefinitionsError(
                    f"definitions version {self.version!r} does not match their content ({expected!r}): edited after publishing?"
                )

    def feature_set(self, name: str) -> FeatureSet:
        for feature_set in self.feature_sets:
            if feature_set.name == name:
                return feature_set
        raise DefinitionsError(f"unknown feature set {name!r}; defined: {[s.name for s in self.feature_sets]}")

    def model_input_order(self) -> list[str]:
        """The model's input features in input order (also the column order of CSV payloads)."""
        return list(self.model_inputs.features)

    def model_feature_specs(self) -> list[dict[str, Any]]:
        """The document's entries of the model's input features, in input order (drift binning, traffic)."""
        return model_feature_specs(self.document)


def _feature_set(raw: Mapping[str, Any]) -> FeatureSet:
    features = []
    for spec in raw["features"]:
        kind = spec["type"]
        if kind not in FEATURE_TYPES:
            raise DefinitionsError(f"feature {spec['name']!r} of set {raw['name']!r}: unsupported type {kind!r}")
        declared_range = spec.get("range")
        declared_categories = spec.get("categories")
        features.append(
            Feature(
                name=str(spec["name"]),
                type=kind,
                description=spec.get("description"),
                range=(float(declared_range[0]), float(declared_range[1])) if declared_range is not None else None,
                categories=tuple(str(c) for c in declared_categories) if declared_categories is not None else None,
            )
        )
    return FeatureSet(
        name=str(raw["name"]),
        record_identifier=str(raw["record_identifier"]),
        event_time_feature=str(raw["event_time_feature"]),
        features=tuple(features),
        online_store=bool(raw.get("online_store", True)),
        offline_store=bool(raw.get("offline_store", True)),
        ttl_seconds=raw.get("ttl_seconds"),
    )


def model_feature_specs(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The feature-set entries of `model_inputs.features`, in model input order (from the plain document:
    a drift baseline is computed from whatever the stack published, schema checks aside)."""
    try:
        inputs = document["model_inputs"]
        set_name = inputs["feature_set"]
        names = list(inputs["features"])
        feature_set = next(s for s in document["feature_sets"] if s.get("name") == set_name)
    except (KeyError, TypeError, StopIteration, AttributeError) as error:
        raise DefinitionsError(f"feature definitions lack model_inputs or its feature set: {error!r}") from error
    by_name = {f["name"]: f for f in feature_set.get("features", [])}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise DefinitionsError(f"model inputs {missing} are not in feature set {set_name!r}")
    return [by_name[n] for n in names]
