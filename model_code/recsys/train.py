"""Recsys team training entry point (SageMaker script mode): regression of the rating, judged by RMSE.

Hyperparameters: epochs (10), learning_rate (0.01), batch_size (128), hidden (64), dropout (0.1),
holdout_fraction (0.2), seed (0); the platform adds mlp_manifest_uri / mlp_manifest_sha256.
"""

from __future__ import annotations

from model import build_network, network_args

from modelkit.container import run_entry_point
from modelkit.training import TrainingSpec, train

SPEC = TrainingSpec(problem_type="regression", metric="RMSE", build_network=build_network, network_args=network_args)

if __name__ == "__main__":
    run_entry_point(lambda paths: train(SPEC, paths))
