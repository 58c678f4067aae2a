"""Feature definitions at run time: the one path by which training, serving and ingestion read and write
features, so all of them see the same names, types, order and allowed values.

The definitions are the `features/definitions.json` document of docs/CONTRACTS.md (written by the stack
from the team config, config/features.py). `build_record` checks values against them before any
AWS call, so a bad value is refused with the feature set, the feature and the problem named, instead of
landing in the store and drifting the model. `FeatureStoreClient.to_model_input` returns a record's
model inputs in `model_inputs.features` order, the order the model was trained on.

Standard library only (plus the boto3 clients passed in): it is bundled into Lambda zips and imported by
training and serving code.
"""
from __future__ import annotations

import hashlib
import json
import math
import numbers
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

DEFINITIONS_KEY = "features/definitions.json"
SCHEMA = 1
FEATURE_TYPES = ("Integral", "Fractional", "String")
INTEGRAL_MIN, INTEGRAL_MAX = -(2**63), 2**63 - 1  # SageMaker stores Integral as a 64-bit integer
# SageMaker accepts a String event time only as yyyy-MM-dd'T'HH:mm:ssZ or yyyy-MM-dd'T'HH:mm:ss.SSSZ.
ISO_EVENT_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$")

Value = int | float | str


class DefinitionsError(ValueError):
    """The definitions document is malformed, or does not describe what was asked of it."""


class FeatureValidationError(ValueError):
    """Values that do not match the definitions; `problems` lists every one (`feature: problem`)."""

    def __init__(self, feature_set: str, problems: Sequence[str]):
        self.feature_set = feature_set
        self.problems = list(problems)
        super().__init__(f"feature set {feature_set!r}: {len(self.problems)} problem(s): " + "; ".join(self.problems))


class RecordNotFoundError(LookupError):
    """The online store holds no record with that identifier (never written, deleted or expired)."""


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
            if not low <= float(value) <= high:  # type: ignore[arg-type]  # numeric: checked above
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
    the same computation as config/features.py, which wrote the document."""
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
                raise DefinitionsError(f"unsupported definitions schema {document.get('schema')!r}; this client reads schema {SCHEMA}")
            sets = tuple(_feature_set(raw) for raw in document["feature_sets"])
            raw_inputs = document["model_inputs"]
            inputs = ModelInputs(str(raw_inputs["feature_set"]), tuple(str(n) for n in raw_inputs["features"]), str(raw_inputs["label"]))
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
                raise DefinitionsError(f"definitions version {self.version!r} does not match their content ({expected!r}): edited after publishing?")

    def feature_set(self, name: str) -> FeatureSet:
        for feature_set in self.feature_sets:
            if feature_set.name == name:
                return feature_set
        raise DefinitionsError(f"unknown feature set {name!r}; defined: {[s.name for s in self.feature_sets]}")

    def model_input_order(self) -> list[str]:
        """The model's input features in input order (also the column order of CSV payloads)."""
        return list(self.model_inputs.features)


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


def feature_definitions(feature_set: FeatureSet) -> list[dict[str, str]]:
    """The set's features in CreateFeatureGroup's `FeatureDefinitions` shape."""
    return [{"FeatureName": f.name, "FeatureType": f.type} for f in feature_set.features]


def group_mismatches(feature_set: FeatureSet, described: Mapping[str, Any]) -> list[str]:
    """How a DescribeFeatureGroup response differs from the definitions (empty: they agree). A group
    that drifted from the published definitions is skew waiting to happen."""
    problems = []
    if described.get("RecordIdentifierFeatureName") != feature_set.record_identifier:
        problems.append(f"record identifier is {described.get('RecordIdentifierFeatureName')!r}, defined {feature_set.record_identifier!r}")
    if described.get("EventTimeFeatureName") != feature_set.event_time_feature:
        problems.append(f"event time feature is {described.get('EventTimeFeatureName')!r}, defined {feature_set.event_time_feature!r}")
    actual = {d["FeatureName"]: d["FeatureType"] for d in described.get("FeatureDefinitions", [])}
    wanted = {f.name: f.type for f in feature_set.features}
    for name in sorted(wanted.keys() - actual.keys()):
        problems.append(f"feature {name!r} is defined but not in the group")
    for name in sorted(actual.keys() - wanted.keys()):
        problems.append(f"feature {name!r} is in the group but not defined")
    for name in sorted(wanted.keys() & actual.keys()):
        if wanted[name] != actual[name]:
            problems.append(f"feature {name!r} is {actual[name]} in the group, defined {wanted[name]}")
    return problems


