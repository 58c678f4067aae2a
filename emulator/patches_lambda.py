"""Narrow moto patches for the lambda resources; see emulator/patches.py for the rules every patch follows."""
from __future__ import annotations

from collections.abc import Callable

PATCHES: list[Callable[[], None]] = []
