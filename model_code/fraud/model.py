"""The fraud team's network: a small MLP scoring how likely a transaction is fraud (one logit)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch


def build_network(input_width: int, args: Mapping[str, Any]) -> torch.nn.Module:
    hidden = int(args["hidden"])
    return torch.nn.Sequential(
        torch.nn.Linear(input_width, hidden),
        torch.nn.ReLU(),
        torch.nn.Linear(hidden, hidden // 2),
        torch.nn.ReLU(),
        torch.nn.Linear(hidden // 2, 1),
    )


def network_args(hyperparameters) -> dict[str, Any]:
    return {"hidden": hyperparameters.integer("hidden", 32, minimum=2)}
