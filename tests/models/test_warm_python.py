"""The warm interpreter (emulator/warm_python.py): a container or job forked from it is what a fresh
process of the same Python would be: entry point, arguments, environment, working directory, module
path, streams, exit status, stop at the maximum runtime; and what cannot be given after start is
started fresh. Each test runs the same entry point both ways and compares (this venv's Python plays the
model-code Python, so nothing here needs PyTorch)."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from emulator import container
from emulator.endpoint_runtime import ServingProcess
from emulator.warm_python import WarmPython, can_fork

# Reports what a fresh `python train.py ARGS` sees, then does what its `then` hyperparameter says.
REPORT = r"""
import json, os, random, sys, time
from pathlib import Path
import helper
Path(os.environ["SM_MODEL_DIR"], "seen.json").write_text(json.dumps({
    "argv": sys.argv, "cwd": os.getcwd(), "env": dict(os.environ), "path": sys.path, "file": __file__,
    "name": __name__, "spec": __spec__ is None, "helper": helper.__file__, "random": random.random(),
    "parent": os.getppid(), "group": os.getpgid(0) == os.getpid(), "bytecode": sys.dont_write_bytecode,
    "stdout_unbuffered": not hasattr(sys.stdout.buffer, "raw") if hasattr(sys.stdout, "buffer") else None,
}))
print("to stdout"); print("to stderr", file=sys.stderr)
then = json.loads(Path(os.environ["SM_INPUT_CONFIG_DIR"], "hyperparameters.json").read_text())["then"]
if then == "exit3":
    sys.exit(3)
if then == "raise":
    raise ValueError("amount: -3 is outside the declared range")
if then == "message":
    sys.exit("stopped by the script")
if then == "thread":
    import threading
    threading.Thread(target=lambda: (time.sleep(0.5), Path(os.environ["SM_MODEL_DIR"], "late").write_text("1"))).start()
if then == "hang":
    import subprocess
    grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])  # in the job's group
    Path(os.environ["SM_MODEL_DIR"], "grandchild").write_text(str(grandchild.pid))
    time.sleep(600)
"""


def bundle(tmp_path: Path) -> Path:
    source = tmp_path / "source"
    source.mkdir()
    (source / "train.py").write_text(REPORT)
    (source / "helper.py").write_text("")
    (source / "fractions.py").write_text("SHADOWED = True\n")  # a name the warm interpreter may have imported
    return source


@pytest.fixture
def warm(monkeypatch):
    """This venv's Python plays the model-code Python; its warm interpreter, stopped afterwards."""
    monkeypatch.setenv("MLP_MODELS_PYTHON", sys.executable)
    monkeypatch.delenv(container.WARM_VARIABLE, raising=False)
    yield container.warm_interpreter()
    container.stop_warm_python()


def both_ways(tmp_path: Path, monkeypatch, then: str, **kwargs):
    """(forked result, its report; fresh result, its report) of the same job."""
    source, results = bundle(tmp_path), []
    for way in ("forked", "fresh"):
        monkeypatch.setenv(container.WARM_VARIABLE, "1" if way == "forked" else "0")
        result = container.run_training(
            source,
            tmp_path / way,
            hyperparameters={"epochs": 3, "then": then},
            channels={"train": {"rows.csv": b"a\n1\n"}},
            **kwargs,
        )
        seen = result.model_dir / "seen.json"
        results += [result, json.loads(seen.read_text()) if seen.exists() else None]
    return results


def comparable(report: dict, root: Path) -> dict:
    """The report with the job root's name made the same and what differs by design taken out."""
    text = json.dumps({k: v for k, v in report.items() if k not in ("random", "parent")}).replace(str(root), "ROOT")
    return json.loads(text)


def test_a_forked_job_sees_what_a_fresh_one_sees(tmp_path: Path, monkeypatch, warm):
    forked, forked_seen, fresh, fresh_seen = both_ways(tmp_path, monkeypatch, "exit0", environment={"TEAM_SETTING": "x"})
    assert (forked.status, fresh.status) == ("Completed", "Completed")
    assert forked_seen["parent"] == warm.ready()["pid"] and fresh_seen["parent"] == os.getpid()  # forked, and not
    assert comparable(forked_seen, tmp_path / "forked") == comparable(fresh_seen, tmp_path / "fresh")
    assert forked_seen["argv"] == ["train.py", "--epochs", "3", "--then", "exit0"] and forked_seen["name"] == "__main__"
    assert forked_seen["env"]["TEAM_SETTING"] == "x" and forked_seen["group"] and forked_seen["bytecode"]
    assert forked_seen["random"] != fresh_seen["random"]
    assert sorted(forked.logs.splitlines()) == sorted(fresh.logs.splitlines()) == ["to stderr", "to stdout"]


def train_py(server: WarmPython, source: Path, new_session: bool):
    """`python train.py` in `source`, forked from `server`, with only PATH set."""
    env = {"PATH": os.environ["PATH"]}
    return server.spawn(
        [sys.executable, "train.py"], cwd=str(source), env=env, stdin=True, merge_stderr=True, new_session=new_session
    )


