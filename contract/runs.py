"""A training run's inputs as the runs table records them (docs/CONTRACTS.md, "Runs table"): what the
retrain handler and the CLI (`main.py train`, `rebuild`) write, and what register and lineage read.
Standard library only."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RunInputs:
    """Everything a run is pinned to: data (manifest), images (by digest), hyperparameters and code."""

    training_job_name: str
    manifest_uri: str
    manifest_sha256: str
    object_count: int
    image_uri: str  # training image, repo@sha256:...
    inference_image_uri: str  # what the registered model is served with, repo@sha256:...
    hyperparameters: dict[str, str]
    code: dict[str, str]  # {uri, sha256, version_id, git_commit}
    trigger: str

    def to_record(self) -> dict[str, Any]:
        """The run record's attributes (runs.put_run adds pk, run_id, status and timestamps)."""
        return dataclasses.asdict(self)
