"""SageMaker's container contract, played on this machine: run a code bundle's entry point in a child
process, laid out and configured as SageMaker lays out and configures its training containers.

Training (`run_training`): a temporary root gets `code/` (the bundle, as script mode unpacks
sourcedir.tar.gz into /opt/ml/code), `input/config/hyperparameters.json`, `resourceconfig.json` and
`inputdataconfig.json`, `input/data/<channel>/` (the files of each channel), `model/`, `output/`,
`output/data/` and a checkpoint directory; the child gets the `SM_*` variables of the framework
containers' training toolkit (plus `MLP_CHECKPOINT_DIR`: SageMaker has none for the checkpoint path),
the hyperparameters as `--name value` arguments as script mode passes them, the AWS variables of this
process (endpoint, credentials, region) and nothing else of its environment. The job ends Completed
when the entry point exits 0, Failed with the reason the script wrote to `output/failure` (or its exit
code and last error line when it wrote none), and Stopped (MaxRuntimeExceeded) when it outlives its
maximum runtime.

Inference (`invoke`): the bundle's inference script loaded as the PyTorch serving toolkit loads it
(`model_fn` on the model directory, then `input_fn`, `predict_fn`, `output_fn` per request), in a child
process, by emulator/serve_driver.py.

The child's Python is the model-code venv (`.venv-models`, requirements-models.txt), or
`$MLP_MODELS_PYTHON`, or the given one: it plays the framework container's interpreter. For that
interpreter, a child is forked from one warm process of it that has imported PyTorch and the other
framework libraries once (emulator/warm_python.py), and becomes what the fresh process would be: the
same entry point, arguments, environment, working directory, module path and standard streams; a child
whose environment would change how the interpreter or a native library loads is started fresh, and
`MLP_WARM_PYTHON=0` starts every child fresh. Standard library only, so the GPU check
(scripts/run_reference_models.py) runs it where nothing else is installed.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from emulator.warm_python import Forked, WarmPython, WarmPythonError
from ops.code_bundle import deterministic_tar_gz, unpack

ROOT = Path(__file__).resolve().parent.parent
SERVE_DRIVER = Path(__file__).resolve().parent / "serve_driver.py"
PASSED_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "CUDA_VISIBLE_DEVICES")
MAX_FAILURE_REASON = 1024
HOST = "algo-1"


class ContainerError(RuntimeError):
    """The runner was asked for something it cannot set up (no entry point, bad channel)."""


def models_python() -> str:
    """The interpreter that plays the framework container's Python."""
    if os.environ.get("MLP_MODELS_PYTHON"):
        return os.environ["MLP_MODELS_PYTHON"]
    venv = ROOT / ".venv-models" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


WARM_VARIABLE = "MLP_WARM_PYTHON"  # "0": every container and job starts a fresh interpreter
_warm: WarmPython | None = None
_warm_lock = threading.Lock()


def _interpreter_environment() -> dict[str, str]:
    """What every child gets besides its contract variables: the warm interpreter is started with it."""
    env = {k: v for k, v in os.environ.items() if k in PASSED_VARIABLES}
    env.update({"PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"})
    return env


def warm_interpreter(python: str | None = None) -> WarmPython | None:
    """The warm interpreter of the framework container's Python (started on first use, in the background),
    or None for another interpreter or when switched off."""
    global _warm
    if (python or models_python()) != models_python() or os.environ.get(WARM_VARIABLE) == "0":
        return None
    with _warm_lock:
        if _warm is not None and _warm.python != models_python():  # $MLP_MODELS_PYTHON changed
            _warm.stop()
            _warm = None
        if _warm is None:
            _warm = WarmPython(models_python(), env=_interpreter_environment()).start()
            atexit.register(_warm.stop)
        return _warm


def start(
    command: list[str], *, cwd: Path, env: dict[str, str], stdin: bool, merge_stderr: bool, new_session: bool
) -> subprocess.Popen | Forked:
    """Start `command` (an interpreter, then its script and arguments) as a container's process: forked from
    the warm interpreter when it is that interpreter and the environment allows it, else a fresh process.
    (a subprocess.Popen or a warm_python.Forked, text streams: stdout piped, stdin piped or empty)"""
    warm = warm_interpreter(command[0])
    if warm is not None and warm.can_fork(env):
        try:
            return warm.spawn(command, cwd=str(cwd), env=env, stdin=stdin, merge_stderr=merge_stderr, new_session=new_session)
        except WarmPythonError as error:  # it could not start or is gone: a fresh process does the same work
            print(f"emulator: {error}; starting {command[1]} in a fresh interpreter", file=sys.stderr)
    return subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merge_stderr else None,
        text=True,
        errors="replace",
        start_new_session=new_session,
    )


