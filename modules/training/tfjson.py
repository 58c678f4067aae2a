"""JSON documents that contain Terraform tokens (bucket names, ARNs, repository URLs), rendered by Terraform.

`cdktf.Fn.jsonencode(value)` makes Terraform itself write the JSON at apply time, so every token is
resolved and escaped by Terraform. Two cdktf 0.21 details make a bare `Fn.jsonencode(python_dict)`
unsafe, and `jsonencode` below handles both:

- a Python `None` inside a dict is dropped by jsii (the key disappears from the document), so `None`
  becomes `Token.null_value()` (rendered `null`);
- cdktf writes literal strings into the HCL expression without escaping `"`, `\\`, control characters
  or `%{` (it escapes only `${`), so a hyperparameter such as `["a","b"]` would break the expression.
  Literal strings are escaped for an HCL quoted string here; Terraform's jsonencode then reads back the
  original text. Token markers contain none of these characters, so strings with tokens are safe too.
"""

from __future__ import annotations

import re
from typing import Any

from cdktf import Fn, Token

_CONTROL = re.compile(r"[\x00-\x1f]")


def template_literal(text: str) -> str:
    """`text` for a plain string attribute, read back verbatim by Terraform: every string in a Terraform
    JSON file is a template, so `${` and `%{` are doubled (`$${`, `%%{`). cdktf writes plain attribute
    strings unchanged, so this is the one escape for free text from the config outside `jsonencode`
    (inside `Fn.jsonencode` cdktf escapes `${` itself and `_hcl_string` below escapes the rest)."""
    return text.replace("${", "$${").replace("%{", "%%{")


def _hcl_string(value: str) -> str:
    value = value.replace("\\", "\\\\").replace('"', '\\"').replace("%{", "%%{")
    return _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", value)


def _prepare(value: Any) -> Any:
    if value is None:
        return Token.null_value()
    if isinstance(value, str):
        return _hcl_string(value)
    if isinstance(value, dict):
        return {_hcl_string(str(k)): _prepare(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_prepare(v) for v in value]
    return value


def jsonencode(value: Any) -> str:
    """A string token that Terraform renders as the JSON of `value` (keys sorted, compact)."""
    return Fn.jsonencode(_prepare(value))
