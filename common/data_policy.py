"""Which object versions a retrain pins: the training recipe's `data_policy` applied to the curated bucket.

The training data prefix holds the team's base data (any object outside `labelled/`) and the curated
label windows (common.curation). The policy (docs/CONTRACTS.md, "Recipes"; config
`retraining.training_data`):

- `include_base`: pin the base data too;
- `labelled_windows`: `all` windows within `recency_hours`, or `since_last_run`: only the window versions
  the last run's manifest (the live model's) did not pin, i.e. labels that arrived since;
- `recency_hours`: windows older than this are left out (and curation looks back this far);
- `max_rows`: a cap; objects are taken newest first (windows by hour, then the base data in key order),
  whole, skipping any that would pass the cap.

Every object left out is reported with why. Decided from S3 (current versions, the stored manifest of
the last run), never from an event.
"""

from __future__ import annotations

import codecs
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from common import aws
from common.curation import ROWS_METADATA, labelled_prefix, window_hour
from common.manifest import iter_manifest_objects, list_current_objects
from contract.recipes import DataPolicy


@dataclass
class Selection:
    objects: list[dict[str, Any]] = field(default_factory=list)  # manifest entries, plus "rows" and "kind"
    left_out: list[dict[str, Any]] = field(default_factory=list)  # {key, version_id, reason}

    @property
    def rows(self) -> int:
        return sum(int(o["rows"]) for o in self.objects)

    def manifest_objects(self) -> list[dict[str, Any]]:
        keep = ("key", "version_id", "etag", "size")
        return sorted(({k: o[k] for k in keep} for o in self.objects), key=lambda o: o["key"])


def _rows_of_window(bucket: str, entry: Mapping[str, Any]) -> int:
    head = aws.client("s3").head_object(Bucket=bucket, Key=entry["key"], VersionId=entry["version_id"])
    try:
        return int(head.get("Metadata", {}).get(ROWS_METADATA, ""))
    except ValueError:
        return _count_rows(bucket, entry)


def _count_rows(bucket: str, entry: Mapping[str, Any]) -> int:
    """Data rows of a CSV object version (lines after the header), streamed."""
    count = -1
    for _, body in iter_manifest_objects({"bucket": bucket, "objects": [entry]}):
        try:
            for line in codecs.getreader("utf-8-sig")(body):
                if line.strip():
                    count += 1
        finally:
            body.close()
    return max(count, 0)


def select(policy: DataPolicy, bucket: str, prefix: str, now: datetime, last_manifest: Mapping[str, Any] | None) -> Selection:
    """The object versions to pin under `prefix` of `bucket` by `policy`."""
    pinned_before = {(o["key"], o["version_id"]) for o in (last_manifest or {}).get("objects", [])}
    windows, base = [], []
    for entry in list_current_objects(bucket, prefix):
        if entry["key"].startswith(labelled_prefix(prefix)):
            hour = window_hour(prefix, entry["key"])
            if hour is not None:
                windows.append((hour, entry))
        elif entry["key"].lower().endswith(".csv"):
            base.append(entry)
    selection = Selection()
    candidates = []
    oldest = now - timedelta(hours=policy.recency_hours)
    for hour, entry in sorted(windows, key=lambda item: item[0], reverse=True):
        if hour + timedelta(hours=1) <= oldest:
            selection.left_out.append({**_ref(entry), "reason": f"older than recency_hours={policy.recency_hours}"})
        elif policy.labelled_windows == "since_last_run" and (entry["key"], entry["version_id"]) in pinned_before:
            selection.left_out.append({**_ref(entry), "reason": "pinned by the last run (labelled_windows=since_last_run)"})
        else:
            candidates.append({**entry, "kind": "labelled", "rows": _rows_of_window(bucket, entry)})
    for entry in base:
        if policy.include_base:
            candidates.append({**entry, "kind": "base", "rows": _count_rows(bucket, entry)})
        else:
            selection.left_out.append({**_ref(entry), "reason": "base data (include_base=false)"})
    for candidate in candidates:
        if policy.max_rows is not None and selection.rows + candidate["rows"] > policy.max_rows:
            selection.left_out.append(
                {**_ref(candidate), "reason": f"{candidate['rows']} rows would pass max_rows={policy.max_rows}"}
            )
            continue
        selection.objects.append(candidate)
    return selection


def _ref(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {"key": entry["key"], "version_id": entry["version_id"]}
