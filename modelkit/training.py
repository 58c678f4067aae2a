"""The training loop every reference model shares: data -> split -> transform -> PyTorch -> model + evaluation.

A team's train.py names its network, its problem type and its quality metric (`TrainingSpec`) and calls
`train`. The loop runs on `cuda` when PyTorch sees a GPU and on the CPU otherwise; it writes a
checkpoint after every epoch and, when the checkpoint directory already holds one (a managed-spot
restart, which syncs the checkpoint S3 prefix back before the script starts), resumes from it. Each
epoch's shuffle is seeded by (seed, epoch), so a resumed run ends with the same weights as one that was
never interrupted. The model directory gets `model.pt` (state dict), `model.json` (what serving needs to
rebuild the network), `transform.json` (definitions + encodings) and `evaluation.json` (the quality
metric on the holdout).
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn import metrics as sk

from common.training import CHAMPION_CHANNEL
from modelkit.container import ContainerPaths, Hyperparameters
from modelkit.data import Dataset, TrainingDataError, binary_label, load_definitions, numeric_label, read_dataset
from modelkit.transform import FeatureTransform

CHECKPOINT_FILE = "checkpoint.pt"
MODEL_FILE = "model.pt"
MODEL_SPEC_FILE = "model.json"
EVALUATION_FILE = "evaluation.json"
# Hyperparameters that do not change what one epoch does: a run may be resumed with another value.
RESUMABLE_HYPERPARAMETERS = ("epochs",)


class CheckpointMismatch(RuntimeError):
    """The checkpoint directory holds a checkpoint of other data or other hyperparameters."""


@dataclass(frozen=True)
class TrainingSpec:
    """What a team decides: the problem, the metric it is judged by, and its network."""

    problem_type: str  # "binary" or "regression"
    metric: str  # the team's quality metric: a key of `evaluate`'s result
    build_network: Callable[[int, Mapping[str, Any]], torch.nn.Module]  # (input width, network args) -> module
    network_args: Callable[[Hyperparameters], dict[str, Any]]  # hyperparameters -> JSON-able args saved with the model


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def evaluate(problem_type: str, labels: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
    """The platform's quality metrics (docs/CONTRACTS.md) on the holdout."""
    if problem_type == "binary":
        decided = (predictions >= 0.5).astype(int)
        return {
            "AUC": float(sk.roc_auc_score(labels, predictions)),
            "Accuracy": float(sk.accuracy_score(labels, decided)),
            "Precision": float(sk.precision_score(labels, decided, zero_division=0)),
            "Recall": float(sk.recall_score(labels, decided, zero_division=0)),
            "F1": float(sk.f1_score(labels, decided, zero_division=0)),
        }
    return {
        "RMSE": float(np.sqrt(sk.mean_squared_error(labels, predictions))),
        "MAE": float(sk.mean_absolute_error(labels, predictions)),
        "R2": float(sk.r2_score(labels, predictions)),
    }


def predict(network: torch.nn.Module, inputs: torch.Tensor, problem_type: str) -> torch.Tensor:
    """The network's answer: a probability for binary problems, the value for regression."""
    output = network(inputs).reshape(-1)
    return torch.sigmoid(output) if problem_type == "binary" else output


