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

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from contract.definitions import DefinitionsError, Feature, FeatureDefinitions, FeatureSet, Value

# SageMaker accepts a String event time only as yyyy-MM-dd'T'HH:mm:ssZ or yyyy-MM-dd'T'HH:mm:ss.SSSZ.
ISO_EVENT_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$")


class FeatureValidationError(ValueError):
    """Values that do not match the definitions; `problems` lists every one (`feature: problem`)."""

    def __init__(self, feature_set: str, problems: Sequence[str]):
        self.feature_set = feature_set
        self.problems = list(problems)
        super().__init__(f"feature set {feature_set!r}: {len(self.problems)} problem(s): " + "; ".join(self.problems))


class RecordNotFoundError(LookupError):
    """The online store holds no record with that identifier (never written, deleted or expired)."""


def parse_value(feature: Feature, raw: Any) -> tuple[Value | None, str | None]:
    """(typed value, None) or (None, problem). A string is read by the feature's type (CSV cells, JSON
    strings); any other JSON value must already have the feature's type."""
    if raw is None or (isinstance(raw, str) and raw == ""):
        return None, "missing value"
    value: Any = raw
    if isinstance(raw, str) and feature.type != "String":
        try:
            value = feature.from_string(raw.strip())
        except ValueError:
            return None, f"{raw!r} is not a{'n integer' if feature.type == 'Integral' else ' number'} ({feature.type})"
    problem = feature.problem(value)
    return (None, problem) if problem else (value, None)


def feature_definitions(feature_set: FeatureSet) -> list[dict[str, str]]:
    """The set's features in CreateFeatureGroup's `FeatureDefinitions` shape."""
    return [{"FeatureName": f.name, "FeatureType": f.type} for f in feature_set.features]


def group_mismatches(feature_set: FeatureSet, described: Mapping[str, Any]) -> list[str]:
    """How a DescribeFeatureGroup response differs from the definitions (empty: they agree). A group
    that drifted from the published definitions is skew waiting to happen."""
    problems = []
    if described.get("RecordIdentifierFeatureName") != feature_set.record_identifier:
        problems.append(
            f"record identifier is {described.get('RecordIdentifierFeatureName')!r}, defined {feature_set.record_identifier!r}"
        )
    if described.get("EventTimeFeatureName") != feature_set.event_time_feature:
        problems.append(
            f"event time feature is {described.get('EventTimeFeatureName')!r}, defined {feature_set.event_time_feature!r}"
        )
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
        if (
            problem is None
            and feature.name == feature_set.event_time_feature
            and feature.type == "String"
            and isinstance(value, str)
            and not ISO_EVENT_TIME.match(value)
        ):
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
            raise RecordNotFoundError(
                f"no record {request['RecordIdentifierValueAsString']!r} in feature group {request['FeatureGroupName']!r}"
            )
        return parse_record(definition, response["Record"])

    def to_model_input(self, feature_set: str, record_id: Value) -> list[Value | None]:
        """The record's model inputs in `model_input_order()`; None where the record has no value. Training
        and serving both build inputs here, so both see the same features in the same order."""
        if feature_set != self.definitions.model_inputs.feature_set:
            raise DefinitionsError(
                f"the model's inputs come from feature set {self.definitions.model_inputs.feature_set!r}, not {feature_set!r}"
            )
        order = self.definitions.model_input_order()
        values = self.get(feature_set, record_id, features=order)
        return [values.get(name) for name in order]
