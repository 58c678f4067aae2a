"""Run a deployed handler's code in this process with the deployed function's own configuration.

Used where nothing executes the Lambda for us (the emulator runs no code) and by the CLI, which needs
the same environment the functions have (bucket names, table, parameters). The environment comes from
the deployed function (GetFunctionConfiguration), never from a second copy of the stack's logic.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import boto3

from common import aws as common_aws
from contract.names import TeamContext
from modules.functions.packaging import build_package, code_sha256


def deployed_environment(ctx: TeamContext, handler: str) -> dict[str, str]:
    configuration = boto3.client("lambda").get_function_configuration(FunctionName=ctx.function_name(handler))
    return dict(configuration.get("Environment", {}).get("Variables", {}))


def deployed_code_matches(ctx: TeamContext, handler: str) -> bool:
    """Whether the deployed package is exactly the local source's deterministic package."""
    deployed = boto3.client("lambda").get_function_configuration(FunctionName=ctx.function_name(handler))["CodeSha256"]
    return deployed == code_sha256(build_package(handler))


@contextmanager
def function_environment(variables: dict[str, str]) -> Iterator[None]:
    """Set the function's variables for the duration (and fresh boto3 clients that see them)."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    common_aws.reset_clients()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        common_aws.reset_clients()


def load_handler(handler: str) -> ModuleType:
    """The handler module of lambdas/<handler>/handler.py, by its package path."""
    return importlib.import_module(f"lambdas.{handler}.handler")


def invoke(ctx: TeamContext, handler: str, event: dict[str, Any]) -> Any:
    """Invoke a deployed handler's code in-process, as Lambda would, with its deployed environment."""
    with function_environment(deployed_environment(ctx, handler)):
        return load_handler(handler).handler(event, None)
