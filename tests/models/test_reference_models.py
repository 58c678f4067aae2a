"""The reference models, run as SageMaker would run them: trained under the container contract by the
model-code venv's Python (PyTorch on the CPU here), then served by their inference entry points.

One run of the GPU-check command (scripts/run_reference_models.py) trains both teams; the other tests
reuse its job roots (inputs, checkpoints, model) and add the runs they need.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import statistics
import subprocess
from pathlib import Path

import boto3
import pytest

from common.training import MANIFEST_SHA_HP, MANIFEST_URI_HP
from emulator.container import ROOT, invoke, run_training
from emulator.server import Emulator

MODELS_PYTHON = ROOT / ".venv-models" / "bin" / "python"
ROWS, EPOCHS = 800, "4"


def load_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("run_reference_models", ROOT / "scripts" / "run_reference_models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def python() -> str:
    assert MODELS_PYTHON.exists(), "the model-code venv is missing: run scripts/setup.sh (requirements-models.txt)"
    return str(MODELS_PYTHON)


@pytest.fixture(scope="module")
def reference(python, tmp_path_factory):
    """The GPU-check command, run as on a GPU host: the container's Python runs it, from the checkout."""
    keep = tmp_path_factory.mktemp("reference") / "runs"
    done = subprocess.run(
        [python, "-m", "scripts.run_reference_models", "--rows", str(ROWS), "--epochs", EPOCHS, "--keep", str(keep)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    return done, keep


@pytest.fixture(scope="module")
def script():
    return load_script()


def test_gpu_check_command_trains_and_serves_both_teams(reference):
    done, keep = reference
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[fraud] device=cpu holdout AUC=" in done.stdout
    assert "[recsys] device=cpu holdout RMSE=" in done.stdout
    assert "all reference runs completed" in done.stdout
    for team in ("fraud", "recsys"):
        model = keep / team / "model"
        assert sorted(p.name for p in model.iterdir()) == ["code", "evaluation.json", "model.json", "model.pt", "transform.json"]
        # The model serves with the code it was trained with (/opt/ml/model/code): the bundle, byte for byte.
        shipped = {p.relative_to(model / "code").as_posix(): p.read_bytes() for p in (model / "code").rglob("*") if p.is_file()}
        assert shipped == {
            p.relative_to(keep / team / "code").as_posix(): p.read_bytes()
            for p in (keep / team / "code").rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        }
        assert (keep / team / "checkpoints" / "checkpoint.pt").is_file()
        answers = [line for line in done.stdout.splitlines() if line.startswith(f"[{team}] inference")]
        assert len(answers) == 2 and all("-> 200 " in line for line in answers)


def test_fraud_model_ranks_fraud_above_chance_on_the_holdout(reference):
    evaluation = json.loads((reference[1] / "fraud" / "model" / "evaluation.json").read_text())
    assert evaluation["metric"] == "AUC" and evaluation["device"] == "cpu" and evaluation["epochs"] == 4
    assert evaluation["holdout_rows"] + evaluation["train_rows"] == ROWS
    assert 0.1 < evaluation["holdout_rows"] / ROWS < 0.3  # holdout_fraction 0.2, by hash
    assert evaluation["value"] > 0.6  # labels are drawn from a function of the amount: chance is 0.5


def test_recsys_model_beats_predicting_the_mean(reference, script):
    evaluation = json.loads((reference[1] / "recsys" / "model" / "evaluation.json").read_text())
    assert evaluation["metric"] == "RMSE" and evaluation["problem_type"] == "regression"
    ratings = [float(r["rating"]) for r in csv.DictReader(io.StringIO(script.team_job("recsys", ROWS)["data"].decode()))]
    assert evaluation["value"] < statistics.pstdev(ratings)


def test_training_and_serving_give_the_model_identical_inputs(reference, python):
    root = reference[1] / "fraud"
    probe = subprocess.run(
        [python, str(Path(__file__).parent / "probe_transform.py"), str(root), "25"],
        cwd=root / "code",
        env={"PYTHONPATH": str(root / "code")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert probe.returncode == 0, probe.stderr
    result = json.loads(probe.stdout.splitlines()[-1])
    assert result["shape"] == [25, 8]  # amount, 5 merchant categories one-hot, hour, account age
    assert result["refit_equals_saved"]  # the saved encodings are the ones fitted on the training split
    assert set(result["served"].values()) == {result["training"]}
    assert result["single_objects"] == result["training"]


def test_serving_refuses_bad_requests_with_the_problem_named(reference, python):
    root = reference[1] / "fraud"
    answers = invoke(
        root / "code",
        root / "model",
        [
            (b"12.5,grocery,3,100\n", "text/csv", "application/json"),
            (b"12.5,grocery,3,100\n", "text/plain", None),
            (b"-3,casino,3,100\n", "text/csv", None),
            (b"12.5,grocery,3\n", "text/csv", None),
            (
                b'{"amount": 1, "merchant_category": "fuel", "hour_of_day": 2.5, "account_age_days": 9, "colour": "red"}',
                "application/json",
                None,
            ),
            (b"{not json", "application/json", None),
            (b"12.5,grocery,3,100\n", "text/csv", "application/xml"),
        ],
        python=python,
    )
    ok, *bad = answers
    assert ok.status == 200 and len(json.loads(ok.body)["predictions"]) == 1
    assert [a.status for a in bad] == [415, 400, 400, 400, 400, 406]
    assert "amount: -3.0 is outside the declared range" in bad[1].body and "'casino' is not one of" in bad[1].body
    assert "expected 4 values" in bad[2].body
    assert "hour_of_day: expected an integer" in bad[3].body and "colour: not a feature" in bad[3].body


def test_resumed_spot_run_ends_with_the_same_model_as_an_uninterrupted_one(reference, python, script, tmp_path):
    job = script.team_job("fraud", ROWS)
    checkpoints = tmp_path / "checkpoints"
    common = {"channels": job["channels"], "checkpoint_dir": checkpoints, "python": python}
    first = run_training(
        job["bundle"].data, tmp_path / "interrupted", hyperparameters={**job["hyperparameters"], "epochs": "2"}, **common
    )
    assert first.status == "Completed", first.logs
    resumed = run_training(
        job["bundle"].data, tmp_path / "resumed", hyperparameters={**job["hyperparameters"], "epochs": EPOCHS}, **common
    )
    assert resumed.status == "Completed", resumed.logs
    assert "resumed from checkpoint after epoch 2" in resumed.logs
    assert "epoch=1 " not in resumed.logs and "epoch=3 " in resumed.logs
    uninterrupted = reference[1] / "fraud" / "model"
    assert (resumed.model_dir / "model.pt").read_bytes() == (uninterrupted / "model.pt").read_bytes()
    assert (resumed.model_dir / "evaluation.json").read_text() == (uninterrupted / "evaluation.json").read_text()

    other = run_training(
        job["bundle"].data, tmp_path / "other", hyperparameters={**job["hyperparameters"], "learning_rate": "0.5"}, **common
    )
    assert other.status == "Failed" and other.failure_reason.startswith("CheckpointMismatch:")


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (
            lambda text: text.replace("\n", "\n7-bad-1,-3,casino,3,100,0\n,12.5,fuel,3,100,1\n", 1),
            "train.csv line 2: amount: -3.0 is outside",
        ),
        (lambda text: text.replace("transaction_id,", "id,", 1), "no column(s) ['transaction_id']"),
    ],
)
def test_rows_the_definitions_refuse_fail_the_job_with_file_line_and_feature(script, python, tmp_path, mutate, expected):
    job = script.team_job("fraud", 200)
    channels = {**job["channels"], "train": {"train.csv": mutate(job["data"].decode()).encode()}}
    result = run_training(
        job["bundle"].data, tmp_path / "job", hyperparameters=job["hyperparameters"], channels=channels, python=python
    )
    assert result.status == "Failed"
    assert result.failure_reason.startswith("TrainingDataError:") and expected in result.failure_reason
    if "line 2" in expected:
        assert "'casino' is not one of the declared categories" in result.failure_reason
        assert "2 row(s) do not match" in result.failure_reason
        assert "line 3: transaction_id: missing value (the record identifier decides the holdout split)" in result.failure_reason
    assert not (result.model_dir / "model.pt").exists()


@pytest.fixture(scope="module")
def emulator():
    server = Emulator().start()
    yield server
    server.stop()


def test_manifest_channel_reads_the_pinned_object_versions_from_s3(emulator, script, python, tmp_path):
    """The platform's path: the manifest pins VersionIds; a newer upload of the same key is not read."""
    env = emulator.client_env()
    s3 = boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name=env["AWS_REGION"],
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    bucket = "mlp-fraud-local-curated-123456789012"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    pinned_data = script.team_job("fraud", 300)["data"]
    pinned = s3.put_object(Bucket=bucket, Key="training/part-0.csv", Body=pinned_data)
    s3.put_object(Bucket=bucket, Key="training/part-0.csv", Body=script.team_job("fraud", 120)["data"])  # later upload
    manifest = {
        "run_id": "r1",
        "created_at": "2026-11-28T09:00:00+00:00",
        "bucket": bucket,
        "prefix": "training/",
        "objects": [
            {
                "key": "training/part-0.csv",
                "version_id": pinned["VersionId"],
                "etag": pinned["ETag"].strip('"'),
                "size": len(pinned_data),
            }
        ],
    }
    body = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    job = script.team_job("fraud", 0)
    channels = {"manifest": {"r1.json": body}, "definitions": job["channels"]["definitions"]}
    hyperparameters = {
        **job["hyperparameters"],
        "epochs": "2",
        MANIFEST_URI_HP: f"s3://{bucket}/manifests/r1.json",
        MANIFEST_SHA_HP: hashlib.sha256(body).hexdigest(),
    }
    result = run_training(
        job["bundle"].data, tmp_path / "job", hyperparameters=hyperparameters, channels=channels, python=python, environment=env
    )
    assert result.status == "Completed", result.logs
    evaluation = json.loads((result.model_dir / "evaluation.json").read_text())
    assert evaluation["holdout_rows"] + evaluation["train_rows"] == 300
    assert evaluation["data_fingerprint"] == hyperparameters[MANIFEST_SHA_HP]

    tampered = run_training(
        job["bundle"].data,
        tmp_path / "tampered",
        channels=channels,
        python=python,
        environment=env,
        hyperparameters={**hyperparameters, MANIFEST_SHA_HP: "0" * 64},
    )
    assert tampered.status == "Failed" and "the run pinned " + "0" * 64 in tampered.failure_reason


def test_the_champion_is_scored_on_the_same_holdout_as_the_new_model(reference, python, script, tmp_path):
    """A `champion` channel (the live model's model.tar.gz) is scored through its own saved transform and
    network on this run's holdout; a champion that cannot be read is reported, never scored as zero."""
    from ops.code_bundle import deterministic_tar_gz

    live = reference[1] / "fraud" / "model"
    archive = deterministic_tar_gz(
        [(p.relative_to(live).as_posix(), p.read_bytes(), False) for p in sorted(live.rglob("*")) if p.is_file()]
    )  # with code/, as training ships it
    job = script.team_job("fraud", ROWS)
    result = run_training(
        job["bundle"].data,
        tmp_path / "challenger",
        hyperparameters={**job["hyperparameters"], "seed": "3"},
        channels={**job["channels"], "champion": {"model.tar.gz": archive}},
        python=python,
    )
    assert result.status == "Completed", result.logs
    evaluation = json.loads((result.model_dir / "evaluation.json").read_text())
    original = json.loads((live / "evaluation.json").read_text())
    champion = evaluation["champion"]
    # The same rows were held out (split by record id), and the champion scores on them as it did when trained.
    assert champion["holdout_rows"] == evaluation["holdout_rows"] == original["holdout_rows"]
    assert champion["metric"] == "AUC" and champion["value"] == pytest.approx(original["value"], abs=1e-6)
    assert "champion_holdout_AUC=" in result.logs

    broken = run_training(
        job["bundle"].data,
        tmp_path / "broken",
        hyperparameters=job["hyperparameters"],
        channels={**job["channels"], "champion": {"model.tar.gz": b"not a tar"}},
        python=python,
    )
    assert broken.status == "Completed", broken.logs
    assert json.loads((broken.model_dir / "evaluation.json").read_text())["champion"]["error"].startswith("ReadError")
