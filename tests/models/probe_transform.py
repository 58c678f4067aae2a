"""Run in the model-code venv, with a finished job's code directory on PYTHONPATH: the model inputs of
the same rows by the training path and by the serving path, as hex of the float32 bytes.

argv: job root (its input/ and model/ as the training job left them), number of rows.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import inference  # the bundle's inference entry point

from modelkit.container import ContainerPaths, Hyperparameters
from modelkit.data import binary_label, load_definitions, read_dataset
from modelkit.transform import FeatureTransform

root, count = Path(sys.argv[1]), int(sys.argv[2])
paths = ContainerPaths.from_environ({"SM_INPUT_DIR": str(root / "input"), "SM_MODEL_DIR": str(root / "model")})
hyperparameters = Hyperparameters.load(paths)
definitions = load_definitions(paths)

# Training: the trainer's reader and the transform it saved.
dataset = read_dataset(paths, hyperparameters, definitions, binary_label)
saved = FeatureTransform.load(paths.model_dir)
train_index, _ = dataset.split(hyperparameters.number("holdout_fraction", 0.2))
refit = FeatureTransform.fit(definitions, [dataset.rows[i] for i in train_index])
training_inputs = saved.encode(dataset.rows[:count])

# Serving: the same rows as a client sends them, through the inference entry point.
order = definitions.model_input_order()
with (paths.channel("train") / "train.csv").open(newline="") as stream:
    raw = [row for _, row in zip(range(count), csv.DictReader(stream))]
types = {f.name: f.type for f in definitions.feature_set(definitions.model_inputs.feature_set).features}
typed = [
    {n: (int(r[n]) if types[n] == "Integral" else float(r[n]) if types[n] == "Fractional" else r[n]) for n in order} for r in raw
]
model = inference.model_fn(str(paths.model_dir))
requests = {
    "csv": ("".join(",".join(r[n] for n in order) + "\r\n" for r in raw), "text/csv; charset=utf-8"),
    "json_objects": (json.dumps({"instances": typed}), "application/json"),
    "json_lists": (json.dumps({"instances": [[t[n] for n in order] for t in typed]}), "application/json"),
    "json_full_rows": (json.dumps({"instances": raw}), "application/json"),  # all columns, values as strings
}
served = {name: inference.input_fn(body.encode(), content_type) for name, (body, content_type) in requests.items()}
single = [inference.input_fn(json.dumps(t).encode(), "application/json") for t in typed]

print(
    json.dumps(
        {
            "shape": list(training_inputs.shape),
            "columns": saved.columns,
            "refit_equals_saved": refit.to_dict() == saved.to_dict(),
            "training": training_inputs.tobytes().hex(),
            "served": {name: array.tobytes().hex() for name, array in served.items()},
            "single_objects": b"".join(a.tobytes() for a in single).hex(),
        }
    )
)
