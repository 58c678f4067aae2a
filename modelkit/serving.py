"""SageMaker's inference handlers (model_fn, input_fn, predict_fn, output_fn) for a reference model.

The PyTorch framework container's inference toolkit imports the bundle's inference script and calls
these four functions. Requests are parsed by the transform saved with the model (`transform.json`):
the same `typed_row` and `encode` the training rows went through, so a request and its training row
give the model the same inputs.

Accepted requests (docs/CONTRACTS.md, "Feature definitions"): `text/csv`, one row per line with the
values in model input order; `application/json`, an object keyed by feature name, or
`{"instances": [...]}` of such objects or of lists in model input order. Answers: `application/json`
`{"predictions": [...]}` or `text/csv` one value per line.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from common.features import FeatureValidationError
from modelkit.training import MODEL_FILE, MODEL_SPEC_FILE, device, predict
from modelkit.transform import FeatureTransform

CSV, JSON = "text/csv", "application/json"


class RequestError(ValueError):
    """The request cannot be answered; `status` is the HTTP status the endpoint should return."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass
class LoadedModel:
    network: torch.nn.Module
    transform: FeatureTransform
    problem_type: str
    device: torch.device


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def _rows(body: Any, content_type: str | None) -> list[Any]:
    media = _media_type(content_type)
    text = body.decode("utf-8") if isinstance(body, (bytes, bytearray)) else str(body)
    if media == CSV:
        return [cells for cells in csv.reader(io.StringIO(text)) if cells]
    if media == JSON:
        try:
            document = json.loads(text)
        except ValueError as error:
            raise RequestError(f"request body is not JSON: {error}") from None
        if isinstance(document, Mapping) and "instances" in document:
            if not isinstance(document["instances"], list):
                raise RequestError("'instances' must be a list of objects or of lists")
            return document["instances"]
        return [document]
    raise RequestError(f"unsupported content type {content_type!r}: send {CSV} or {JSON}", status=415)


def make_handlers(build_network: Callable[[int, Mapping[str, Any]], torch.nn.Module]) -> dict[str, Callable[..., Any]]:
    """The four inference functions for a network built by `build_network` (the team's model.py).

    The toolkit calls input_fn(body, content_type) without the model; a container serves one model, so
    input_fn reads the transform of the model that model_fn loaded."""
    loaded: dict[str, LoadedModel] = {}

    def model_fn(model_dir: str) -> LoadedModel:
        directory = Path(model_dir)
        spec = json.loads((directory / MODEL_SPEC_FILE).read_text())
        where = device()
        if where.type == "cpu":
            torch.set_num_threads(1)  # one thread per serving worker: the toolkit scales by workers
        network = build_network(int(spec["input_width"]), spec["network_args"])
        network.load_state_dict(torch.load(directory / MODEL_FILE, map_location=where, weights_only=True))
        network.to(where).eval()
        loaded["model"] = LoadedModel(network, FeatureTransform.load(directory), spec["problem_type"], where)
        return loaded["model"]

    def input_fn(body: Any, content_type: str) -> np.ndarray:
        model = loaded.get("model")
        if model is None:
            raise RequestError("no model loaded: model_fn runs before the first request", status=500)
        rows = _rows(body, content_type)
        if not rows:
            raise RequestError("the request holds no rows")
        typed, problems = [], []
        for index, row in enumerate(rows):
            try:
                typed.append(model.transform.typed_row(row))
            except FeatureValidationError as error:
                problems.append(f"row {index + 1}: " + "; ".join(error.problems))
        if problems:
            raise RequestError(" | ".join(problems[:20]))
        return model.transform.encode(typed)

    def predict_fn(inputs: np.ndarray, model: LoadedModel) -> np.ndarray:
        with torch.no_grad():
            tensor = torch.from_numpy(np.asarray(inputs, dtype=np.float32)).to(model.device)
            return predict(model.network, tensor, model.problem_type).cpu().numpy()

    def output_fn(prediction: np.ndarray, accept: str | None) -> tuple[str, str]:
        media = _media_type(accept)
        if media in ("", "*/*"):
            media = _media_type(os.environ.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", JSON))
        values = [round(float(v), 6) for v in np.asarray(prediction).reshape(-1)]
        if media == JSON:
            return json.dumps({"predictions": values}), JSON
        if media == CSV:
            return "".join(f"{v}\n" for v in values), CSV
        raise RequestError(f"unsupported accept type {accept!r}: ask for {CSV} or {JSON}", status=406)

    return {"model_fn": model_fn, "input_fn": input_fn, "predict_fn": predict_fn, "output_fn": output_fn}
