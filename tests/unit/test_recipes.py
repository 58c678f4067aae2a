"""The typed recipes (contract/recipes.py): every example team's recipes round-trip through the documents
the stack writes, and every malformed document (each field deleted, retyped or nulled; unknown fields)
is refused with one RecipeError naming the parameter and the field's path."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, Literal, get_args, get_origin

import pytest

from config.ml import TrainingSettings, VpcSettings
from contract.recipes import Recipe, RecipeError, ServingRecipe, TrainingRecipe
from tests.recipe_examples import example_serving, example_training
from tests.unit.test_training_serving import recipe as synthesized_recipe

SOURCE = "SSM parameter /mlp/fraud/dev/some-recipe"
VPC = VpcSettings(subnet_ids=["subnet-0123abcd"], security_group_ids=["sg-0123abcd", "sg-4567cdef"])
# One document of each kind with every optional part present (a VPC, spot wait, a volume key, a row cap).
EXAMPLES = {
    "training": example_training(TrainingSettings(instance_type="ml.p3.2xlarge", vpc=VPC, hyperparameters={"epochs": "3"})),
    "serving": example_serving(),
}


def test_every_example_teams_recipes_round_trip(stacks):
    """What the stack synthesizes for every team and environment of the example config (Terraform
    references kept as `${...}` strings) parses, and its typed recipe gives back the same document."""
    assert len(stacks) >= 4
    for name, stack in stacks.items():
        for which, kind in (("training", TrainingRecipe), ("serving", ServingRecipe)):
            document = synthesized_recipe(stack, which)
            recipe = kind.parse(document, source=f"{name} {which}")
            assert recipe.to_document() == document, (name, which)
            assert kind.from_json(recipe.to_json(), source=name) == recipe
            assert json.loads(recipe.to_json()) == document


def test_examples_round_trip_with_every_optional_part():
    for recipe in EXAMPLES.values():
        document = recipe.to_document()
        assert type(recipe).parse(json.loads(json.dumps(document)), source=SOURCE) == recipe
        assert type(recipe).from_json(recipe.to_json(), source=SOURCE) == recipe
    training = EXAMPLES["training"]
    assert training.vpc is not None and training.vpc.security_group_ids == ("sg-0123abcd", "sg-4567cdef")
    assert training.volume_kms_key_arn == training.kms_key_arn  # ml.p3: EBS only, so the team key
    assert training.to_document()["vpc"] == {
        "subnet_ids": ["subnet-0123abcd"],
        "security_group_ids": ["sg-0123abcd", "sg-4567cdef"],
    }


def test_numbers_are_kept_as_written():
    """Terraform writes 1.0 as 1: a float field reads an integer as is, so the document (and the deploy
    handler's recipe hash) is unchanged by a round trip."""
    document = EXAMPLES["training"].to_document()
    document["approval"]["threshold"] = 1
    recipe = TrainingRecipe.parse(document, source=SOURCE)
    assert recipe.approval.threshold == 1 and recipe.to_document() == document


# --- malformed documents ----------------------------------------------------------------------------------


def fields_of(kind: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(path, declared type) of every field, nested parts included."""
    hints = typing.get_type_hints(kind, include_extras=True)
    for field in dataclasses.fields(kind):
        path, declared = (*prefix, field.name), hints[field.name]
        yield path, declared
        inner = non_null(declared)
        if isinstance(inner, type) and dataclasses.is_dataclass(inner):
            yield from fields_of(inner, path)


def non_null(declared: Any) -> Any:
    if get_origin(declared) in (typing.Union, types.UnionType):
        return next(a for a in get_args(declared) if a is not type(None))
    return declared


def nullable(declared: Any) -> bool:
    return type(None) in get_args(declared)


def wrong_value(declared: Any) -> Any:
    """A JSON value that the declared type never accepts."""
    declared = non_null(declared)
    if declared is str or get_origin(declared) is Annotated:
        return 7
    if declared in (int, float):
        return "7"
    if declared is bool:
        return "true"
    if get_origin(declared) is Literal:
        return "sometimes"
    if get_origin(declared) is tuple:
        return "subnet-0123abcd"
    return ["not", "an", "object"]  # a part, or a JSON object (Mapping)


def at(document: dict, path: tuple[str, ...]) -> dict:
    for name in path[:-1]:
        document = document[name]
    return document


def cases() -> Iterator[Any]:
    for which, recipe in EXAMPLES.items():
        for path, declared in fields_of(type(recipe)):
            dotted = ".".join(path)
            yield pytest.param(which, path, "delete", f"{dotted}: missing", id=f"{which}-{dotted}-deleted")
            yield pytest.param(which, path, wrong_value(declared), f"{dotted}: expected", id=f"{which}-{dotted}-retyped")
            if not nullable(declared):
                yield pytest.param(which, path, None, f"{dotted}: is null", id=f"{which}-{dotted}-null")


@pytest.mark.parametrize("which, path, change, named", list(cases()))
def test_a_malformed_field_is_named_with_the_parameter(which, path, change, named):
    recipe = EXAMPLES[which]
    document = json.loads(recipe.to_json())
    parent = at(document, path)
    if change == "delete":
        del parent[path[-1]]
    else:
        parent[path[-1]] = change
    with pytest.raises(RecipeError) as raised:
        type(recipe).parse(document, source=SOURCE)
    message = str(raised.value)
    assert message.startswith(f"{SOURCE} holds a malformed {type(recipe).TITLE}: {named}"), message
    assert message.count(";") == 0, message  # exactly this one problem
    # The same document as the JSON text a hand-edited parameter holds.
    with pytest.raises(RecipeError, match=f"^{SOURCE} holds a malformed"):
        type(recipe).from_json(json.dumps(document), source=SOURCE)


@pytest.mark.parametrize(
    "which, path, value, named",
    [
        ("training", ("instance_count",), True, "instance_count: expected a whole number >= 0, got a boolean true"),
        ("training", ("instance_count",), 1.5, "instance_count: expected a whole number >= 0, got a number 1.5"),
        ("training", ("volume_size_gb",), -1, "volume_size_gb: expected a whole number >= 0, got an integer -1"),
        ("training", ("image_uri",), "", 'image_uri: expected a non-empty string, got a string ""'),
        ("training", ("hyperparameters", "epochs"), 3, "hyperparameters.epochs: expected a string, got an integer 3"),
        ("training", ("vpc", "subnet_ids"), ["subnet-0123abcd", 5], "vpc.subnet_ids[1]: expected a non-empty string"),
        ("training", ("data_gate", "max_invalid_rate"), False, "data_gate.max_invalid_rate: expected a finite number"),
        (
            "training",
            ("data_policy", "labelled_windows"),
            "some",
            "data_policy.labelled_windows: expected one of ['all', 'since_last_run']",
        ),
        ("serving", ("deployment_config",), "CANARY", "deployment_config: expected an object, got a string"),
        ("serving", ("autoscaling", "policy_name"), None, "autoscaling.policy_name: is null"),
    ],
)
def test_what_each_kind_of_field_refuses(which, path, value, named):
    document = EXAMPLES[which].to_document()
    at(document, path)[path[-1]] = value
    with pytest.raises(RecipeError) as raised:
        type(EXAMPLES[which]).parse(document, source=SOURCE)
    assert str(raised.value).startswith(f"{SOURCE} holds a malformed {EXAMPLES[which].TITLE}: {named}"), str(raised.value)


def test_unknown_fields_and_several_problems_are_named_at_once():
    document = EXAMPLES["serving"].to_document()
    document["endpiont_name"] = "x"
    document["autoscaling"]["min_capacty"] = 1
    del document["variant_name"]
    document["data_capture"]["percent"] = "all"
    with pytest.raises(RecipeError) as raised:
        ServingRecipe.parse(document, source=SOURCE)
    message = str(raised.value)
    for named in (
        "endpiont_name: unknown field",
        "autoscaling.min_capacty: unknown field",
        "variant_name: missing",
        'data_capture.percent: expected a whole number >= 0, got a string "all"',
    ):
        assert named in message, message
    assert message.endswith("(the stack writes it: `cdktf deploy` of the team's stack writes it again)")


@pytest.mark.parametrize("text", ["", "{", "[1, 2]", "null", '"recipe"', "NaN"])
def test_a_document_that_is_not_a_json_object_is_refused(text):
    for kind in (TrainingRecipe, ServingRecipe):
        with pytest.raises(RecipeError, match=f"^{SOURCE} holds (no JSON|a malformed) {kind.TITLE}"):
            kind.from_json(text, source=SOURCE)


def test_the_recipes_are_frozen_and_part_of_the_contract_docs():
    from tests.unit.test_contract import CONTRACTS

    recipe = EXAMPLES["training"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        recipe.image_uri = "other"  # type: ignore[misc]
    assert issubclass(TrainingRecipe, Recipe) and issubclass(ServingRecipe, Recipe)
    # Every field (nested parts by their path) is listed in docs/CONTRACTS.md.
    for kind in (TrainingRecipe, ServingRecipe):
        for path, _ in fields_of(kind):
            assert f'"{path[-1]}"' in CONTRACTS, f"docs/CONTRACTS.md does not show {kind.TITLE} field {'.'.join(path)}"
    assert isinstance(EXAMPLES["serving"].deployment_config, Mapping)


def test_a_hyperparameter_may_be_empty_as_in_sagemaker():
    document = EXAMPLES["training"].to_document()
    document["hyperparameters"] = {"flag": "", "epochs": "3"}
    assert TrainingRecipe.parse(document, source=SOURCE).hyperparameters == {"flag": "", "epochs": "3"}
