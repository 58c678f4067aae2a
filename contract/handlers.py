"""The platform's Lambda handlers: name, timeout, memory and the EventBridge routes that invoke each
(docs/CONTRACTS.md, "Names" and "Events"). The retraining construct deploys exactly these, the emulator
delivers to them and the tests walk them. Standard library only."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HandlerSpec:
    name: str  # folder under lambdas/, and the function name's suffix (`_` -> `-`)
    timeout_seconds: int
    memory_mb: int
    routes: tuple[str, ...]  # EventBridge rule ids (`<prefix>-<route>`) that target it

    @property
    def construct_id(self) -> str:
        """The function construct's id (part of its Terraform address): `drift_check` -> `drift-check`."""
        return self.name.replace("_", "-")


HANDLERS: tuple[HandlerSpec, ...] = (
    HandlerSpec("retrain", 300, 512, ("retrain-on-alarm", "retrain-schedule", "retrain-watch")),
    HandlerSpec("register", 900, 1024, ("training-state",)),
    HandlerSpec("deploy", 300, 256, ("package-approved", "endpoint-state")),
    HandlerSpec("drift_check", 900, 1024, ("drift-schedule",)),
    HandlerSpec("quality_check", 900, 1024, ("quality-schedule",)),
)
HANDLER_NAMES: tuple[str, ...] = tuple(spec.name for spec in HANDLERS)


def handler_spec(name: str) -> HandlerSpec:
    for spec in HANDLERS:
        if spec.name == name:
            return spec
    raise KeyError(f"unknown handler {name!r}; the platform's handlers: {list(HANDLER_NAMES)}")
