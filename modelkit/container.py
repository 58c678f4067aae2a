"""SageMaker's training-container contract as seen from inside: paths, hyperparameters, failure file.

SageMaker lays out `/opt/ml` (input/config/hyperparameters.json, input/data/<channel>/, model/,
output/, checkpoints/) and the framework containers export `SM_*` variables naming the same paths.
Every path is read from its variable first, so the same script runs under the emulator's container
runner (a temporary root) and on SageMaker. SageMaker has no variable for the checkpoint directory
(CheckpointConfig.LocalPath, default /opt/ml/checkpoints): the platform's runners set
`MLP_CHECKPOINT_DIR`.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_ROOT = "/opt/ml"
SERVING_CODE_DIR = "code"  # the serving toolkit imports the inference script from /opt/ml/model/code
CHECKPOINT_DIR_VARIABLE = "MLP_CHECKPOINT_DIR"
MAX_FAILURE_REASON = 1024  # SageMaker's FailureReason length limit


class HyperparameterError(ValueError):
    """A hyperparameter is missing or not of the type the script needs."""


@dataclass(frozen=True)
class ContainerPaths:
    """Where this container's inputs and outputs are (SageMaker's layout)."""

    input_config_dir: Path
    channels: Mapping[str, Path]
    model_dir: Path
    output_dir: Path
    output_data_dir: Path
    checkpoint_dir: Path

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> ContainerPaths:
        env = os.environ if environ is None else environ
        root = Path(DEFAULT_ROOT)
        input_dir = Path(env.get("SM_INPUT_DIR", root / "input"))
        data_dir = input_dir / "data"
        names = (
            json.loads(env["SM_CHANNELS"])
            if "SM_CHANNELS" in env
            else (sorted(p.name for p in data_dir.iterdir() if p.is_dir()) if data_dir.is_dir() else [])
        )
        channels = {name: Path(env.get(f"SM_CHANNEL_{name.upper()}", data_dir / name)) for name in names}
        output_dir = Path(env.get("SM_OUTPUT_DIR", root / "output"))
        return cls(
            input_config_dir=Path(env.get("SM_INPUT_CONFIG_DIR", input_dir / "config")),
            channels=channels,
            model_dir=Path(env.get("SM_MODEL_DIR", root / "model")),
            output_dir=output_dir,
            output_data_dir=Path(env.get("SM_OUTPUT_DATA_DIR", output_dir / "data")),
            checkpoint_dir=Path(env.get(CHECKPOINT_DIR_VARIABLE, root / "checkpoints")),
        )

    def channel(self, name: str) -> Path:
        if name not in self.channels:
            raise FileNotFoundError(f"no input channel {name!r}; this job has {sorted(self.channels)}")
        return self.channels[name]


class Hyperparameters:
    """The job's hyperparameters (all strings in CreateTrainingJob; the SageMaker Python SDK JSON-encodes
    each value, so a JSON string value is decoded once)."""

    def __init__(self, values: Mapping[str, Any]):
        self._values = {str(k): _decode(v) for k, v in values.items()}

    @classmethod
    def load(cls, paths: ContainerPaths) -> Hyperparameters:
        path = paths.input_config_dir / "hyperparameters.json"
        if not path.is_file():
            return cls({})
        document = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(document, dict):
            raise HyperparameterError(f"{path}: expected a JSON object of hyperparameters")
        return cls(document)

    def as_dict(self) -> dict[str, str]:
        return dict(self._values)

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._values.get(name, default)

    def integer(self, name: str, default: int, minimum: int | None = None) -> int:
        value = self._parsed(name, default, int, "an integer")
        if minimum is not None and value < minimum:
            raise HyperparameterError(f"hyperparameter {name}: {value} is below the minimum {minimum}")
        return value

    def number(
        self, name: str, default: float, *, above: float | None = None, at_least: float | None = None, below: float | None = None
    ) -> float:
        value = self._parsed(name, default, float, "a number")
        if not math.isfinite(value):
            raise HyperparameterError(f"hyperparameter {name}: {value!r} is not a finite number")
        for bound, ok, word in (
            (above, above is None or value > above, "above"),
            (at_least, at_least is None or value >= at_least, "at least"),
            (below, below is None or value < below, "below"),
        ):
            if not ok:
                raise HyperparameterError(f"hyperparameter {name}: {value!r} must be {word} {bound!r}")
        return value

    def _parsed(self, name: str, default: Any, convert: Callable[[str], Any], kind: str) -> Any:
        text = self._values.get(name)
        if text is None:
            return default
        try:
            return convert(text)
        except ValueError:
            raise HyperparameterError(f"hyperparameter {name}: {text!r} is not {kind}") from None


def _decode(value: Any) -> str:
    if isinstance(value, str) and value.startswith('"') and value.endswith('"') and len(value) >= 2:
        try:
            decoded = json.loads(value)
        except ValueError:
            return value
        return decoded if isinstance(decoded, str) else value
    return value if isinstance(value, str) else json.dumps(value)


def write_failure(paths: ContainerPaths, reason: str) -> None:
    """SageMaker reads /opt/ml/output/failure into the job's FailureReason."""
    paths.output_dir.mkdir(parents=True, exist_ok=True)
    (paths.output_dir / "failure").write_text(reason[:MAX_FAILURE_REASON], encoding="utf-8")


def ship_code_with_model(paths: ContainerPaths, code_dir: Path | None = None) -> Path:
    """Copy the running code (the bundle script mode unpacked: the entry point's directory) into the
    model directory's `code/`, where the framework inference containers' serving toolkit imports the
    inference script from (what the SageMaker Python SDK's repack does): the model artifact then serves
    with exactly the code it was trained with, also with network isolation."""
    source = Path(code_dir) if code_dir is not None else Path(sys.argv[0]).resolve().parent
    target = paths.model_dir / SERVING_CODE_DIR
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target


def run_entry_point(main: Callable[[ContainerPaths], None]) -> None:
    """Run `main` as a training entry point: on any error, write the reason to the failure file (what
    SageMaker shows as FailureReason), print the traceback, and exit non-zero. On success the code is
    shipped in the model directory (`ship_code_with_model`)."""
    paths = ContainerPaths.from_environ()
    try:
        main(paths)
        ship_code_with_model(paths)
    except Exception as error:
        traceback.print_exc()
        write_failure(paths, f"{type(error).__name__}: {error}")
        sys.exit(1)
