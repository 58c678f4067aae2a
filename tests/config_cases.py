"""Configs for the trust tests: the schema's string fields (walked from the pydantic models, not listed by
hand), a "full" example with every optional block filled in, and helpers to plant values at a path."""

from __future__ import annotations

import copy
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from config.base import annotation_arms, is_escaped
from config.platform import DEFAULT_CONFIG_FILE, PlatformConfig

KEY, VALUE = "<key>", "<value>"  # path elements: a map's (first) key, or its (first) value
CANARY_FILE = "/etc/hostname"
# The free-text fields the stack escapes for Terraform (TERRAFORM_ESCAPED) that accept a template: a
# hyperparameter value (written through tfjson.jsonencode) and a feature description (template_literal).
ACCEPTED_ESCAPED_FIELDS = (
    ("teams", 0, "settings", "training", "hyperparameters", VALUE),
    ("teams", 0, "settings", "features", "feature_sets", 0, "features", 0, "description"),
)
CANARIES = (f'${{file("{CANARY_FILE}")}}', f'%{{ if true }}x%{{ endif }}${{file("{CANARY_FILE}")}}')


def example() -> dict[str, Any]:
    return yaml.safe_load(DEFAULT_CONFIG_FILE.read_text(encoding="utf-8"))


def full_example() -> dict[str, Any]:
    """The example with every optional block set, so every string field of the schema exists somewhere."""
    data = example()
    data["environments"][0]["state_backend"].update(key_prefix="ml/state", region="us-east-2", kms_key_id="alias/state")
    fraud = data["teams"][0]
    settings = fraud["settings"]
    settings["training"].update(
        image={"tag": "v1", "digest": "sha256:" + "a" * 64},
        data_prefix="training/",
        vpc={"subnet_ids": ["subnet-0123abcd"], "security_group_ids": ["sg-0123abcd"]},
    )
    settings["retraining"]["schedule"] = "rate(7 days)"
    settings["features"]["feature_sets"][0]["features"][0]["description"] = "Transaction id"
    return data


def string_fields(model: type[BaseModel] = PlatformConfig, path: tuple = ()) -> list[tuple[tuple, bool]]:
    """(schema path, escaped) of every place the schema accepts text: model fields, list items, map keys
    and values. List items are index 0; map keys and values are KEY / VALUE."""
    found: list[tuple[tuple, bool]] = []
    for name, field in model.model_fields.items():
        found += _walk(field.annotation, (*path, name), is_escaped(field))
    return found


def _walk(annotation: Any, path: tuple, escaped: bool) -> list[tuple[tuple, bool]]:
    found: list[tuple[tuple, bool]] = []
    for arm in annotation_arms(annotation):
        origin, args = typing.get_origin(arm), typing.get_args(arm)
        if isinstance(arm, type) and issubclass(arm, BaseModel):
            found += string_fields(arm, path)
        elif arm is str or origin is typing.Literal:
            found.append((path, escaped))
        elif origin is tuple:
            for index, item in enumerate(args):
                found += _walk(item, (*path, index), escaped)
        elif origin is list:
            found += _walk(args[0], (*path, 0), escaped)
        elif origin is dict:
            found += _walk(args[0], (*path, KEY), escaped) + _walk(args[1], (*path, VALUE), escaped)
    return found


def plant(document: dict[str, Any], path: tuple, value: Any) -> dict[str, Any]:
    """A copy of `document` with `value` at `path` (missing maps and lists on the way are created)."""
    document = copy.deepcopy(document)
    node: Any = document
    for here, following in zip(path, (*path[1:], None)):
        last = following is None
        if here == KEY:
            old = dict(node)
            node.clear()
            node[value] = next(iter(old.values()), 0.3)
            return document
        if here == VALUE:
            key = next(iter(node), "k")
            node[key] = value
            return document
        if isinstance(here, int):
            if not node:
                node.append({} if not last else value)
            if last:
                node[here] = value
            node = node[here]
            continue
        if last:
            node[here] = value
            return document
        if here not in node or node[here] is None:
            node[here] = [] if isinstance(following, int) else {}
        node = node[here]
    return document


def yaml_path(path: tuple) -> str:
    """`("teams", 0, "owners", 0)` -> `teams[0].owners[0]`; a map's key or value reports at the map."""
    text = ""
    for part in path:
        if part in (KEY, VALUE):
            break
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def write(tmp_path: Path, text: str, name: str = "platform.yaml") -> Path:
    file = tmp_path / name
    file.write_text(text, encoding="utf-8")
    return file
