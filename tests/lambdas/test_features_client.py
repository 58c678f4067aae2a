"""The runtime feature client: definitions read from S3, a feature group created from them, records built,
put and read back typed, and bad records refused before any AWS call.

What moto 5.2.5 covers (checked in moto/sagemaker/models.py and by `test_moto_lacks_the_feature_store_runtime`):
CreateFeatureGroup and DescribeFeatureGroup exist, but CreateFeatureGroup needs an OfflineStoreConfig
and drops OnlineStoreConfig; the `sagemaker-featurestore-runtime` API (PutRecord, GetRecord, ...) is not
implemented (HTTP 404 "Not yet implemented"). So the group is created in moto, and records go through
a real botocore runtime client whose calls are answered by botocore's Stubber: botocore still checks
every request against the real API model, and the Stubber checks the exact parameters sent and that
each stubbed response fits the real response shape.
"""

from __future__ import annotations

import copy
import json

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from common.features import (
    FeatureStoreClient,
    FeatureValidationError,
    RecordNotFoundError,
    build_record,
    feature_definitions,
    group_mismatches,
)
from config.features import FeaturesSpec, definitions_document
from contract.definitions import DefinitionsError, FeatureDefinitions
from tests.lambdas import moto_state

PREFIX = "mlp-fraud-dev"
BUCKET = "mlp-fraud-dev-artifacts-123456789012"
GROUP = f"{PREFIX}-transactions"
FEATURES = {
    "feature_sets": [
        {
            "name": "transactions",
            "record_identifier": "transaction_id",
            "event_time_feature": "event_time",
            "features": [
                {"name": "transaction_id", "type": "String"},
                {"name": "event_time", "type": "Fractional"},
                {"name": "amount", "type": "Fractional", "range": [0, 5000]},
                {"name": "merchant_category", "type": "String", "categories": ["grocery", "travel"]},
                {"name": "hour_of_day", "type": "Integral", "range": [0, 23]},
                {"name": "note", "type": "String"},
            ],
        },
        {
            "name": "sessions",
            "record_identifier": "session_id",
            "event_time_feature": "seen_at",
            "online_store": False,
            "features": [{"name": "session_id", "type": "Integral"}, {"name": "seen_at", "type": "String"}],
        },
    ],
    "model_inputs": {
        "feature_set": "transactions",
        "features": ["hour_of_day", "amount", "merchant_category"],
        "label": "is_fraud",
    },
}
DOCUMENT = definitions_document("fraud", FeaturesSpec.model_validate(FEATURES))
GOOD = {"transaction_id": "tx-1", "event_time": 1714564800.25, "amount": 129.5, "merchant_category": "travel", "hour_of_day": 14}
GOOD_RECORD = [
    {"FeatureName": "transaction_id", "ValueAsString": "tx-1"},
    {"FeatureName": "event_time", "ValueAsString": "1714564800.25"},
    {"FeatureName": "amount", "ValueAsString": "129.5"},
    {"FeatureName": "merchant_category", "ValueAsString": "travel"},
    {"FeatureName": "hour_of_day", "ValueAsString": "14"},
]


@pytest.fixture
def aws(monkeypatch):
    """moto in-process with fake credentials, us-east-1 and the team's artifacts bucket holding the definitions
    (restored, not rebuilt: tests/lambdas/moto_state.py)."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    with moto_state.restored(monkeypatch, "feature-definitions", _definitions_bucket):
        yield


def _definitions_bucket() -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="features/definitions.json", Body=json.dumps(DOCUMENT, sort_keys=True, indent=1).encode())


@pytest.fixture
def definitions(aws) -> FeatureDefinitions:
    return FeatureDefinitions.load(boto3.client("s3"), BUCKET, verify_version=True)


@pytest.fixture
def runtime(aws):
    """A real runtime client whose calls the test must stub one by one; an unexpected call fails."""
    client = boto3.client("sagemaker-featurestore-runtime")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def create_group(definitions: FeatureDefinitions, name: str = "transactions") -> dict:
    """Create the set's feature group in moto from the definitions, the way the stack does in Terraform."""
    feature_set = definitions.feature_set(name)
    sagemaker = boto3.client("sagemaker")
    sagemaker.create_feature_group(
        FeatureGroupName=f"{PREFIX}-{name}",
        RecordIdentifierFeatureName=feature_set.record_identifier,
        EventTimeFeatureName=feature_set.event_time_feature,
        FeatureDefinitions=feature_definitions(feature_set),
        OnlineStoreConfig={"EnableOnlineStore": True},
        OfflineStoreConfig={
            "S3StorageConfig": {"S3Uri": f"s3://{BUCKET}/feature-store/{name}"},
            "DisableGlueTableCreation": True,
        },
        RoleArn="arn:aws:iam::123456789012:role/mlp-fraud-dev-feature-store",
    )
    return sagemaker.describe_feature_group(FeatureGroupName=f"{PREFIX}-{name}")


