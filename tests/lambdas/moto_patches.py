"""The emulator's moto patches for the loop's handlers, applied per test through pytest's monkeypatch
(undone after each test). The patches themselves live in emulator/patches_loop.py."""

from __future__ import annotations

from typing import Any

import pytest

from emulator import patches_loop


def _setter(monkeypatch: pytest.MonkeyPatch):
    return lambda target, name, value: monkeypatch.setattr(target, name, value, raising=False)


def sagemaker_update_endpoint(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    patches_loop.update_endpoint_requests.clear()
    return patches_loop.sagemaker_update_endpoint(_setter(monkeypatch))


def sagemaker_update_model_package_partial(monkeypatch: pytest.MonkeyPatch) -> None:
    patches_loop.sagemaker_update_model_package_partial(_setter(monkeypatch))


def sagemaker_stop_training_job(monkeypatch: pytest.MonkeyPatch) -> None:
    patches_loop.sagemaker_stop_training_job(_setter(monkeypatch))
