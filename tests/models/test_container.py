"""The container-contract runner with small entry points: layout, variables, outcomes, failure reasons."""

from __future__ import annotations

import io
import json
import sys
import tarfile
from pathlib import Path

import pytest

from emulator.container import ContainerError, run_training
from ops.code_bundle import deterministic_tar_gz

# An entry point that reports what it was given, then does what its hyperparameter `then` says.
PROBE = r"""
import json, os, sys, time
from pathlib import Path
env = os.environ
root = Path(env["SM_MODEL_DIR"]).parent
report = {
    "argv": sys.argv[1:], "cwd": os.getcwd(),
    "hyperparameters": json.loads(Path(env["SM_INPUT_CONFIG_DIR"], "hyperparameters.json").read_text()),
    "channels": json.loads(env["SM_CHANNELS"]),
    "train_files": sorted(p.name for p in Path(env["SM_CHANNEL_TRAIN"]).iterdir()),
    "train_text": Path(env["SM_CHANNEL_TRAIN"], "rows.csv").read_text(),
    "sm": {k: v for k, v in env.items() if k.startswith("SM_")},
    "checkpoint_dir": env["MLP_CHECKPOINT_DIR"], "leaked": env.get("MLP_TEST_SECRET"),
    "extra": env.get("TEAM_SETTING"),
}
Path(env["SM_MODEL_DIR"], "report.json").write_text(json.dumps(report))
then = report["hyperparameters"].get("then", "exit0")
if then == "failure-file":
    Path(env["SM_OUTPUT_DIR"], "failure").write_text("ValueError: amount: -3 is outside the declared range")
    sys.exit(2)
if then == "crash":
    raise RuntimeError("no failure file written")
if then == "hang":
    time.sleep(600)
"""


def bundle(script: str = PROBE) -> bytes:
    return deterministic_tar_gz([("train.py", script.encode(), False)])


def run(tmp_path: Path, then: str, **kwargs):
    return run_training(
        bundle(),
        tmp_path / "job",
        python=sys.executable,
        hyperparameters={"epochs": 3, "then": then},
        channels={"train": {"rows.csv": b"a,b\n1,2\n"}, "definitions": {"definitions.json": b"{}"}},
        **kwargs,
    )


def test_completed_job_sees_sagemakers_layout_and_variables(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("MLP_TEST_SECRET", "must not reach the container")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    result = run(tmp_path, "exit0", environment={"TEAM_SETTING": "x"})
    assert (result.status, result.secondary_status, result.failure_reason, result.exit_code) == (
        "Completed",
        "Completed",
        None,
        0,
    )
    report = json.loads((result.model_dir / "report.json").read_text())
    root = tmp_path / "job"
    assert report["hyperparameters"] == {"epochs": "3", "then": "exit0"}  # strings, as CreateTrainingJob passes them
    assert report["argv"] == ["--epochs", "3", "--then", "exit0"]  # script mode's arguments
    assert report["cwd"] == str(root / "code")
    assert report["channels"] == ["definitions", "train"]
    assert report["train_files"] == ["rows.csv"] and report["train_text"] == "a,b\n1,2\n"
    sm = report["sm"]
    assert sm["SM_MODEL_DIR"] == str(root / "model") and sm["SM_OUTPUT_DIR"] == str(root / "output")
    assert sm["SM_CHANNEL_TRAIN"] == str(root / "input" / "data" / "train")
    assert json.loads(sm["SM_HPS"]) == {"epochs": "3", "then": "exit0"} and sm["SM_HP_EPOCHS"] == "3"
    assert sm["SM_USER_ENTRY_POINT"] == "train.py" and sm["SM_CURRENT_HOST"] == "algo-1"
    assert report["checkpoint_dir"] == str(root / "checkpoints")
    assert report["leaked"] is None and report["extra"] == "x"
    assert json.loads((root / "input" / "config" / "inputdataconfig.json").read_text()).keys() == {"definitions", "train"}
    with tarfile.open(fileobj=io.BytesIO(result.model_archive())) as archive:
        assert archive.getnames() == ["report.json"]


def test_failed_job_carries_the_reason_the_script_wrote(tmp_path: Path):
    result = run(tmp_path, "failure-file")
    assert (result.status, result.exit_code) == ("Failed", 2)
    assert result.failure_reason == "ValueError: amount: -3 is outside the declared range"


def test_failed_job_without_a_failure_file_names_the_exit_code_and_last_error(tmp_path: Path):
    result = run(tmp_path, "crash")
    assert result.status == "Failed"
    assert result.failure_reason.startswith("AlgorithmError: ExecuteUserScriptError: exit code 1:")
    assert "RuntimeError: no failure file written" in result.failure_reason


def test_a_job_past_its_maximum_runtime_is_stopped(tmp_path: Path):
    result = run(tmp_path, "hang", max_runtime_seconds=3)
    assert (result.status, result.secondary_status) == ("Stopped", "MaxRuntimeExceeded")
    assert "maximum runtime of 3 s" in result.failure_reason


def test_a_given_checkpoint_directory_outlives_the_job_root(tmp_path: Path):
    checkpoints = tmp_path / "spot-checkpoints"
    result = run(tmp_path, "exit0", checkpoint_dir=checkpoints)
    assert json.loads((result.model_dir / "report.json").read_text())["checkpoint_dir"] == str(checkpoints)


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda root: run_training(bundle(), root, entry_point="missing.py", python=sys.executable),
            "no entry point 'missing.py'",
        ),
        (lambda root: run_training(bundle(), root, python=sys.executable, channels={"train": {"../../x": b""}}), "outside"),
        (
            lambda root: run_training(bundle(), root, python=sys.executable, channels={"train": root.parent / "absent"}),
            "does not exist",
        ),
    ],
)
def test_refuses_a_job_it_cannot_lay_out(tmp_path: Path, call, message):
    with pytest.raises(ContainerError, match=message):
        call(tmp_path / "job")


