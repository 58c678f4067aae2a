"""The data gate before a GPU job: every pinned row checked against the feature definitions.

Each row of the manifest's CSV objects (read by VersionId) is checked the way the training code will
read it (common.features.parse_value: types, declared ranges and categories, missing values), plus the
record identifier and the label (present; 0/1 for a binary problem, a finite number for regression). The
curated windows' own counts (their `mlp-report` metadata, common.curation) add the requests curation
refused and the label problems. The gate's limits come from the training recipe's `data_gate`:

- `min_rows`: at least this many rows (and both classes for a binary problem);
- `max_invalid_rate`: share of refused rows (pinned rows the definitions refuse, plus captured requests
  curation refused) over all of them; pinned rows the training code would refuse fail the gate anyway
  (the job would fail on them after paying for the GPU);
- `max_missing_rate`: per model input, share of missing values;
- `max_label_problem_rate`: share of the pinned windows' labels that were malformed, conflicting or
  matched no captured request.

The report (`manifests/<run_id>.data-report.json`, beside the manifest) lists every check with its
value, its limit and whether it passed.
"""

from __future__ import annotations

import codecs
import csv
import json
import math
from collections.abc import Mapping
from typing import Any

from common import aws
from common.curation import REPORT_METADATA
from common.features import parse_value
from common.manifest import iter_manifest_objects
from contract.definitions import FeatureDefinitions
from contract.recipes import DataGate

MAX_EXAMPLES = 10


def parse_label(text: str | None, problem_type: str) -> tuple[float | None, str | None]:
    """(label, None) or (None, problem): what the training code accepts as a label."""
    if text is None or text.strip() == "":
        return None, "label missing"
    if problem_type == "binary":
        return (float(text), None) if text.strip() in ("0", "1") else (None, f"label {text!r} is not 0 or 1")
    try:
        value = float(text)
    except ValueError:
        return None, f"label {text!r} is not a number"
    return (value, None) if math.isfinite(value) else (None, f"label {text!r} is not finite")


def _window_counts(bucket: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    head = aws.client("s3").head_object(Bucket=bucket, Key=entry["key"], VersionId=entry["version_id"])
    try:
        return json.loads(head.get("Metadata", {}).get(REPORT_METADATA, "{}"))
    except ValueError:
        return {}


def check(
    definitions: FeatureDefinitions, manifest: Mapping[str, Any], problem_type: str, policy: DataGate, labelled_prefix: str
) -> dict[str, Any]:
    """The gate's report over the manifest's rows; `passed` says whether a job may start."""
    feature_set = definitions.feature_set(definitions.model_inputs.feature_set)
    identifier = feature_set.feature(feature_set.record_identifier)
    inputs = [feature_set.feature(name) for name in definitions.model_input_order()]
    label = definitions.model_inputs.label
    rows = invalid = 0
    missing = {f.name: 0 for f in inputs}
    classes: dict[str, int] = {}
    examples: list[str] = []
    csv_objects = [o for o in manifest["objects"] if o["key"].lower().endswith(".csv")]
    for entry, body in iter_manifest_objects({**manifest, "objects": csv_objects}):
        try:
            reader = csv.DictReader(codecs.getreader("utf-8-sig")(body))
            for row in reader:
                rows += 1
                problems = []
                for feature in (identifier, *inputs):
                    _, problem = parse_value(feature, row.get(feature.name))
                    if problem:
                        problems.append(f"{feature.name}: {problem}")
                        if problem == "missing value" and feature.name in missing:
                            missing[feature.name] += 1
                value, problem = parse_label(row.get(label), problem_type)
                if problem:
                    problems.append(f"{label}: {problem}")
                elif problem_type == "binary":
                    classes[f"{value:g}"] = classes.get(f"{value:g}", 0) + 1
                if problems:
                    invalid += 1
                    if len(examples) < MAX_EXAMPLES:
                        examples.append(f"{entry['key']} line {reader.line_num}: " + "; ".join(problems))
        finally:
            body.close()

    curation = {
        "labels": 0,
        "unmatched": 0,
        "malformed": 0,
        "conflicting": 0,
        "duplicate": 0,
        "invalid_inputs": 0,
        "multi_instance": 0,
    }
    curation_missing = {f.name: 0 for f in inputs}
    for entry in csv_objects:
        if not entry["key"].startswith(labelled_prefix):
            continue
        counts = _window_counts(manifest["bucket"], entry)
        for name in curation:
            curation[name] += int(counts.get(name, 0) or 0)
        for name, count in (counts.get("missing") or {}).items():
            if name in curation_missing:
                curation_missing[name] += int(count)

    refused_requests = curation["invalid_inputs"] + curation["multi_instance"]
    considered = rows + refused_requests
    checks = [
        _check("rows", rows, policy.min_rows, rows >= policy.min_rows, "at least"),
        _check("rows the training code refuses", invalid, 0, invalid == 0, "at most"),
        _check(
            "invalid rate",
            _rate(invalid + refused_requests, considered),
            policy.max_invalid_rate,
            _rate(invalid + refused_requests, considered) <= policy.max_invalid_rate,
            "at most",
        ),
    ]
    for feature in inputs:
        rate = _rate(missing[feature.name] + curation_missing[feature.name], considered)
        checks.append(
            _check(f"missing rate {feature.name}", rate, policy.max_missing_rate, rate <= policy.max_missing_rate, "at most")
        )
    label_problems = curation["unmatched"] + curation["malformed"] + curation["conflicting"]
    rate = _rate(label_problems, curation["labels"])
    checks.append(
        _check("label problem rate", rate, policy.max_label_problem_rate, rate <= policy.max_label_problem_rate, "at most")
    )
    if problem_type == "binary":
        checks.append(_check("label classes", len(classes), 2, len(classes) >= 2, "at least"))
    failed = [c for c in checks if not c["passed"]]
    return {
        "schema": 1,
        "passed": not failed,
        "reasons": [f"{c['check']} {c['value']:g} ({c['bound']} {c['limit']:g} allowed)" for c in failed],
        "checks": checks,
        "rows": rows,
        "invalid_rows": invalid,
        "invalid_examples": examples,
        "missing": missing,
        "classes": classes,
        "curation": {**curation, "missing": curation_missing},
        "definitions_version": definitions.version,
    }


def _rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _check(name: str, value: float, limit: float, passed: bool, bound: str) -> dict[str, Any]:
    return {"check": name, "value": round(float(value), 6), "limit": limit, "bound": bound, "passed": bool(passed)}
