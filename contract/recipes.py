"""The training and serving recipes (docs/CONTRACTS.md, "Recipes") as typed structures, built the same
way for both: the stack constructs them (config/recipes.py) and writes `to_document()` into the SSM
parameters `/P/T/E/training-recipe` and `/P/T/E/serving-recipe`; the runtime (handlers, CLI, emulator)
reads them back with `parse()` / `from_json()`, which check every field and refuse a malformed document
(a hand-edited parameter) with one RecipeError naming the parameter and each bad field's path, before
any handler reads a key.

Field order is document order: the stack renders `to_document()` into the synthesized Terraform as is
(Terraform sorts the keys when it writes the parameter, but the synthesized expression keeps this order).

Rules every field follows: strings are non-empty (except `Text`: hyperparameter values), integers are whole numbers >= 0 (never booleans),
numbers are finite, `X | None` fields are present and may be null, objects have exactly their fields.
Standard library only.
"""

from __future__ import annotations

import functools
import json
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, fields, is_dataclass
from typing import Annotated, Any, ClassVar, Literal, Self, Union, get_args, get_origin

Text = Annotated[str, "may be empty"]  # a string that may be empty (SageMaker takes an empty hyperparameter)


class RecipeError(ValueError):
    """A recipe (or what it names) that a run or a deployment cannot use; a malformed recipe document
    names its parameter and every bad field by path."""


class _Problem(Exception):
    """One bad value (internal: collected into the RecipeError)."""


