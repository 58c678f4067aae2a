"""The training data of a run, read as SageMaker hands it to the container, checked row by row.

Two channels are understood:
- `manifest` (what the platform's runs use): the run's data manifest (docs/CONTRACTS.md, "Training
  job"). Its bytes must hash to the `mlp_manifest_sha256` hyperparameter; each object is then fetched by
  its VersionId with boto3 (which honours AWS_ENDPOINT_URL), its ETag checked, by `common.manifest`,
  the reader the Lambdas use.
- `train`: CSV files placed in the channel directly (a local run in SageMaker's layout, a notebook).
The feature definitions come from the `definitions` channel (`features/definitions.json`).

Every row is checked against the definitions by the transform that serving uses too; a run with bad
rows fails naming the file, the line, the feature and the problem. The holdout split hashes each row's
record identifier, so the same records are held out by every run that reads them, a rebuild included.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from common.features import FeatureValidationError
from common.training import MANIFEST_SHA_HP
from contract.definitions import FeatureDefinitions, Value
from modelkit.container import ContainerPaths, Hyperparameters
from modelkit.transform import ModelInputs, parse_value

MAX_REPORTED_PROBLEMS = 20


class TrainingDataError(ValueError):
    """The data channel is missing, does not match what was pinned, or holds rows the definitions refuse."""


def _single_json(directory: Path, what: str) -> tuple[Path, bytes]:
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    if len(files) != 1:
        raise TrainingDataError(f"the {what} channel ({directory}) must hold exactly one file, found {[p.name for p in files]}")
    return files[0], files[0].read_bytes()


def load_definitions(paths: ContainerPaths) -> FeatureDefinitions:
    """The feature definitions of the `definitions` channel, refused if edited after the stack wrote them."""
    path, body = _single_json(paths.channel("definitions"), "definitions")
    try:
        document = json.loads(body)
    except ValueError as error:
        raise TrainingDataError(f"{path} is not JSON: {error}") from None
    return FeatureDefinitions.from_dict(document, verify_version=True)


@dataclass(frozen=True)
class Source:
    """One CSV object or file, and a binary stream of its bytes."""

    name: str
    stream: BinaryIO


def _manifest_sources(channel: Path, hyperparameters: Hyperparameters) -> tuple[str, Iterator[Source]]:
    path, body = _single_json(channel, "manifest")
    pinned = hyperparameters.get(MANIFEST_SHA_HP)
    actual = hashlib.sha256(body).hexdigest()
    if not pinned:
        raise TrainingDataError(f"the manifest channel needs the {MANIFEST_SHA_HP} hyperparameter to check {path.name} against")
    if actual != pinned:
        raise TrainingDataError(f"manifest {path.name} has sha256 {actual}, the run pinned {pinned}")
    manifest = json.loads(body)
    csv_objects = [o for o in manifest.get("objects", []) if str(o.get("key", "")).lower().endswith(".csv")]
    if not csv_objects:
        raise TrainingDataError(f"manifest {path.name} lists no .csv objects")
    from common.manifest import iter_manifest_objects  # boto3: only a manifest run needs it

    def sources() -> Iterator[Source]:
        for entry, stream in iter_manifest_objects({**manifest, "objects": csv_objects}):
            yield Source(f"s3://{manifest['bucket']}/{entry['key']}?versionId={entry['version_id']}", stream)

    return actual, sources()


def _file_sources(channel: Path) -> tuple[str, Iterator[Source]]:
    files = sorted(p for p in channel.rglob("*.csv") if p.is_file())
    if not files:
        raise TrainingDataError(f"the train channel ({channel}) holds no .csv file")
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(channel).as_posix().encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())

    def sources() -> Iterator[Source]:
        for path in files:
            with path.open("rb") as stream:
                yield Source(str(path.relative_to(channel)), stream)

    return digest.hexdigest(), sources()


@dataclass
class Dataset:
    """Checked rows: record ids, typed model inputs, labels, and a fingerprint of the exact data read."""

    record_ids: list[str]
    rows: list[list[Value]]
    labels: list[float]
    fingerprint: str

    def split(self, holdout_fraction: float) -> tuple[list[int], list[int]]:
        """(train indices, holdout indices): a record is held out when the hash of its id says so."""
        train, holdout = [], []
        for index, record_id in enumerate(self.record_ids):
            (holdout if holdout_bucket(record_id) < holdout_fraction else train).append(index)
        return train, holdout


def holdout_bucket(record_id: str) -> float:
    """A number in [0, 1) fixed by the record id alone."""
    return int.from_bytes(hashlib.sha256(record_id.encode("utf-8")).digest()[:8], "big") / 2**64


def binary_label(text: str) -> float:
    if text.strip() not in ("0", "1"):
        raise ValueError(f"{text!r} is not a binary label (0 or 1)")
    return float(text)


def numeric_label(text: str) -> float:
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{text!r} is not a finite number")
    return value


def read_dataset(
    paths: ContainerPaths, hyperparameters: Hyperparameters, definitions: FeatureDefinitions, parse_label: Callable[[str], float]
) -> Dataset:
    """Every row of the run's training data, typed and checked (raises TrainingDataError on any problem)."""
    if "manifest" in paths.channels:
        fingerprint, sources = _manifest_sources(paths.channels["manifest"], hyperparameters)
    elif "train" in paths.channels:
        fingerprint, sources = _file_sources(paths.channels["train"])
    else:
        raise TrainingDataError(
            f"no training data: expected a 'manifest' or 'train' channel, this job has {sorted(paths.channels)}"
        )
    inputs = ModelInputs(definitions)
    identifier = inputs.feature_set.record_identifier
    id_feature = inputs.feature_set.feature(identifier)
    label = definitions.model_inputs.label
    order = definitions.model_input_order()
    dataset = Dataset([], [], [], fingerprint)
    problems: list[str] = []
    count = 0
    for source in sources:
        reader = csv.DictReader(codecs.getreader("utf-8-sig")(source.stream))
        header = reader.fieldnames or []
        absent = [name for name in (identifier, label, *order) if name not in header]
        if absent:
            raise TrainingDataError(
                f"{source.name}: no column(s) {absent} (record identifier, label, model inputs); header: {header}"
            )
        for row in reader:
            row_problems = []
            try:
                typed = inputs.typed_row([row[name] for name in order])
            except FeatureValidationError as error:
                row_problems += error.problems
            try:
                value = parse_label(row[label] or "")
            except ValueError as error:
                row_problems.append(f"{label}: {error}")
            _, problem = parse_value(id_feature, row[identifier])
            if problem:
                row_problems.append(f"{identifier}: {problem} (the record identifier decides the holdout split)")
            if row_problems:
                count += 1
                if len(problems) < MAX_REPORTED_PROBLEMS:
                    problems.append(f"{source.name} line {reader.line_num}: " + "; ".join(row_problems))
                continue
            dataset.record_ids.append(row[identifier])
            dataset.rows.append(typed)
            dataset.labels.append(value)
    if count:
        raise TrainingDataError(
            f"{count} row(s) do not match the feature definitions {definitions.version}: " + " | ".join(problems)
        )
    if not dataset.rows:
        raise TrainingDataError("the training data has no rows")
    return dataset
