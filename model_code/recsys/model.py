"""The recsys team's network: an MLP with dropout predicting a session's rating (one value)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch


def build_network(input_width: int, args: Mapping[str, Any]) -> torch.nn.Module:
    hidden, dropout = int(args["hidden"]), float(args["dropout"])
    return torch.nn.Sequential(
        torch.nn.Linear(input_width, hidden),
        torch.nn.ReLU(),
        torch.nn.Dropout(dropout),
        torch.nn.Linear(hidden, hidden),
        torch.nn.ReLU(),
        torch.nn.Linear(hidden, 1),
    )


def network_args(hyperparameters) -> dict[str, Any]:
    return {
        "hidden": hyperparameters.integer("hidden", 64, minimum=1),
        "dropout": hyperparameters.number("dropout", 0.1, at_least=0.0, below=1.0),
    }