def score_champion(
    spec: TrainingSpec, channel: Path, holdout_rows: list[list[Any]], holdout_labels: np.ndarray
) -> dict[str, Any]:
    """The live model (the `champion` channel's model.tar.gz) scored on this run's holdout, through its own
    saved transform and network (what serving runs). A champion that cannot be loaded or cannot read these
    rows is reported with the error, never scored as zero: register then leaves the decision to a reviewer."""
    from modelkit.serving import make_handlers  # (serving imports this module)

    archives = sorted(p for p in channel.rglob("*") if p.is_file())
    try:
        if len(archives) != 1:
            raise ValueError(f"the champion channel must hold one model.tar.gz, found {[p.name for p in archives]}")
        with tempfile.TemporaryDirectory(prefix="champion-") as work:
            with tarfile.open(archives[0], mode="r:gz") as archive:
                archive.extractall(work, filter="data")
            handlers = make_handlers(spec.build_network)
            model = handlers["model_fn"](work)
            if model.problem_type != spec.problem_type:
                raise ValueError(f"the champion is a {model.problem_type} model, this run trains {spec.problem_type}")
            inputs = model.transform.encode([model.transform.typed_row(list(row)) for row in holdout_rows])
            predictions = handlers["predict_fn"](inputs, model)
    except Exception as error:
        return {"error": f"{type(error).__name__}: {error}"[:500]}
    scores = evaluate(spec.problem_type, holdout_labels, np.asarray(predictions))
    return {"metric": spec.metric, "value": scores[spec.metric], "metrics": scores, "holdout_rows": len(holdout_rows)}


def _fingerprint(dataset: Dataset, hyperparameters: Hyperparameters) -> str:
    kept = {k: v for k, v in sorted(hyperparameters.as_dict().items()) if k not in RESUMABLE_HYPERPARAMETERS}
    return hashlib.sha256(json.dumps({"data": dataset.fingerprint, "hyperparameters": kept}, sort_keys=True).encode()).hexdigest()


def _save_atomically(state: dict[str, Any], path: os.PathLike) -> None:
    partial = f"{path}.partial"
    torch.save(state, partial)
    os.replace(partial, path)