def stop_warm_python() -> None:
    global _warm
    with _warm_lock:
        if _warm is not None:
            _warm.stop()
            _warm = None


@dataclass(frozen=True)
class TrainingResult:
    status: str  # Completed, Failed or Stopped
    secondary_status: str  # Completed, Failed, MaxRuntimeExceeded
    failure_reason: str | None
    exit_code: int | None
    seconds: float
    root: Path
    logs: str

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def output_dir(self) -> Path:
        return self.root / "output"

    def model_archive(self) -> bytes:
        """`model.tar.gz` of the model directory, as SageMaker uploads it to S3ModelArtifacts."""
        files = sorted(p for p in self.model_dir.rglob("*") if p.is_file())
        return deterministic_tar_gz([(p.relative_to(self.model_dir).as_posix(), p.read_bytes(), False) for p in files])


def _channel(source: Path | Mapping[str, bytes], target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    if isinstance(source, Mapping):
        for name, content in source.items():
            path = (target / name).resolve()
            if not path.is_relative_to(target.resolve()):
                raise ContainerError(f"channel file {name!r} would land outside {target}")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
    elif Path(source).is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True)
    elif Path(source).is_file():
        shutil.copy2(source, target / Path(source).name)
    else:
        raise ContainerError(f"channel source {source} does not exist")


