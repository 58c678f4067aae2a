"""What every config model shares: unknown keys refused, types strict, numbers finite, and no text that
Terraform would evaluate.

Why refuse `${` and `%{`: Terraform reads every string of a synthesized stack as a template, so a config
value such as `${file("/etc/passwd")}@example.com` would run at plan time on the machine that deploys
(and print the file into the plan). No field of the schema needs template syntax, so every string, in
every model, list and map, is checked from the schema itself (`_template_problems` walks each field's
declared type, not a hand-kept list). The only exceptions are fields marked `TERRAFORM_ESCAPED`: free
text that the stack writes through an escaping function (modules/training/tfjson.py), so Terraform reads
it back verbatim.

Strict types: YAML `true` is not the integer 1, and `"5"` is not a number; a float field still accepts
an integer. Floats are finite everywhere (`.nan`, `.inf` and `1e400` are refused).
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

TEMPLATE_SEQUENCES = ("${", "%{")
# json_schema_extra of a field whose text reaches Terraform only through an escaping function.
TERRAFORM_ESCAPED = {"terraform_text": "escaped"}

Loc = tuple[str | int, ...]


def fail(title: str, problems: list[tuple[Loc, str, Any]]) -> None:
    """Raise every cross-field problem at once, each at the location of the field it is about."""
    if problems:
        raise ValidationError.from_exception_data(
            title,
            [
                InitErrorDetails(type=PydanticCustomError("value_error", message), loc=loc, input=value)
                for loc, message, value in problems
            ],
        )


def is_escaped(field: Any) -> bool:
    extra = field.json_schema_extra
    return isinstance(extra, dict) and extra.get("terraform_text") == TERRAFORM_ESCAPED["terraform_text"]


def annotation_arms(annotation: Any) -> list[Any]:
    """The alternatives of `X | None` / `Optional[X]` / `Annotated[X, ...]`, each unwrapped."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return annotation_arms(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [arm for arg in typing.get_args(annotation) for arm in annotation_arms(arg)]
    return [annotation]


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _texts(annotation: Any, value: Any, loc: Loc) -> list[tuple[Loc, str]]:
    """(location, text) of every string in a raw `value` where `annotation` declares text; nested models
    are left to their own validator, and the walk follows the declared type only (so a hostile value
    such as an alias bomb in a list of strings is never descended into)."""
    found: list[tuple[Loc, str]] = []
    for arm in annotation_arms(annotation):
        origin, args = typing.get_origin(arm), typing.get_args(arm)
        if _is_model(arm):
            continue
        if (arm is str or origin is typing.Literal) and isinstance(value, str):
            return [(loc, value)]
        if origin in (list, tuple) and isinstance(value, (list, tuple)):
            item_types = args if origin is tuple and args and args[-1] is not Ellipsis else [args[0]] * len(value) if args else []
            for index, (item_type, item) in enumerate(zip(item_types, value)):
                found += _texts(item_type, item, (*loc, index))
            return found
        if origin is dict and isinstance(value, dict) and len(args) == 2:
            for key, item in value.items():
                if isinstance(key, str):
                    found += _texts(args[0], key, (*loc, key))
                found += _texts(args[1], item, (*loc, key))
            return found
    return found


def _template_problems(model: type[BaseModel], data: Any) -> list[InitErrorDetails]:
    if not isinstance(data, dict):
        return []
    problems = []
    for name, field in model.model_fields.items():
        if name not in data or is_escaped(field):
            continue
        for loc, text in _texts(field.annotation, data[name], (name,)):
            sequence = next((s for s in TEMPLATE_SEQUENCES if s in text), None)
            if sequence is not None:
                message = (
                    f"{sequence!r} is not allowed here: Terraform would evaluate it as a template "
                    "(no setting of the platform needs template syntax)"
                )
                problems.append(InitErrorDetails(type=PydanticCustomError("value_error", message), loc=loc, input=text))
    return problems


def _rebuilt(error: dict[str, Any]) -> InitErrorDetails:
    """An error pydantic reported, carried over unchanged next to ours."""
    details = InitErrorDetails(
        type=PydanticCustomError(error["type"], error["msg"], error.get("ctx")), loc=error["loc"], input=error["input"]
    )
    return details


class Strict(BaseModel):
    """Base of every config model (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    @model_validator(mode="wrap")
    @classmethod
    def _no_terraform_templates(cls, data: Any, handler: Any) -> Any:
        templates = _template_problems(cls, data)
        if not templates:
            return handler(data)
        try:
            handler(data)
            others: list[InitErrorDetails] = []
        except ValidationError as exc:
            others = [_rebuilt(e) for e in exc.errors(include_url=False)]
        raise ValidationError.from_exception_data(cls.__name__, [*others, *templates])