def train(spec: TrainingSpec, paths: ContainerPaths) -> dict[str, Any]:
    """Train, checkpointing each epoch; write the model and its evaluation. Returns the evaluation."""
    if spec.problem_type not in ("binary", "regression"):
        raise ValueError(f"problem_type must be binary or regression, not {spec.problem_type!r}")
    started = time.monotonic()
    hyperparameters = Hyperparameters.load(paths)
    epochs = hyperparameters.integer("epochs", 10, minimum=1)
    learning_rate = hyperparameters.number("learning_rate", 0.01, above=0.0)
    batch_size = hyperparameters.integer("batch_size", 128, minimum=1)
    holdout_fraction = hyperparameters.number("holdout_fraction", 0.2, above=0.0, below=1.0)
    seed = hyperparameters.integer("seed", 0)
    args = spec.network_args(hyperparameters)

    definitions = load_definitions(paths)
    dataset = read_dataset(paths, hyperparameters, definitions, binary_label if spec.problem_type == "binary" else numeric_label)
    train_index, holdout_index = dataset.split(holdout_fraction)
    if not train_index or not holdout_index:
        raise TrainingDataError(
            f"{len(dataset.rows)} row(s) split into {len(train_index)} for training and "
            f"{len(holdout_index)} held out: both must be non-empty (holdout_fraction={holdout_fraction})"
        )
    labels = np.asarray(dataset.labels, dtype=np.float32)
    if spec.problem_type == "binary" and len(set(labels[holdout_index].tolist())) < 2:
        raise TrainingDataError(f"the holdout ({len(holdout_index)} rows) has one class only: {spec.metric} is undefined")
    transform = FeatureTransform.fit(definitions, [dataset.rows[i] for i in train_index])
    inputs = transform.encode(dataset.rows)

    where = device()
    torch.manual_seed(seed)
    if where.type == "cpu":
        torch.use_deterministic_algorithms(True)
        # Networks this small gain nothing from intra-op threads; on a busy host extra threads only spin
        # (measured here: 20 epochs of the fraud model took 1.2 s on one thread, 29.5 s on two).
        torch.set_num_threads(hyperparameters.integer("cpu_threads", 1, minimum=1))
    network = spec.build_network(inputs.shape[1], args).to(where)
    optimizer = torch.optim.Adam(network.parameters(), lr=learning_rate)
    loss_fn = torch.nn.BCEWithLogitsLoss() if spec.problem_type == "binary" else torch.nn.MSELoss()
    x_train = torch.from_numpy(inputs[train_index]).to(where)
    y_train = torch.from_numpy(labels[train_index]).to(where)

    fingerprint = _fingerprint(dataset, hyperparameters)
    paths.checkpoint_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_path = paths.checkpoint_dir / CHECKPOINT_FILE
    first_epoch = 0
    if checkpoint_path.is_file():
        state = torch.load(checkpoint_path, map_location=where, weights_only=True)
        if state["fingerprint"] != fingerprint:
            raise CheckpointMismatch(
                f"{checkpoint_path} was written for other data or hyperparameters "
                f"({state['fingerprint'][:12]}, this run {fingerprint[:12]}): use a checkpoint location per run"
            )
        network.load_state_dict(state["network"])
        optimizer.load_state_dict(state["optimizer"])
        first_epoch = int(state["epoch"])
        print(f"resumed from checkpoint after epoch {first_epoch}", flush=True)

    print(
        f"device={where.type} rows={len(dataset.rows)} train={len(train_index)} holdout={len(holdout_index)} "
        f"inputs={inputs.shape[1]} epochs={epochs}",
        flush=True,
    )
    for epoch in range(first_epoch, epochs):
        network.train()
        order = torch.randperm(len(train_index), generator=torch.Generator().manual_seed(seed * 100_003 + epoch)).to(where)
        total = 0.0
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            optimizer.zero_grad()
            loss = loss_fn(network(x_train[batch]).reshape(-1), y_train[batch])
            loss.backward()
            optimizer.step()
            total += float(loss) * len(batch)
        _save_atomically(
            {
                "fingerprint": fingerprint,
                "epoch": epoch + 1,
                "network": network.state_dict(),
                "optimizer": optimizer.state_dict(),
            },
            checkpoint_path,
        )
        print(f"epoch={epoch + 1} train_loss={total / len(order):.6f}", flush=True)

    network.eval()
    with torch.no_grad():
        predictions = predict(network, torch.from_numpy(inputs[holdout_index]).to(where), spec.problem_type).cpu().numpy()
    scores = evaluate(spec.problem_type, labels[holdout_index], predictions)
    evaluation = {
        "problem_type": spec.problem_type,
        "metric": spec.metric,
        "value": scores[spec.metric],
        "metrics": scores,
        "holdout_rows": len(holdout_index),
        "train_rows": len(train_index),
        "holdout_fraction": holdout_fraction,
        "split": f"sha256 of {transform.feature_set.record_identifier}",
        "data_fingerprint": dataset.fingerprint,
        "definitions_version": definitions.version,
        "device": where.type,
        "epochs": epochs,
    }
    if CHAMPION_CHANNEL in paths.channels:
        evaluation["champion"] = score_champion(
            spec, paths.channels[CHAMPION_CHANNEL], [dataset.rows[i] for i in holdout_index], labels[holdout_index]
        )
    paths.model_dir.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.cpu() for k, v in network.state_dict().items()}, paths.model_dir / MODEL_FILE)
    (paths.model_dir / MODEL_SPEC_FILE).write_text(
        json.dumps(
            {"problem_type": spec.problem_type, "input_width": int(inputs.shape[1]), "network_args": args},
            sort_keys=True,
            indent=1,
        )
    )
    transform.save(paths.model_dir)
    (paths.model_dir / EVALUATION_FILE).write_text(json.dumps(evaluation, sort_keys=True, indent=1))
    # SageMaker metric definitions read metrics from the log with a regex: one `name=value` per line.
    for name, value in scores.items():
        print(f"holdout_{name}={value:.6f}", flush=True)
    champion = evaluation.get("champion") or {}
    for name, value in (champion.get("metrics") or {}).items():
        print(f"champion_holdout_{name}={value:.6f}", flush=True)
    print(f"training_seconds={time.monotonic() - started:.3f}", flush=True)
    return evaluation
