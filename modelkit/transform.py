"""The one feature transform of training and serving: raw values -> checked typed values -> model inputs.

Training reads CSV rows and serving reads CSV or JSON requests; both go through `FeatureTransform`:
`typed_row` parses and checks the values against the feature definitions (common.features: the types,
ranges and categories the stack published), and `encode` turns typed rows into the float32 matrix the
network takes, with the encodings fitted on the training split and saved beside the model
(`transform.json`). Serving loads that file, so a request is transformed exactly as its training row was.

Encoding, per model input in `model_inputs.features` order: numbers (Integral, Fractional) are
standardised with the training mean and standard deviation; strings are one-hot over the declared
categories, or over the categories seen in training plus one column for any other value when none are
declared.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from common.features import FeatureValidationError, parse_value  # parse_value: also imported from here by modelkit.data
from contract.definitions import Feature, FeatureDefinitions, Value

TRANSFORM_FILE = "transform.json"
SCHEMA = 1
OTHER = "<other>"


class ModelInputs:
    """Parses and checks the model inputs of a row: the same code for a training row and a request."""

    def __init__(self, definitions: FeatureDefinitions):
        self.definitions = definitions
        self.feature_set = definitions.feature_set(definitions.model_inputs.feature_set)
        self.features: list[Feature] = [self.feature_set.feature(name) for name in definitions.model_input_order()]

    def typed_row(self, values: Mapping[str, Any] | Sequence[Any]) -> list[Value]:
        """The model inputs of one row, typed and checked. `values` is keyed by feature name (other
        features of the same set and the label are ignored) or a sequence in model input order. Raises
        FeatureValidationError naming every problem."""
        problems: list[str] = []
        if isinstance(values, Mapping):
            known = set(self.feature_set.feature_names) | {self.definitions.model_inputs.label}
            problems += [f"{name}: not a feature of set {self.feature_set.name!r}" for name in values if name not in known]
            raw = [values.get(f.name) for f in self.features]
        elif isinstance(values, Sequence) and not isinstance(values, (str, bytes)):
            if len(values) != len(self.features):
                raise FeatureValidationError(
                    self.feature_set.name,
                    [f"expected {len(self.features)} values in the order {[f.name for f in self.features]}, got {len(values)}"],
                )
            raw = list(values)
        else:
            raise FeatureValidationError(
                self.feature_set.name, [f"expected an object or a list of values, got {type(values).__name__}"]
            )
        typed: list[Value] = []
        for feature, cell in zip(self.features, raw):
            value, problem = parse_value(feature, cell)
            if problem:
                problems.append(f"{feature.name}: {problem}")
            typed.append(value)  # type: ignore[arg-type]
        if problems:
            raise FeatureValidationError(self.feature_set.name, problems)
        return typed


class FeatureTransform(ModelInputs):
    """Model inputs of the definitions' `model_inputs`, with encodings fitted on training rows."""

    def __init__(self, definitions: FeatureDefinitions, encodings: Mapping[str, Mapping[str, Any]]):
        super().__init__(definitions)
        missing = [f.name for f in self.features if f.name not in encodings]
        if missing:
            raise ValueError(f"encodings have no entry for model input(s) {missing}")
        self.encodings = {f.name: dict(encodings[f.name]) for f in self.features}

    # ---- encoding ----

    @classmethod
    def fit(cls, definitions: FeatureDefinitions, rows: Sequence[Sequence[Value]]) -> FeatureTransform:
        """Encodings from typed training rows (numbers: mean and standard deviation; strings: categories)."""
        if not rows:
            raise ValueError("cannot fit the feature transform on no rows")
        feature_set = definitions.feature_set(definitions.model_inputs.feature_set)
        encodings: dict[str, dict[str, Any]] = {}
        for index, name in enumerate(definitions.model_input_order()):
            feature = feature_set.feature(name)
            column = [row[index] for row in rows]
            if feature.type == "String":
                if feature.categories is not None:
                    encodings[name] = {"kind": "one_hot", "categories": list(feature.categories)}
                else:
                    encodings[name] = {"kind": "one_hot", "categories": sorted(set(map(str, column))) + [OTHER]}
            else:
                values = np.asarray(column, dtype=np.float64)
                std = float(values.std())
                encodings[name] = {
                    "kind": "standard",
                    "mean": float(values.mean()),
                    "std": std if std > 0 and math.isfinite(std) else 1.0,
                }
        return cls(definitions, encodings)

    @property
    def columns(self) -> list[str]:
        """Names of the encoded columns, in order."""
        names: list[str] = []
        for feature in self.features:
            encoding = self.encodings[feature.name]
            if encoding["kind"] == "one_hot":
                names += [f"{feature.name}={c}" for c in encoding["categories"]]
            else:
                names.append(feature.name)
        return names

    def encode(self, rows: Sequence[Sequence[Value]]) -> np.ndarray:
        """Typed rows (from `typed_row`) -> float32 matrix of shape (rows, len(columns))."""
        blocks = []
        for index, feature in enumerate(self.features):
            encoding = self.encodings[feature.name]
            column = [row[index] for row in rows]
            if encoding["kind"] == "one_hot":
                categories = encoding["categories"]
                position = {c: i for i, c in enumerate(categories)}
                other = position.get(OTHER)
                block = np.zeros((len(rows), len(categories)), dtype=np.float64)
                for row_index, value in enumerate(column):
                    slot = position.get(str(value), other)
                    if slot is None:
                        raise FeatureValidationError(
                            self.feature_set.name, [f"{feature.name}: {value!r} was not a category at training"]
                        )
                    block[row_index, slot] = 1.0
            else:
                block = ((np.asarray(column, dtype=np.float64) - encoding["mean"]) / encoding["std"]).reshape(-1, 1)
            blocks.append(block)
        if not rows:
            return np.zeros((0, len(self.columns)), dtype=np.float32)
        return np.concatenate(blocks, axis=1).astype(np.float32)

    # ---- saved beside the model ----

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "definitions": dict(self.definitions.document),
            "encodings": self.encodings,
            "columns": self.columns,
        }

    def save(self, directory: Path) -> Path:
        path = Path(directory) / TRANSFORM_FILE
        path.write_text(json.dumps(self.to_dict(), sort_keys=True, indent=1), encoding="utf-8")
        return path

    @classmethod
    def load(cls, directory: Path) -> FeatureTransform:
        path = Path(directory) / TRANSFORM_FILE
        document = json.loads(path.read_text(encoding="utf-8"))
        if document.get("schema") != SCHEMA:
            raise ValueError(f"{path}: unsupported transform schema {document.get('schema')!r}")
        definitions = FeatureDefinitions.from_dict(document["definitions"], verify_version=True)
        return cls(definitions, document["encodings"])
