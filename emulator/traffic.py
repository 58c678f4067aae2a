"""Synthetic data for the demo and the loop tests, generated from the team's feature definitions.

Training rows and live requests come from the same definitions (the platform's one source of feature
truth). `drifted=True` moves every numeric feature's distribution up by 40% of its declared range and
turns categorical proportions around: the shape of a real data drift the checks must catch. Requests
are written as SageMaker data-capture JSON Lines, where and how SageMaker writes them.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import random
import uuid
from typing import Any

from contract.definitions import model_feature_specs


def _value(spec: dict[str, Any], rng: random.Random, drifted: bool) -> Any:
    if spec["type"] == "String":
        categories = spec.get("categories") or ["a", "b", "c"]
        weights = [len(categories) - i for i in range(len(categories))]
        if drifted:
            weights.reverse()
        return rng.choices(categories, weights=weights)[0]
    low, high = spec.get("range") or (0.0, 1.0)
    width = high - low
    centre = low + (0.7 if drifted else 0.3) * width
    value = min(high, max(low, rng.gauss(centre, 0.12 * width)))
    return int(round(value)) if spec["type"] == "Integral" else round(value, 4)


def _score(row: dict[str, Any], specs: list[dict[str, Any]]) -> float:
    """A smooth function of the first numeric input: the 'true' probability behind the labels."""
    numeric = next((s for s in specs if s["type"] != "String"), None)
    if numeric is None:
        return 0.5
    low, high = numeric.get("range") or (0.0, 1.0)
    x = (float(row[numeric["name"]]) - low) / (high - low)
    return 1 / (1 + math.exp(-(8 * x - 4)))


def training_csv(definitions: dict[str, Any], rows: int, seed: int = 7, problem_type: str = "binary") -> bytes:
    """CSV with the record identifier, the model inputs and the label: a 0/1 label drawn from the score
    for binary problems, a rating of 1 to 5 around it for regression."""
    rng = random.Random(seed)
    specs = model_feature_specs(definitions)
    inputs = definitions["model_inputs"]
    feature_set = next(s for s in definitions["feature_sets"] if s["name"] == inputs["feature_set"])
    identifier = feature_set["record_identifier"]
    numeric_ids = next(f for f in feature_set["features"] if f["name"] == identifier)["type"] != "String"
    label = inputs["label"]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=[identifier] + [s["name"] for s in specs] + [label], lineterminator="\n")
    writer.writeheader()
    for index in range(rows):
        row: dict[str, Any] = {identifier: seed * 10_000_000 + index if numeric_ids else f"{seed}-{index:07d}"}
        row.update({s["name"]: _value(s, rng, drifted=False) for s in specs})
        score = _score(row, specs)
        if problem_type == "regression":
            row[label] = round(min(5.0, max(1.0, 1 + 4 * score + rng.gauss(0, 0.3))), 3)
        else:
            row[label] = 1 if rng.random() < score else 0
        writer.writerow(row)
    return out.getvalue().encode()


def capture_lines(definitions: dict[str, Any], requests: int, drifted: bool, when: dt.datetime, seed: int = 11) -> tuple[bytes, list[dict[str, Any]]]:
    """(JSON Lines of SageMaker data capture, [{event_id, score, row}] for ground truth)."""
    rng = random.Random(seed + (1 if drifted else 0))
    specs = model_feature_specs(definitions)
    lines, sent = [], []
    for index in range(requests):
        row = {s["name"]: _value(s, rng, drifted) for s in specs}
        score = round(_score(row, specs), 4)
        event_id = str(uuid.UUID(int=rng.getrandbits(128)))
        at = when - dt.timedelta(seconds=requests - index)
        lines.append(json.dumps({
            "captureData": {
                "endpointInput": {"observedContentType": "text/csv", "mode": "INPUT",
                                  "data": ",".join(str(row[s["name"]]) for s in specs), "encoding": "CSV"},
                "endpointOutput": {"observedContentType": "text/csv", "mode": "OUTPUT", "data": str(score), "encoding": "CSV"},
            },
            "eventMetadata": {"eventId": event_id, "inferenceTime": at.strftime("%Y-%m-%dT%H:%M:%SZ")},
            "eventVersion": "0",
        }))  # fmt: skip
        sent.append({"event_id": event_id, "score": score, "row": row})
    return ("\n".join(lines) + "\n").encode(), sent


def capture_key(endpoint: str, variant: str, when: dt.datetime) -> str:
    return f"data-capture/{endpoint}/{variant}/{when:%Y/%m/%d/%H}/{when:%M-%S}-{uuid.uuid4().hex[:8]}.jsonl"
