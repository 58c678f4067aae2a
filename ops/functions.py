"""Run a deployed handler's code in this process with the deployed function's own configuration.

Used where nothing executes the Lambda for us (the emulator runs no code) and by the CLI, which needs
the same configuration the functions have (bucket names, table, parameters). The configuration comes
from the deployed function (GetFunctionConfiguration), never from a second copy of the stack's logic,
and is handed to the handler's code as a typed object: every handler module has `handle(event,
environment)` beside `handler(event, context)` (what Lambda calls; it reads the same object from its
process environment), so this process's environment is never touched.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import boto3

from contract.environment import LambdaEnvironment
from contract.names import TeamContext
from modules.functions.packaging import build_package, code_sha256


def deployed_environment(ctx: TeamContext, handler: str) -> dict[str, str]:
    """The deployed function's environment variables, as Lambda gives them to its process."""
    configuration = boto3.client("lambda").get_function_configuration(FunctionName=ctx.function_name(handler))
    return dict(configuration.get("Environment", {}).get("Variables", {}))


def deployed_configuration(ctx: TeamContext, handler: str) -> LambdaEnvironment:
    """The deployed function's environment, read and checked as its handler reads it."""
    return LambdaEnvironment.from_env(deployed_environment(ctx, handler))


def deployed_code_matches(ctx: TeamContext, handler: str) -> bool:
    """Whether the deployed package is exactly the local source's deterministic package."""
    deployed = boto3.client("lambda").get_function_configuration(FunctionName=ctx.function_name(handler))["CodeSha256"]
    return deployed == code_sha256(build_package(handler))


def load_handler(handler: str) -> ModuleType:
    """The handler module of lambdas/<handler>/handler.py, by its package path."""
    return importlib.import_module(f"lambdas.{handler}.handler")


def invoke(ctx: TeamContext, handler: str, event: dict[str, Any]) -> Any:
    """Invoke a deployed handler's code in-process, as Lambda would, with its deployed configuration."""
    return load_handler(handler).handle(event, deployed_configuration(ctx, handler))