def test_refuses_a_root_that_is_not_empty(tmp_path: Path):
    (tmp_path / "job").mkdir()
    (tmp_path / "job" / "left-over").write_text("")
    with pytest.raises(ContainerError, match="not empty"):
        run_training(bundle(), tmp_path / "job", python=sys.executable)


def test_hyperparameters_decode_the_sdks_json_strings_and_name_bad_values():
    from modelkit.container import HyperparameterError, Hyperparameters

    hp = Hyperparameters({"epochs": "20", "optimizer": '"adam"', "rate": "0.05", "depth": 3, "bad": "2x", "neg": "-1"})
    assert hp.integer("epochs", 1) == 20 and hp.get("optimizer") == "adam" and hp.integer("depth", 1) == 3
    assert hp.number("rate", 0.1, above=0.0) == 0.05 and hp.integer("absent", 7) == 7
    for call, message in [
        (lambda: hp.integer("bad", 1), "hyperparameter bad: '2x' is not an integer"),
        (lambda: hp.integer("neg", 1, minimum=1), "hyperparameter neg: -1 is below the minimum 1"),
        (lambda: hp.number("rate", 0.1, below=0.01), "hyperparameter rate: 0.05 must be below 0.01"),
        (lambda: Hyperparameters({"x": "nan"}).number("x", 1.0), "x: nan is not a finite number"),
    ]:
        with pytest.raises(HyperparameterError) as error:
            call()
        assert message in str(error.value)


def test_container_paths_follow_the_sm_variables_and_default_to_opt_ml(tmp_path: Path):
    from modelkit.container import ContainerPaths

    (tmp_path / "input" / "data" / "train").mkdir(parents=True)
    paths = ContainerPaths.from_environ({"SM_INPUT_DIR": str(tmp_path / "input"), "SM_MODEL_DIR": str(tmp_path / "m")})
    assert paths.channels == {"train": tmp_path / "input" / "data" / "train"} and paths.model_dir == tmp_path / "m"
    assert paths.input_config_dir == tmp_path / "input" / "config"
    defaults = ContainerPaths.from_environ({"SM_CHANNELS": '["train"]'})
    assert (defaults.model_dir, defaults.checkpoint_dir) == (Path("/opt/ml/model"), Path("/opt/ml/checkpoints"))
    assert defaults.channels == {"train": Path("/opt/ml/input/data/train")}
    with pytest.raises(FileNotFoundError, match="no input channel 'manifest'; this job has \\['train'\\]"):
        defaults.channel("manifest")
