"""Feature definitions in the config: bad feature sets are refused with the field's path and the problem;
the published definitions document is deterministic and versioned by its content."""

from __future__ import annotations

import copy
import json

import pytest
import yaml
from pydantic import ValidationError

from config.features import FeaturesSpec, definitions_document
from config.platform import DEFAULT_CONFIG_FILE, ConfigError, parse_config

VALID: dict = {
    "feature_sets": [
        {
            "name": "transactions",
            "record_identifier": "transaction_id",
            "event_time_feature": "event_time",
            "ttl_seconds": 86400,
            "features": [
                {"name": "transaction_id", "type": "String"},
                {"name": "event_time", "type": "Fractional"},
                {"name": "amount", "type": "Fractional", "range": [0, 5000], "description": "Amount in USD"},
                {"name": "merchant_category", "type": "String", "categories": ["grocery", "travel"]},
                {"name": "hour_of_day", "type": "Integral", "range": [0, 23]},
            ],
        },
        {
            "name": "accounts",
            "record_identifier": "account_id",
            "event_time_feature": "updated_at",
            "online_store": False,
            "features": [
                {"name": "account_id", "type": "Integral"},
                {"name": "updated_at", "type": "String"},
                {"name": "age_days", "type": "Integral"},
            ],
        },
    ],
    "model_inputs": {
        "feature_set": "transactions",
        "features": ["amount", "merchant_category", "hour_of_day"],
        "label": "is_fraud",
    },
}