def test_definitions_load_from_s3_with_their_version_checked(definitions):
    assert definitions.version == DOCUMENT["version"] and definitions.team == "fraud"
    assert definitions.model_input_order() == ["hour_of_day", "amount", "merchant_category"]
    amount = definitions.feature_set("transactions").feature("amount")
    assert amount.type == "Fractional" and amount.range == (0.0, 5000.0)
    assert definitions.feature_set("sessions").online_store is False
    assert definitions.document == DOCUMENT  # the plain dict, for drift code
    with pytest.raises(DefinitionsError, match="unknown feature set 'nope'"):
        definitions.feature_set("nope")


def test_hand_edited_or_broken_definitions_are_refused():
    edited = copy.deepcopy(DOCUMENT)
    edited["feature_sets"][0]["features"][2]["range"] = [0, 10000]
    FeatureDefinitions.from_dict(edited)  # the version is only checked on request
    with pytest.raises(DefinitionsError, match="does not match their content"):
        FeatureDefinitions.from_dict(edited, verify_version=True)
    missing_input = copy.deepcopy(DOCUMENT)
    missing_input["model_inputs"]["features"].append("velocity")
    with pytest.raises(DefinitionsError, match="no feature 'velocity'"):
        FeatureDefinitions.from_dict(missing_input)
    with pytest.raises(DefinitionsError, match="schema"):
        FeatureDefinitions.from_dict({**DOCUMENT, "schema": 2})
    with pytest.raises(DefinitionsError, match="malformed"):
        FeatureDefinitions.from_dict({k: v for k, v in DOCUMENT.items() if k != "model_inputs"})


def test_feature_group_created_in_moto_matches_the_definitions(definitions):
    described = create_group(definitions)
    assert described["FeatureGroupName"] == GROUP
    assert group_mismatches(definitions.feature_set("transactions"), described) == []
    drifted = {
        **described,
        "FeatureDefinitions": [
            {"FeatureName": "transaction_id", "FeatureType": "String"},
            {"FeatureName": "event_time", "FeatureType": "Fractional"},
            {"FeatureName": "amount", "FeatureType": "Integral"},
            {"FeatureName": "extra", "FeatureType": "String"},
        ],
    }
    problems = group_mismatches(definitions.feature_set("transactions"), drifted)
    assert "feature 'amount' is Integral in the group, defined Fractional" in problems
    assert "feature 'extra' is in the group but not defined" in problems
    assert "feature 'hour_of_day' is defined but not in the group" in problems


def test_moto_lacks_the_feature_store_runtime(definitions):
    """Why the record tests use the Stubber: if this fails, moto gained the runtime and they can use it."""
    create_group(definitions)
    with pytest.raises(ClientError, match="Not yet implemented"):
        boto3.client("sagemaker-featurestore-runtime").put_record(FeatureGroupName=GROUP, Record=GOOD_RECORD)


def test_put_then_get_returns_the_same_typed_values(definitions, runtime):
    create_group(definitions)
    client, stubber = runtime
    store = FeatureStoreClient(definitions, client, PREFIX)
    stubber.add_response("put_record", {}, {"FeatureGroupName": GROUP, "Record": GOOD_RECORD})
    # The store returns what was put, in its own order.
    stubber.add_response(
        "get_record",
        {"Record": list(reversed(GOOD_RECORD))},
        {"FeatureGroupName": GROUP, "RecordIdentifierValueAsString": "tx-1"},
    )

    store.put("transactions", GOOD)
    got = store.get("transactions", "tx-1")

    assert got == GOOD
    assert {name: type(value) for name, value in got.items()} == {name: type(value) for name, value in GOOD.items()}


def test_model_input_is_in_model_order_with_none_for_absent_values(definitions, runtime):
    client, stubber = runtime
    store = FeatureStoreClient(definitions, client, lambda name: f"custom-{name}")
    stored = [
        {"FeatureName": "merchant_category", "ValueAsString": "grocery"},
        {"FeatureName": "hour_of_day", "ValueAsString": "3"},
    ]
    stubber.add_response(
        "get_record",
        {"Record": stored},
        {
            "FeatureGroupName": "custom-transactions",
            "RecordIdentifierValueAsString": "tx-2",
            "FeatureNames": ["hour_of_day", "amount", "merchant_category"],
        },
    )

    assert store.to_model_input("transactions", "tx-2") == [3, None, "grocery"]
    with pytest.raises(DefinitionsError, match="come from feature set 'transactions'"):
        store.to_model_input("sessions", 1)


def test_a_missing_record_is_an_error_not_empty_features(definitions, runtime):
    client, stubber = runtime
    stubber.add_response("get_record", {}, {"FeatureGroupName": GROUP, "RecordIdentifierValueAsString": "tx-404"})
    with pytest.raises(RecordNotFoundError, match="tx-404"):
        FeatureStoreClient(definitions, client, PREFIX).get("transactions", "tx-404")


