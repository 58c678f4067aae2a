"""Synthetic data for the demo and the loop tests, generated from the team's feature definitions.

Training rows and live requests come from the same definitions (the platform's one source of feature
truth). `drifted=True` moves every numeric feature's distribution up by 40% of its declared range and
turns categorical proportions around: the shape of a real data drift the checks must catch. Requests
are CSV rows in model input order, sent to the endpoint through InvokeEndpoint (emulator/loop.py):
the model answers and SageMaker's data capture records them. The team's labels for them (`label_lines`)
follow the relation of the world `before` or `after` a change, or `later` (a concept drift: the same
inputs, another relation) (`_score`).
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


def _normalised(row: dict[str, Any], spec: dict[str, Any] | None) -> float | None:
    if spec is None:
        return None
    low, high = spec.get("range") or (0.0, 1.0)
    return (float(row[spec["name"]]) - low) / (high - low)


WORLDS = ("before", "after", "later")


def _score(row: dict[str, Any], specs: list[dict[str, Any]], world: str = "before") -> float:
    """The 'true' probability behind the labels: in the world `before` the change, a smooth function of
    the first numeric input; `after` it, of the last one, the other way round (what was safe is not: the
    relation the first model learnt no longer ranks the requests). `later` is a concept drift within the
    changed world: the inputs keep the drifted distribution, the label follows the first numeric input
    again, centred on the drifted inputs (so both classes occur); the `after` model ranks it no better
    than chance (AUC ~0.5). Both changed relations are sharper than `before` (slope 24, not 16): a model
    learnt from 400 labels then scores ~0.9 on a holdout of ~80 rows, clear of the 0.75 quality threshold
    whatever the split (at 16 the best possible AUC is ~0.86 and a retrained model fell under 0.75 in one
    loop-test run)."""
    if world not in WORLDS:
        raise ValueError(f"world {world!r} is not one of {WORLDS}")
    numeric = [s for s in specs if s["type"] != "String"]
    if not numeric:
        return 0.5
    if world == "after":
        return 1 / (1 + math.exp(-24 * (0.65 - _normalised(row, numeric[-1]))))
    if world == "later":
        return 1 / (1 + math.exp(-24 * (_normalised(row, numeric[0]) - 0.7)))
    return 1 / (1 + math.exp(-16 * (_normalised(row, numeric[0]) - 0.35)))


def label_lines(
    definitions: dict[str, Any], sent: list[dict[str, Any]], world: str, seed: int = 13, problem_type: str = "binary"
) -> bytes:
    """The team's ground truth for requests it sent (emulator/loop.send_traffic's answer), as it uploads
    it (`{"inference_id": ..., "label": ...}` per line), drawn from the relation of `world` (WORLDS)."""
    rng = random.Random(seed)
    specs = model_feature_specs(definitions)
    lines = []
    for request in sent:
        score = _score(request["row"], specs, world)
        label: float = (
            round(min(5.0, max(1.0, 1 + 4 * score + rng.gauss(0, 0.3))), 3)
            if problem_type == "regression"
            else 1
            if rng.random() < score
            else 0
        )
        lines.append(json.dumps({"inference_id": request["inference_id"], "label": label}))
    return ("\n".join(lines) + "\n").encode()


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


def live_requests(definitions: dict[str, Any], requests: int, drifted: bool, seed: int = 11) -> list[dict[str, Any]]:
    """[{body (CSV, model input order), row, score (the 'true' probability behind a label)}]."""
    rng = random.Random(seed + (1 if drifted else 0))
    specs = model_feature_specs(definitions)
    sent = []
    for _ in range(requests):
        row = {s["name"]: _value(s, rng, drifted) for s in specs}
        sent.append({"body": ",".join(str(row[s["name"]]) for s in specs), "row": row, "score": round(_score(row, specs), 4)})
    return sent


def ground_truth_key(endpoint: str, when: dt.datetime) -> str:
    return f"ground-truth/{endpoint}/{when:%Y/%m/%d/%H}/labels-{uuid.uuid4().hex[:8]}.jsonl"
