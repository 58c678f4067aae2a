"""A run's training data, from fresh labels to a pinned, gated manifest: curate -> select -> pin -> gate.

Used by the retrain handler and by `main.py train`, so both pin data the same way:

1. curation (common.curation) turns the labels filed within the policy's `recency_hours` into curated
   window objects (idempotent per window);
2. the data policy (common.data_policy) picks the object versions to pin;
3. the manifest pins exactly those versions (`manifests/<run_id>.json`);
4. the data gate (common.data_gate) checks every pinned row; its report, with the selection and what
   curation saw, is stored beside the manifest (`manifests/<run_id>.data-report.json`).

A team without feature definitions (no `features:` block) has nothing to curate or check against: its
manifest pins the policy's selection and the report says the gate was skipped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from common import aws, capture, curation, data_gate
from common.data_policy import select
from common.manifest import MANIFEST_PREFIX, StoredManifest, put_json, store_manifest
from contract.definitions import FeatureDefinitions
from contract.environment import LambdaEnvironment
from contract.recipes import TrainingRecipe

REPORT_SUFFIX = ".data-report.json"


@dataclass
class Prepared:
    manifest: StoredManifest | None  # None when the policy selected nothing
    report: dict[str, Any]
    report_uri: str

    @property
    def passed(self) -> bool:
        return bool(self.report["passed"])


def report_key(run_id: str) -> str:
    return f"{MANIFEST_PREFIX}{run_id}{REPORT_SUFFIX}"


def load_definitions(artifact_bucket: str, key: str) -> FeatureDefinitions | None:
    try:
        return FeatureDefinitions.load(aws.client("s3"), artifact_bucket, key)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
            return None
        raise


def prepare_for(
    environment: LambdaEnvironment,
    run_id: str,
    recipe: TrainingRecipe,
    now: dt.datetime,
    last_manifest: Mapping[str, Any] | None,
) -> Prepared:
    """`prepare` with the retrain function's configuration (the retrain handler and `main.py train`)."""
    return prepare(
        run_id,
        recipe,
        now,
        artifact_bucket=environment.artifact_bucket,
        kms_key_arn=environment.kms_key_arn,
        endpoint=environment.endpoint_name,
        problem_type=environment.problem_type,
        definitions_key=environment.feature_definitions_key,
        last_manifest=last_manifest,
    )


def prepare(
    run_id: str,
    recipe: TrainingRecipe,
    now: dt.datetime,
    *,
    artifact_bucket: str,
    kms_key_arn: str,
    endpoint: str,
    problem_type: str,
    definitions_key: str,
    last_manifest: Mapping[str, Any] | None,
) -> Prepared:
    """Curate, select, pin and gate the data of run `run_id` (see the module docstring)."""
    bucket, prefix = recipe.training_data.bucket, recipe.training_data.prefix
    policy, gate = recipe.data_policy, recipe.data_gate
    definitions = load_definitions(artifact_bucket, definitions_key)

    windows: list[curation.WindowResult] = []
    if definitions is not None:
        span = capture.Window(now - dt.timedelta(hours=policy.recency_hours), now)
        windows = curation.curate(
            definitions,
            artifact_bucket=artifact_bucket,
            endpoint=endpoint,
            curated_bucket=bucket,
            training_prefix=prefix,
            span=span,
            label_delay_hours=policy.label_delay_hours,
            min_labels=policy.min_labels,
            problem_type=problem_type,
            kms_key_arn=kms_key_arn,
        )
    selection = select(policy, bucket, prefix, now, last_manifest)
    context = {
        "run_id": run_id,
        "policy": policy.to_document(),
        "gate_policy": gate.to_document(),
        "curated_windows": [
            {"hour": w.hour, "key": w.key, "status": w.status, "version_id": w.version_id, **w.counts.as_dict()} for w in windows
        ],
        "selection": {
            "rows": selection.rows,
            "objects": [{k: o[k] for k in ("key", "version_id", "kind", "rows")} for o in selection.objects],
            "left_out": selection.left_out,
        },
    }
    stored = None
    if not selection.objects:
        report = {"schema": 1, "passed": False, "reasons": ["the data policy selected no object to train on"], "checks": []}
    else:
        stored = store_manifest(run_id, bucket, prefix, selection.manifest_objects(), artifact_bucket, kms_key_arn, now)
        context.update(manifest_uri=stored.uri, manifest_sha256=stored.sha256)
        if definitions is None:
            report = {
                "schema": 1,
                "passed": True,
                "reasons": [],
                "checks": [],
                "skipped": "the team declares no features: no definitions to check rows against",
            }
        else:
            report = data_gate.check(definitions, stored.manifest, problem_type, gate, curation.labelled_prefix(prefix))
    report = {**report, **context}
    uri, _ = put_json(artifact_bucket, report_key(run_id), report, kms_key_arn)
    return Prepared(stored, report, uri)
