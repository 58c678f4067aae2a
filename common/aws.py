"""boto3 clients for the handlers: standard retry mode, endpoint from the environment.

boto3 already honours AWS_ENDPOINT_URL (set by the emulator harness and by LocalStack users), so the
only thing added here is botocore's standard retry mode, which retries throttling and transient
errors with back-off instead of the legacy mode's fixed schedule. MLP_MAX_ATTEMPTS is the one variable
read here: not the function's configuration (the stack never sets it) but the process's retry budget,
which the CLI's tests lower.

`session_scope` runs handler code in this process under other credentials (the emulator's check that a
handler's calls are allowed by its deployed role) without touching the process environment.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from contract.recipes import Recipe

R = TypeVar("R", bound=Recipe)

RETRY_CONFIG = Config(retries={"mode": "standard", "max_attempts": int(os.environ.get("MLP_MAX_ATTEMPTS", "5"))})


# The session of the innermost session_scope and its clients; None: boto3's default session.
_SCOPE: ContextVar[tuple[boto3.Session, dict[str, Any]] | None] = ContextVar("mlp_aws_session", default=None)


def client(service: str) -> Any:
    """One cached client per service for the life of the Lambda container (or of the session_scope)."""
    scope = _SCOPE.get()
    if scope is None:
        return _default_client(service)
    session, clients = scope
    if service not in clients:
        clients[service] = session.client(service, config=RETRY_CONFIG)
    return clients[service]


@functools.cache
def _default_client(service: str) -> Any:
    return boto3.client(service, config=RETRY_CONFIG)


@contextmanager
def session_scope(session: boto3.Session) -> Iterator[None]:
    """Within the block, `client()` answers clients of `session` (created on first use, dropped after)."""
    token = _SCOPE.set((session, {}))
    try:
        yield
    finally:
        _SCOPE.reset(token)


def reset_clients() -> None:
    """Forget cached clients (tests switch endpoints and credentials between cases)."""
    _default_client.cache_clear()


class ParameterError(ValueError):
    """An SSM parameter the platform reads (recipe, pointer, code bundle) is missing or not a JSON object."""


def json_parameter(name: str, *, ssm: Any = None) -> dict[str, Any]:
    """The JSON object an SSM parameter holds (docs/CONTRACTS.md: the recipes the stack writes); a missing
    parameter or a value that is not a JSON object is a ParameterError naming the parameter."""
    document = _json_parameter(name, True, ssm)
    assert document is not None
    return document


def recipe_parameter(name: str, kind: type[R], *, ssm: Any = None) -> R:
    """The recipe (contract.recipes: TrainingRecipe, ServingRecipe) an SSM parameter holds, every field
    checked: a malformed one is a RecipeError naming the parameter and each bad field's path."""
    return kind.parse(json_parameter(name, ssm=ssm), source=f"SSM parameter {name}")


def optional_json_parameter(name: str, *, ssm: Any = None) -> dict[str, Any] | None:
    """Like json_parameter, but None while the parameter was never written (the deployed-model pointer,
    the code pointer); a value that is not a JSON object is still an error, never read as "none yet"."""
    return _json_parameter(name, False, ssm)


def _json_parameter(name: str, required: bool, ssm: Any) -> dict[str, Any] | None:
    ssm = ssm or client("ssm")
    try:
        value = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ParameterNotFound":
            raise
        if required:
            raise ParameterError(
                f"SSM parameter {name} does not exist (the stack or `main.py publish-code` writes it)"
            ) from error
        return None
    try:
        document = json.loads(value)
    except ValueError as error:
        raise ParameterError(f"SSM parameter {name} is not JSON: {error}") from error
    if not isinstance(document, dict):
        raise ParameterError(f"SSM parameter {name} holds {type(document).__name__}, not a JSON object")
    return document


def not_found(error: ClientError) -> bool:
    """Whether a SageMaker Describe* error means "no such resource" (it answers ValidationException
    "Could not find ..." / "... not found" rather than a not-found code)."""
    code = error.response.get("Error", {}).get("Code")
    message = str(error).lower()
    return code in ("ResourceNotFound", "ResourceNotFoundException") or (
        code == "ValidationException" and ("not find" in message or "not found" in message)
    )


def describe_or_none(describe: Callable[..., Any], **kwargs: Any) -> Any | None:
    """The Describe* answer, or None when the resource does not exist."""
    try:
        return describe(**kwargs)
    except ClientError as error:
        if not_found(error):
            return None
        raise