def path_of(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.isidentifier():
            out += f".{part}" if out else part
    return out


def errors_of(data: dict) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        FeaturesSpec.model_validate(data)
    return [(path_of(e["loc"]), e["msg"].removeprefix("Value error, ")) for e in caught.value.errors(include_url=False)]


def edited(change) -> dict:
    data = copy.deepcopy(VALID)
    change(data)
    return data


def fs(data: dict, i: int = 0) -> dict:
    return data["feature_sets"][i]


def feat(data: dict, j: int, i: int = 0) -> dict:
    return data["feature_sets"][i]["features"][j]


BAD = [
    ("bad feature name", lambda d: feat(d, 2).update(name="amount usd"), "feature_sets[0].features[2].name", "pattern"),
    ("name starting with _", lambda d: feat(d, 2).update(name="_amount"), "feature_sets[0].features[2].name", "pattern"),
    (
        "reserved is_deleted",
        lambda d: feat(d, 2).update(name="is_deleted"),
        "feature_sets[0].features[2].name",
        "reserved by SageMaker",
    ),
    (
        "reserved write_time",
        lambda d: feat(d, 2).update(name="Write_Time"),
        "feature_sets[0].features[2].name",
        "reserved by SageMaker",
    ),
    (
        "reserved api_invocation_time",
        lambda d: feat(d, 2).update(name="api_invocation_time"),
        "feature_sets[0].features[2].name",
        "reserved",
    ),
    (
        "bad type",
        lambda d: feat(d, 2).update(type="Float"),
        "feature_sets[0].features[2].type",
        "'Integral', 'Fractional' or 'String'",
    ),
    ("unknown key", lambda d: feat(d, 2).update(rnage=[0, 1]), "feature_sets[0].features[2].rnage", "Extra inputs"),
    (
        "range on a String",
        lambda d: feat(d, 3).update(range=[0, 1]),
        "feature_sets[0].features[3].range",
        "not to a String feature",
    ),
    (
        "range low == high",
        lambda d: feat(d, 2).update(range=[5, 5]),
        "feature_sets[0].features[2].range",
        "low must be below high",
    ),
    (
        "range low > high",
        lambda d: feat(d, 2).update(range=[10, 1]),
        "feature_sets[0].features[2].range",
        "low must be below high",
    ),
    ("range of three", lambda d: feat(d, 2).update(range=[0, 1, 2]), "feature_sets[0].features[2].range", "at most 2 items"),
    (
        "infinite range",
        lambda d: feat(d, 2).update(range=[0, float("inf")]),
        "feature_sets[0].features[2].range[1]",
        "finite number",
    ),
    (
        "categories on numeric",
        lambda d: feat(d, 2).update(categories=["a"]),
        "feature_sets[0].features[2].categories",
        "not to a Fractional feature",
    ),
    (
        "empty categories",
        lambda d: feat(d, 3).update(categories=[]),
        "feature_sets[0].features[3].categories",
        "must not be empty",
    ),
    (
        "repeated category",
        lambda d: feat(d, 3).update(categories=["a", "b", "a"]),
        "feature_sets[0].features[3].categories",
        "listed more than once: ['a']",
    ),
    (
        "duplicate feature",
        lambda d: fs(d)["features"].append({"name": "amount", "type": "Integral"}),
        "feature_sets[0].features[5].name",
        "duplicate feature name 'amount'",
    ),
    (
        "duplicate ignoring case",
        lambda d: fs(d)["features"].append({"name": "Amount", "type": "Integral"}),
        "feature_sets[0].features[5].name",
        "ignoring case",
    ),
    (
        "identifier not a feature",
        lambda d: fs(d).update(record_identifier="txn_id"),
        "feature_sets[0].record_identifier",
        "'txn_id' is not among the features",
    ),
    (
        "event time not a feature",
        lambda d: fs(d).update(event_time_feature="ts"),
        "feature_sets[0].event_time_feature",
        "'ts' is not among the features",
    ),
    (
        "event time Integral",
        lambda d: feat(d, 1).update(type="Integral"),
        "feature_sets[0].event_time_feature",
        "Fractional or String",
    ),
    (
        "event time == identifier",
        lambda d: fs(d).update(event_time_feature="transaction_id"),
        "feature_sets[0].event_time_feature",
        "must differ from record_identifier",
    ),
    ("neither store", lambda d: fs(d, 1).update(offline_store=False), "feature_sets[1]", "neither store"),
    ("ttl without online store", lambda d: fs(d, 1).update(ttl_seconds=60), "feature_sets[1].ttl_seconds", "online store"),
    ("ttl zero", lambda d: fs(d).update(ttl_seconds=0), "feature_sets[0].ttl_seconds", "greater than 0"),
    ("no features", lambda d: fs(d, 1).update(features=[]), "feature_sets[1].features", "at least 1 item"),
    ("set name too long", lambda d: fs(d).update(name="t" * 24), "feature_sets[0].name", "at most 23 characters"),
    ("set name pattern", lambda d: fs(d).update(name="tx!"), "feature_sets[0].name", "pattern"),
    (
        "duplicate set",
        lambda d: fs(d, 1).update(name="transactions"),
        "feature_sets[1].name",
        "duplicate feature set name 'transactions'",
    ),
    ("no sets", lambda d: d.update(feature_sets=[]), "feature_sets", "at least 1 item"),
    (
        "unknown model set",
        lambda d: d["model_inputs"].update(feature_set="txs"),
        "model_inputs.feature_set",
        "unknown feature set 'txs'",
    ),
    (
        "unknown model feature",
        lambda d: d["model_inputs"]["features"].append("amt"),
        "model_inputs.features[3]",
        "unknown feature 'amt'",
    ),
    (
        "feature of another set",
        lambda d: d["model_inputs"]["features"].append("age_days"),
        "model_inputs.features[3]",
        "not a feature of set 'transactions'",
    ),
    (
        "identifier as input",
        lambda d: d["model_inputs"]["features"].append("transaction_id"),
        "model_inputs.features[3]",
        "is the record identifier",
    ),
    (
        "event time as input",
        lambda d: d["model_inputs"]["features"].insert(0, "event_time"),
        "model_inputs.features[0]",
        "is the event time",
    ),
    ("input listed twice", lambda d: d["model_inputs"]["features"].append("amount"), "model_inputs.features[3]", "listed twice"),
    ("label as input", lambda d: d["model_inputs"].update(label="amount"), "model_inputs.label", "target leakage"),
    ("no inputs", lambda d: d["model_inputs"].update(features=[]), "model_inputs.features", "at least 1 item"),
    ("missing label", lambda d: d["model_inputs"].pop("label"), "model_inputs.label", "Field required"),
]


@pytest.mark.parametrize("change, path, message", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_feature_definitions_name_the_field_and_the_problem(change, path, message):
    problems = errors_of(edited(change))
    assert any(p == path and message in m for p, m in problems), problems


def test_every_cross_field_problem_is_reported_at_once():
    def change(d):
        fs(d).update(record_identifier="nope", event_time_feature="nope2")
        fs(d, 1).update(online_store=False, offline_store=False)

    paths = {p for p, _ in errors_of(edited(change))}
    assert {"feature_sets[0].record_identifier", "feature_sets[0].event_time_feature", "feature_sets[1]"} <= paths


def test_valid_definitions_parse():
    spec = FeaturesSpec.model_validate(VALID)
    assert [s.name for s in spec.feature_sets] == ["transactions", "accounts"]
    assert spec.feature_sets[0].features[2].range == (0.0, 5000.0)
    assert spec.feature_sets[1].online_store is False and spec.feature_sets[1].offline_store is True
    minimal = {
        "feature_sets": [
            {
                "name": "s",
                "record_identifier": "id",
                "event_time_feature": "t",
                "features": [
                    {"name": "id", "type": "Integral"},
                    {"name": "t", "type": "String"},
                    {"name": "x-1", "type": "Fractional"},
                ],
            }
        ],
        "model_inputs": {"feature_set": "s", "features": ["x-1"], "label": "y"},
    }
    assert FeaturesSpec.model_validate(minimal).feature_sets[0].ttl_seconds is None


def test_definitions_document_has_the_contract_shape():
    document = definitions_document("fraud", FeaturesSpec.model_validate(VALID))
    assert list(document) == ["schema", "version", "team", "feature_sets", "model_inputs"]
    assert document["schema"] == 1 and document["team"] == "fraud"
    assert len(document["version"]) == 16 and int(document["version"], 16) >= 0
    transactions = document["feature_sets"][0]
    assert transactions == {
        "name": "transactions",
        "record_identifier": "transaction_id",
        "event_time_feature": "event_time",
        "online_store": True,
        "offline_store": True,
        "ttl_seconds": 86400,
        "features": [
            {"name": "transaction_id", "type": "String"},
            {"name": "event_time", "type": "Fractional"},
            {"name": "amount", "type": "Fractional", "description": "Amount in USD", "range": [0.0, 5000.0]},
            {"name": "merchant_category", "type": "String", "categories": ["grocery", "travel"]},
            {"name": "hour_of_day", "type": "Integral", "range": [0.0, 23.0]},
        ],
    }
    assert document["model_inputs"] == VALID["model_inputs"]
    assert json.loads(json.dumps(document)) == document  # plain JSON, as drift code reads it


def test_definitions_version_is_deterministic_and_follows_the_content():
    version = definitions_document("fraud", FeaturesSpec.model_validate(VALID))["version"]
    assert definitions_document("fraud", FeaturesSpec.model_validate(copy.deepcopy(VALID)))["version"] == version
    assert definitions_document("other-team", FeaturesSpec.model_validate(VALID))["version"] == version  # content, not owner
    assert (
        definitions_document("fraud", FeaturesSpec.model_validate(edited(lambda d: feat(d, 2).update(range=[0.0, 5000.0]))))[
            "version"
        ]
        == version
    )

    changes = [
        lambda d: feat(d, 2).update(range=[0, 10000]),
        lambda d: feat(d, 3).update(categories=["grocery", "travel", "fuel"]),
        lambda d: feat(d, 2).update(description="Amount in EUR"),
        lambda d: d["model_inputs"].update(features=["merchant_category", "amount", "hour_of_day"]),  # input order matters
        lambda d: d["model_inputs"].update(label="chargeback"),
        lambda d: fs(d).update(ttl_seconds=3600),
    ]
    versions = {definitions_document("fraud", FeaturesSpec.model_validate(edited(c)))["version"] for c in changes}
    assert version not in versions and len(versions) == len(changes)


def test_errors_carry_the_full_yaml_path_inside_the_platform_config():
    data = yaml.safe_load(DEFAULT_CONFIG_FILE.read_text())
    team = next(i for i, t in enumerate(data["teams"]) if t.get("settings", {}).get("features"))
    features = data["teams"][team]["settings"]["features"]
    features["feature_sets"][0]["features"][2]["name"] = "is_deleted"
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    expected = f"teams[{team}].settings.features.feature_sets[0].features[2].name: 'is_deleted' is reserved by SageMaker"
    assert any(p.startswith(expected) for p in caught.value.problems), caught.value.problems
