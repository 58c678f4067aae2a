"""The runtime library reads its configuration once, at the handler's edge: every handler module has
`handler(event, context)` (what Lambda calls) reading LambdaEnvironment.from_env() and `handle(event,
environment)` (what the CLI and the emulator call); nothing else in common/ or lambdas/ reads the
process environment (common/aws.py's retry budget aside: not the function's configuration)."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from contract.handlers import HANDLER_NAMES
from ops.functions import load_handler

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = {("common/aws.py", "os.environ")}  # MLP_MAX_ATTEMPTS: the process's retry budget


def environment_reads(path: Path) -> list[str]:
    """`os.environ`, `os.getenv` and `from_env()` (no argument: the process environment) in a module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os":
            if node.attr in ("environ", "getenv", "putenv", "unsetenv"):
                found.append(f"os.{node.attr}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "from_env":
            if not node.args and not node.keywords:
                found.append("from_env()")
    return found


def test_nothing_in_the_runtime_library_reads_the_process_environment():
    for path in sorted([*ROOT.glob("common/*.py"), *ROOT.glob("lambdas/*/*.py")]):
        relative = str(path.relative_to(ROOT))
        reads = [r for r in environment_reads(path) if (relative, r) not in ALLOWED]
        if relative.endswith("/handler.py"):
            assert reads == ["from_env()"], f"{relative}: the edge reads the environment once, in handler(): {reads}"
        else:
            assert reads == [], f"{relative} reads the process environment ({reads}): take it as a parameter"


@pytest.mark.parametrize("name", HANDLER_NAMES)
def test_each_handler_has_the_lambda_entry_and_the_configured_one(name):
    module = load_handler(name)
    assert list(inspect.signature(module.handler).parameters) == ["event", "context"]
    assert list(inspect.signature(module.handle).parameters) == ["event", "environment"]
    assert "return handle(event, LambdaEnvironment.from_env())" in inspect.getsource(module.handler)


def test_the_check_sees_a_read():
    assert environment_reads(ROOT / "common" / "aws.py") == ["os.environ"]
    assert environment_reads(ROOT / "lambdas" / "retrain" / "handler.py") == ["from_env()"]