def test_stored_values_that_contradict_the_definitions_are_reported(definitions, runtime):
    client, stubber = runtime
    stored = [{"FeatureName": "hour_of_day", "ValueAsString": "3.5"}, {"FeatureName": "velocity", "ValueAsString": "1"}]
    stubber.add_response("get_record", {"Record": stored}, {"FeatureGroupName": GROUP, "RecordIdentifierValueAsString": "tx-3"})
    with pytest.raises(FeatureValidationError) as caught:
        FeatureStoreClient(definitions, client, PREFIX).get("transactions", "tx-3")
    assert any("hour_of_day" in p and "not a Integral" in p for p in caught.value.problems)
    assert any("velocity" in p and "not defined" in p for p in caught.value.problems)


BAD_VALUES = [
    ("unknown feature", {"amount_usd": 1.0}, "amount_usd: unknown feature"),
    ("no identifier", {"transaction_id": None}, "transaction_id: missing (record identifier"),
    ("no event time", {"event_time": None}, "event_time: missing (event time"),
    ("bool as Integral", {"hour_of_day": True}, "hour_of_day: expected an integer (Integral), got bool"),
    ("float as Integral", {"hour_of_day": 14.0}, "hour_of_day: expected an integer (Integral), got float"),
    ("str as Integral", {"hour_of_day": "14"}, "hour_of_day: expected an integer (Integral), got str"),
    ("str as Fractional", {"amount": "129.5"}, "amount: expected a number (Fractional), got str"),
    ("bool as Fractional", {"amount": False}, "amount: expected a number (Fractional), got bool"),
    ("NaN", {"amount": float("nan")}, "amount: expected a finite number"),
    ("int as String", {"merchant_category": 7}, "merchant_category: expected a string (String), got int"),
    ("above range", {"amount": 5000.01}, "amount: 5000.01 is outside the declared range [0, 5000]"),
    ("below range", {"hour_of_day": -1}, "hour_of_day: -1 is outside the declared range [0, 23]"),
    ("undeclared category", {"merchant_category": "casino"}, "merchant_category: 'casino' is not one of the declared categories"),
]


@pytest.mark.parametrize("change, message", [b[1:] for b in BAD_VALUES], ids=[b[0] for b in BAD_VALUES])
def test_a_bad_record_is_refused_before_any_call(definitions, runtime, change, message):
    client, _ = runtime  # nothing stubbed: any call would fail the test
    with pytest.raises(FeatureValidationError) as caught:
        FeatureStoreClient(definitions, client, PREFIX).put("transactions", {**GOOD, **change})
    assert caught.value.feature_set == "transactions"
    assert any(p.startswith(message) for p in caught.value.problems), caught.value.problems
    assert "feature set 'transactions'" in str(caught.value)


def test_every_problem_of_a_record_is_reported_at_once(definitions):
    class NoCalls:
        def put_record(self, **_):
            pytest.fail("put_record called for an invalid record")

    bad = {"transaction_id": 17, "amount": -5, "merchant_category": "casino", "hour_of_day": 99, "speed": 1}
    with pytest.raises(FeatureValidationError) as caught:
        FeatureStoreClient(definitions, NoCalls(), PREFIX).put("transactions", bad)
    features = [p.split(":")[0] for p in caught.value.problems]
    assert sorted(features) == ["amount", "event_time", "hour_of_day", "merchant_category", "speed", "transaction_id"]


def test_string_event_times_and_integral_identifiers(definitions):
    sessions = definitions.feature_set("sessions")
    assert build_record(sessions, {"session_id": 42, "seen_at": "2024-05-01T12:00:00.123Z"}) == [
        {"FeatureName": "session_id", "ValueAsString": "42"},
        {"FeatureName": "seen_at", "ValueAsString": "2024-05-01T12:00:00.123Z"},
    ]
    with pytest.raises(FeatureValidationError, match="seen_at: '2024-05-01 12:00' is not an event time SageMaker accepts"):
        build_record(sessions, {"session_id": 42, "seen_at": "2024-05-01 12:00"})
    with pytest.raises(FeatureValidationError, match="does not fit in a 64-bit Integral"):
        build_record(sessions, {"session_id": 2**63, "seen_at": "2024-05-01T12:00:00Z"})


def test_get_refuses_a_set_without_online_store_and_a_mistyped_id(definitions, runtime):
    client, _ = runtime
    store = FeatureStoreClient(definitions, client, PREFIX)
    with pytest.raises(DefinitionsError, match="no online store"):
        store.get("sessions", 42)
    with pytest.raises(FeatureValidationError, match="transaction_id: expected a string"):
        store.get("transactions", 17)