def test_the_childs_own_module_wins_over_one_the_warm_interpreter_imported(tmp_path: Path):
    source = bundle(tmp_path)
    (source / "train.py").write_text("import fractions, sys\nprint(getattr(fractions, 'SHADOWED', False))\n")
    server = WarmPython(sys.executable, modules=("fractions",), env={"PATH": os.environ["PATH"]})
    try:
        assert server.ready()["imported"] == ["fractions"]
        child = train_py(server, source, new_session=False)
        assert child.communicate(timeout=60) == ("True\n", None) and child.returncode == 0
    finally:
        server.stop()


@pytest.mark.parametrize(
    "then, status, code, reason",
    [
        ("exit3", "Failed", 3, "AlgorithmError: ExecuteUserScriptError: exit code 3: to stderr"),
        ("raise", "Failed", 1, "ValueError: amount: -3 is outside the declared range"),
        ("message", "Failed", 1, "stopped by the script"),
        ("thread", "Completed", 0, None),
    ],
)
def test_a_forked_job_ends_as_a_fresh_one(tmp_path: Path, monkeypatch, warm, then, status, code, reason):
    forked, forked_seen, fresh, _ = both_ways(tmp_path, monkeypatch, then)
    assert forked_seen["parent"] == warm.ready()["pid"]
    assert (forked.status, forked.exit_code) == (fresh.status, fresh.exit_code) == (status, code)
    if reason:
        assert forked.failure_reason.endswith(reason) and fresh.failure_reason.endswith(reason)
    if then == "raise":  # the traceback names the script's frames only, as Python prints it
        assert forked.logs.count('File "') == fresh.logs.count('File "') == 1
    if then == "thread":  # non-daemon threads are joined before the exit, as the interpreter does
        assert (forked.model_dir / "late").exists() and (fresh.model_dir / "late").exists()


def test_a_forked_job_past_its_maximum_runtime_is_stopped_with_its_group(tmp_path: Path, monkeypatch, warm):
    monkeypatch.setenv(container.WARM_VARIABLE, "1")
    started = time.monotonic()
    result = container.run_training(
        bundle(tmp_path),
        tmp_path / "job",
        hyperparameters={"then": "hang"},
        channels={"train": {"rows.csv": b"a\n"}},
        max_runtime_seconds=3,
    )
    assert (result.status, result.secondary_status) == ("Stopped", "MaxRuntimeExceeded")
    assert time.monotonic() - started < 60
    assert json.loads((result.model_dir / "seen.json").read_text())["parent"] == warm.ready()["pid"]
    grandchild = int((result.model_dir / "grandchild").read_text())
    assert not alive(grandchild)  # the whole group was killed: the script and what it started


def alive(pid: int) -> bool:
    """Whether `pid` still runs (a zombie waiting for its new parent to reap it does not)."""
    for _ in range(50):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return False
        if state == "Z":
            return False
        time.sleep(0.1)
    return True


def test_a_variable_read_when_the_interpreter_loads_gets_a_fresh_process(tmp_path: Path, monkeypatch, warm):
    monkeypatch.setenv(container.WARM_VARIABLE, "1")
    result = container.run_training(
        bundle(tmp_path),
        tmp_path / "job",
        hyperparameters={"then": "exit0"},
        channels={"train": {"rows.csv": b"a\n"}},
        environment={"OMP_NUM_THREADS": "1"},
    )
    seen = json.loads((result.model_dir / "seen.json").read_text())
    assert result.status == "Completed" and seen["parent"] == os.getpid() and seen["env"]["OMP_NUM_THREADS"] == "1"
    base = {"PATH": "/bin", "LANG": "C.UTF-8"}
    assert can_fork(base, {**base, "SM_MODEL_DIR": "/x", "PYTHONPATH": "/code", "TEAM": "y"})
    for changed in ({"LANG": "de_DE.UTF-8"}, {"PYTHONHASHSEED": "0"}, {"LD_PRELOAD": "x.so"}, {"MKL_NUM_THREADS": "2"}):
        assert not can_fork(base, {**base, **changed}), changed


SERVE = r"""
import os
def model_fn(model_dir):
    return {"dir": model_dir, "parent": os.getppid()}
def input_fn(body, content_type):
    return body.decode()
def predict_fn(data, model):
    return f"{data}:{model['parent']}"
def output_fn(prediction, accept):
    return prediction, "text/plain"
"""


def test_an_inference_container_is_forked_answers_and_stops(tmp_path: Path, warm):
    workdir = tmp_path / "endpoint"
    (workdir / "model" / "code").mkdir(parents=True)
    (workdir / "model" / "code" / "inference.py").write_text(SERVE)
    serving = ServingProcess(("config", "variant"), workdir, "inference.py", {"SAGEMAKER_PROGRAM": "inference.py"})
    serving.start()
    answer = serving.ask(b"x", "text/plain", None)
    assert (answer.status, answer.body) == (200, f"x:{warm.ready()['pid']}".encode())
    process = serving.process
    serving.close()
    assert process.returncode == 0 and not workdir.exists()


def test_stopping_the_warm_interpreter_stops_its_children(tmp_path: Path):
    source = bundle(tmp_path)
    (source / "train.py").write_text("import time\ntime.sleep(600)\n")
    server = WarmPython(sys.executable, modules=(), env={"PATH": os.environ["PATH"]})
    child = train_py(server, source, new_session=True)
    assert child.poll() is None
    server.stop()
    assert child.wait(timeout=30) == -9