def build_record(feature_set: FeatureSet, values: Mapping[str, object]) -> list[dict[str, str]]:
    """The PutRecord `Record` for `values` (feature name -> value; None means no value). Every problem
    (unknown feature, missing identifier or event time, wrong type, value outside its range or
    categories) is collected and raised as one FeatureValidationError; nothing is sent on error."""
    problems: list[str] = []
    known = {f.name: f for f in feature_set.features}
    for name in values:
        if name not in known:
            problems.append(f"{name}: unknown feature (defined: {feature_set.feature_names})")
    for role, name in (("record identifier", feature_set.record_identifier), ("event time", feature_set.event_time_feature)):
        if values.get(name) is None:
            problems.append(f"{name}: missing ({role} of the set)")
    record: list[dict[str, str]] = []
    for feature in feature_set.features:
        value = values.get(feature.name)
        if value is None:
            continue
        problem = feature.problem(value)
        if problem is None and feature.name == feature_set.event_time_feature and feature.type == "String" and not ISO_EVENT_TIME.match(value):  # type: ignore[arg-type]
            problem = f"{value!r} is not an event time SageMaker accepts (yyyy-MM-ddTHH:mm:ssZ or yyyy-MM-ddTHH:mm:ss.SSSZ)"
        if problem is not None:
            problems.append(f"{feature.name}: {problem}")
            continue
        record.append({"FeatureName": feature.name, "ValueAsString": feature.to_string(value)})  # type: ignore[arg-type]
    if problems:
        raise FeatureValidationError(feature_set.name, problems)
    return record


def parse_record(feature_set: FeatureSet, record: Iterable[Mapping[str, Any]]) -> dict[str, Value]:
    """Typed values of a GetRecord `Record`, converted by the definitions' types."""
    known = {f.name: f for f in feature_set.features}
    values: dict[str, Value] = {}
    problems: list[str] = []
    for item in record:
        name = item["FeatureName"]
        feature = known.get(name)
        if feature is None:
            problems.append(f"{name}: in the stored record but not defined (definitions older than the group?)")
        elif "ValueAsString" not in item:
            problems.append(f"{name}: stored as a list, defined as a scalar {feature.type}")
        else:
            try:
                values[name] = feature.from_string(item["ValueAsString"])
            except ValueError:
                problems.append(f"{name}: stored value {item['ValueAsString']!r} is not a {feature.type}")
    if problems:
        raise FeatureValidationError(feature_set.name, problems)
    return values


class FeatureStoreClient:
    """Put and get records of the team's feature groups, checked against the definitions.

    `group_name_for` is the stack prefix (`P-T-E`, docs/CONTRACTS.md; groups are `<prefix>-<set>`) or a
    function from feature set name to group name. `runtime_client` is a boto3
    `sagemaker-featurestore-runtime` client.
    """

    def __init__(self, definitions: FeatureDefinitions, runtime_client: Any, group_name_for: str | Callable[[str], str]):
        self.definitions = definitions
        self._runtime = runtime_client
        if isinstance(group_name_for, str):
            prefix = group_name_for
            self._group_name_for: Callable[[str], str] = lambda name: f"{prefix}-{name}"
        else:
            self._group_name_for = group_name_for

    def group_name(self, feature_set: str) -> str:
        return self._group_name_for(self.definitions.feature_set(feature_set).name)

    def put(self, feature_set: str, values: Mapping[str, object]) -> None:
        """Validate `values` against the definitions, then write them (PutRecord). Raises
        FeatureValidationError before any call when they do not match."""
        record = build_record(self.definitions.feature_set(feature_set), values)
        self._runtime.put_record(FeatureGroupName=self.group_name(feature_set), Record=record)

    def get(self, feature_set: str, record_id: Value, features: Sequence[str] | None = None) -> dict[str, Value]:
        """The latest online record with identifier `record_id`, typed (optionally only `features`).
        Raises RecordNotFoundError when there is none."""
        definition = self.definitions.feature_set(feature_set)
        if not definition.online_store:
            raise DefinitionsError(f"feature set {feature_set!r} has no online store to read records from")
        identifier = definition.feature(definition.record_identifier)
        problem = identifier.problem(record_id)
        if problem is not None:
            raise FeatureValidationError(feature_set, [f"{identifier.name}: {problem}"])
        request: dict[str, Any] = {
            "FeatureGroupName": self.group_name(feature_set),
            "RecordIdentifierValueAsString": identifier.to_string(record_id),
        }
        if features is not None:
            for name in features:
                definition.feature(name)
            request["FeatureNames"] = list(features)
        response = self._runtime.get_record(**request)
        if not response.get("Record"):
            raise RecordNotFoundError(f"no record {request['RecordIdentifierValueAsString']!r} in feature group {request['FeatureGroupName']!r}")
        return parse_record(definition, response["Record"])

    def to_model_input(self, feature_set: str, record_id: Value) -> list[Value | None]:
        """The record's model inputs in `model_input_order()`; None where the record has no value. Training
        and serving both build inputs here, so both see the same features in the same order."""
        if feature_set != self.definitions.model_inputs.feature_set:
            raise DefinitionsError(f"the model's inputs come from feature set {self.definitions.model_inputs.feature_set!r}, not {feature_set!r}")
        order = self.definitions.model_input_order()
        values = self.get(feature_set, record_id, features=order)
        return [values.get(name) for name in order]