class RecipePart:
    """A part of a recipe: a frozen dataclass whose document is its fields, in order."""

    def to_document(self) -> dict[str, Any]:
        return {f.name: _dump(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]


class Recipe(RecipePart):
    """A whole recipe: what the stack writes to one SSM parameter."""

    TITLE: ClassVar[str]

    def to_json(self) -> str:
        """The document as Terraform's jsonencode writes it (keys sorted, compact; ASCII text)."""
        return json.dumps(self.to_document(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def parse(cls, document: object, *, source: str) -> Self:
        """The recipe `document` holds, or RecipeError naming `source` (e.g. `SSM parameter /mlp/t/e/
        training-recipe`) and every field that is missing, unknown or of the wrong type."""
        problems: list[str] = []
        recipe = _read(cls, document, "", problems)
        if problems:
            raise RecipeError(
                f"{source} holds a malformed {cls.TITLE}: {'; '.join(problems)} "
                "(the stack writes it: `cdktf deploy` of the team's stack writes it again)"
            )
        return typing.cast(Self, recipe)

    @classmethod
    def from_json(cls, text: str, *, source: str) -> Self:
        try:
            document = json.loads(text)
        except ValueError as error:
            raise RecipeError(f"{source} holds no JSON {cls.TITLE}: {error}") from None
        return cls.parse(document, source=source)


# --- the training recipe ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spot(RecipePart):
    enabled: bool
    max_wait_seconds: int | None  # null without spot


@dataclass(frozen=True)
class Vpc(RecipePart):
    subnet_ids: tuple[str, ...]
    security_group_ids: tuple[str, ...]


@dataclass(frozen=True)
class TrainingData(RecipePart):
    bucket: str  # the curated bucket
    prefix: str


@dataclass(frozen=True)
class DataPolicy(RecipePart):
    """Which object versions a retrain pins (common/data_policy.py)."""

    include_base: bool
    labelled_windows: Literal["all", "since_last_run"]
    recency_hours: int
    max_rows: int | None
    min_labels: int
    label_delay_hours: int


@dataclass(frozen=True)
class DataGate(RecipePart):
    """The data gate's limits before a GPU job (common/data_gate.py)."""

    min_rows: int
    max_invalid_rate: float
    max_missing_rate: float
    max_label_problem_rate: float


@dataclass(frozen=True)
class Approval(RecipePart):
    """The champion/challenger gate at registration (common/approval.py)."""

    metric: str
    threshold: float
    lower_is_better: bool
    min_improvement: float


@dataclass(frozen=True)
class TrainingRecipe(Recipe):
    TITLE: ClassVar[str] = "training recipe"

    image_uri: str  # the training repository by tag (or digest); a run pins it by digest
    inference_image_uri: str  # what registered models are served with: the inference repository, same tag
    definitions_s3_uri: str
    instance_type: str
    instance_count: int
    volume_size_gb: int
    max_runtime_seconds: int
    spot: Spot
    checkpoint_s3_uri: str
    output_s3_uri: str
    kms_key_arn: str
    volume_kms_key_arn: str | None  # null for instance types with instance storage (SageMaker refuses a key)
    role_arn: str
    hyperparameters: Mapping[str, Text]
    vpc: Vpc | None
    network_isolation: bool
    training_data: TrainingData
    data_policy: DataPolicy
    data_gate: DataGate
    approval: Approval


# --- the serving recipe -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataCapture(RecipePart):
    percent: int
    destination_s3_uri: str


@dataclass(frozen=True)
class Autoscaling(RecipePart):
    """What the deploy handler registers once the endpoint is InService (common/endpoint.py)."""

    min_capacity: int
    max_capacity: int
    policy_name: str
    target_invocations_per_instance: int
    scale_in_cooldown_seconds: int
    scale_out_cooldown_seconds: int


@dataclass(frozen=True)
class ServingRecipe(Recipe):
    TITLE: ClassVar[str] = "serving recipe"

    endpoint_name: str
    instance_type: str
    initial_instance_count: int
    variant_name: str
    execution_role_arn: str
    kms_key_arn: str  # outputs and data capture
    volume_kms_key_arn: str | None  # null for instance types with instance storage
    network_isolation: bool
    data_capture: DataCapture
    # Blue/green with auto-rollback in the SageMaker API's own shape, passed to CreateEndpoint and
    # UpdateEndpoint unchanged (SageMaker checks its inside).
    deployment_config: Mapping[str, object]
    autoscaling: Autoscaling


# --- reading and writing documents ---------------------------------------------------------------------


def _dump(value: Any) -> Any:
    if isinstance(value, RecipePart):
        return value.to_document()
    if isinstance(value, tuple):
        return [_dump(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _dump(item) for key, item in value.items()}
    return value


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, include_extras=True)


def _show(value: object) -> str:
    kind = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list", dict: "an object"}
    text = json.dumps(value, default=str)
    return f"{kind.get(type(value), type(value).__name__)} {text if len(text) <= 60 else text[:57] + '...'}"


def _read(kind: Any, value: object, path: str, problems: list[str]) -> Any:
    """`value` read as `kind`; a bad value adds its problem (`path: what`) and reads as None."""
    try:
        return _value(kind, value, path, problems)
    except _Problem as problem:
        problems.append(f"{path or 'the document'}: {problem}")
        return None


def _value(kind: Any, value: object, path: str, problems: list[str]) -> Any:
    origin, args = get_origin(kind), get_args(kind)
    if origin in (Union, types.UnionType):  # `X | None`: present, and null or an X
        return None if value is None else _value(next(a for a in args if a is not type(None)), value, path, problems)
    if value is None:
        raise _Problem("is null")
    if isinstance(kind, type) and is_dataclass(kind):
        if not isinstance(value, dict):
            raise _Problem(f"expected an object, got {_show(value)}")
        known = [f.name for f in fields(kind)]
        problems += [f"{path}{'.' if path else ''}{name}: unknown field" for name in value if name not in known]
        values = {}
        for name in known:
            where = f"{path}{'.' if path else ''}{name}"
            if name not in value:
                problems.append(f"{where}: missing")
            else:
                values[name] = _read(_hints(kind)[name], value[name], where, problems)
        return kind(**values) if len(values) == len(known) else None
    if origin is Annotated:  # Text
        if not isinstance(value, str):
            raise _Problem(f"expected a string, got {_show(value)}")
        return value
    if origin is Literal:
        if value not in args:
            raise _Problem(f"expected one of {list(args)}, got {_show(value)}")
        return value
    if origin is tuple:  # tuple[X, ...]: a JSON list
        if not isinstance(value, list):
            raise _Problem(f"expected a list, got {_show(value)}")
        return tuple(_read(args[0], item, f"{path}[{i}]", problems) for i, item in enumerate(value))
    if origin is Mapping:  # Mapping[str, X]: a JSON object (X object: any JSON value)
        if not isinstance(value, dict):
            raise _Problem(f"expected an object, got {_show(value)}")
        if args[1] is object:
            return dict(value)
        return {key: _read(args[1], item, f"{path}.{key}", problems) for key, item in value.items()}
    if kind is bool:
        if not isinstance(value, bool):
            raise _Problem(f"expected true or false, got {_show(value)}")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise _Problem(f"expected a whole number >= 0, got {_show(value)}")
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise _Problem(f"expected a finite number, got {_show(value)}")
        return value  # as written (1 stays 1): to_document() gives back the same document
    if kind is str:
        if not isinstance(value, str) or not value:
            raise _Problem(f"expected a non-empty string, got {_show(value)}")
        return value
    raise TypeError(f"{path}: no reader for {kind!r}")  # a field type this module does not support