def _environment(
    root: Path,
    code: Path,
    entry_point: str,
    hyperparameters: Mapping[str, str],
    channels: list[str],
    checkpoint_dir: Path,
    extra: Mapping[str, str],
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in PASSED_VARIABLES or k.startswith("AWS_")}
    user_args = [part for name, value in sorted(hyperparameters.items()) for part in (f"--{name}", str(value))]
    env.update(
        {
            "SM_MODEL_DIR": str(root / "model"),
            "SM_INPUT_DIR": str(root / "input"),
            "SM_INPUT_CONFIG_DIR": str(root / "input" / "config"),
            "SM_OUTPUT_DIR": str(root / "output"),
            "SM_OUTPUT_DATA_DIR": str(root / "output" / "data"),
            "SM_OUTPUT_INTERMEDIATE_DIR": str(root / "output" / "intermediate"),
            "SM_CHANNELS": json.dumps(sorted(channels)),
            "SM_HPS": json.dumps(dict(hyperparameters), sort_keys=True),
            "SM_USER_ENTRY_POINT": entry_point,
            "SM_MODULE_DIR": str(code),
            "SM_MODULE_NAME": entry_point.removesuffix(".py"),
            "SM_USER_ARGS": json.dumps(user_args),
            "SM_HOSTS": json.dumps([HOST]),
            "SM_CURRENT_HOST": HOST,
            "SM_NUM_CPUS": str(os.cpu_count() or 1),
            "SM_NUM_GPUS": "0",
            "SM_LOG_LEVEL": "20",
            "SM_RESOURCE_CONFIG": json.dumps({"current_host": HOST, "hosts": [HOST]}),
            "MLP_CHECKPOINT_DIR": str(checkpoint_dir),
            "PYTHONPATH": str(code),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update({f"SM_CHANNEL_{name.upper()}": str(root / "input" / "data" / name) for name in channels})
    env.update({f"SM_HP_{name.upper()}": str(value) for name, value in hyperparameters.items()})
    env.update(extra)
    return env


def _failure_reason(root: Path, exit_code: int, logs: str) -> str:
    failure = root / "output" / "failure"
    if failure.is_file() and failure.read_text(errors="replace").strip():
        return failure.read_text(errors="replace").strip()[:MAX_FAILURE_REASON]
    lines = [line for line in logs.splitlines() if line.strip()]
    last = lines[-1] if lines else "no output"
    return f"AlgorithmError: ExecuteUserScriptError: exit code {exit_code}: {last}"[:MAX_FAILURE_REASON]


def run_training(
    bundle: bytes | Path,
    root: Path,
    *,
    entry_point: str = "train.py",
    hyperparameters: Mapping[str, str] | None = None,
    channels: Mapping[str, Path | Mapping[str, bytes]] | None = None,
    checkpoint_dir: Path | None = None,
    max_runtime_seconds: float | None = None,
    environment: Mapping[str, str] | None = None,
    python: str | None = None,
) -> TrainingResult:
    """Run `entry_point` of `bundle` (tar.gz bytes, a .tar.gz file or an unpacked directory) under the
    training-container contract in `root` (which must not exist yet or be empty)."""
    root = Path(root)
    if root.exists() and any(root.iterdir()):
        raise ContainerError(f"container root {root} is not empty")
    hyperparameters = {str(k): str(v) for k, v in (hyperparameters or {}).items()}
    code = root / "code"
    if isinstance(bundle, (bytes, bytearray)):
        unpack(bytes(bundle), code)
    elif Path(bundle).is_dir():
        shutil.copytree(bundle, code)
    else:
        unpack(Path(bundle).read_bytes(), code)
    if not (code / entry_point).is_file():
        raise ContainerError(f"the bundle has no entry point {entry_point!r}")
    config = root / "input" / "config"
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters, sort_keys=True))
    (config / "resourceconfig.json").write_text(json.dumps({"current_host": HOST, "hosts": [HOST]}))
    names = sorted(channels or {})
    (config / "inputdataconfig.json").write_text(
        json.dumps({name: {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated"} for name in names})
    )
    for name in names:
        _channel(channels[name], root / "input" / "data" / name)  # type: ignore[index]
    for directory in ("model", "output/data", "output/intermediate"):
        (root / directory).mkdir(parents=True, exist_ok=True)
    checkpoints = Path(checkpoint_dir) if checkpoint_dir is not None else root / "checkpoints"
    checkpoints.mkdir(parents=True, exist_ok=True)

    env = _environment(root, code, entry_point, hyperparameters, names, checkpoints, environment or {})
    command = [python or models_python(), entry_point, *json.loads(env["SM_USER_ARGS"])]
    started = time.monotonic()
    process = start(command, cwd=code, env=env, stdin=False, merge_stderr=True, new_session=True)
    try:
        logs, _ = process.communicate(timeout=max_runtime_seconds)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the whole process group: the script and anything it started
        logs, _ = process.communicate()
        return TrainingResult(
            "Stopped",
            "MaxRuntimeExceeded",
            f"the job exceeded its maximum runtime of {max_runtime_seconds} s",
            None,
            time.monotonic() - started,
            root,
            logs,
        )
    seconds = time.monotonic() - started
    if process.returncode == 0:
        return TrainingResult("Completed", "Completed", None, 0, seconds, root, logs)
    return TrainingResult(
        "Failed", "Failed", _failure_reason(root, process.returncode, logs), process.returncode, seconds, root, logs
    )


@dataclass(frozen=True)
class Answer:
    status: int  # HTTP status of the invocation
    body: str
    content_type: str | None


def invoke(
    code_dir: Path,
    model_dir: Path,
    requests: list[tuple[bytes, str, str | None]],
    *,
    program: str = "inference.py",
    python: str | None = None,
    timeout: float = 300,
) -> list[Answer]:
    """Load the model with the bundle's inference script and answer each (body, content type, accept)."""
    payload = json.dumps(
        {
            "program": program,
            "model_dir": str(model_dir),
            "requests": [
                {"body": body.decode("latin-1"), "content_type": content_type, "accept": accept}
                for body, content_type, accept in requests
            ],
        }
    )
    env = {k: v for k, v in os.environ.items() if k in PASSED_VARIABLES}
    env.update({"PYTHONPATH": str(code_dir), "PYTHONDONTWRITEBYTECODE": "1", "SAGEMAKER_PROGRAM": program})
    result = subprocess.run(
        [python or models_python(), str(SERVE_DRIVER)],
        input=payload,
        cwd=code_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise ContainerError(f"the inference container did not start: {result.stderr.strip()[-2000:]}")
    return [Answer(a["status"], a["body"], a["content_type"]) for a in json.loads(result.stdout.splitlines()[-1])]
