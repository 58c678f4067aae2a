"""The SageMaker Python SDK extra (notebook_sdk/, `.venv-sdk`): a notebook launches a run through the
platform's run path and watches it with the SDK, on the emulator, with the applied `fraud-local` stack.
The notebook's code runs in the SDK's own virtualenv, as a data scientist's kernel would."""

from __future__ import annotations

import json
import os
import subprocess

import boto3
import pytest

from config.platform import context_for, load_config, with_emulator_override
from emulator.loop import LoopDriver
from emulator.server import ROOT
from tests.integration.conftest import STACK

pytestmark = pytest.mark.integration
SDK_PYTHON = ROOT / ".venv-sdk" / "bin" / "python"
NOTEBOOK = f"""
import json, sys
from notebook_sdk.runs import RunError, launch_run
try:
    run = launch_run({STACK!r}, reason=sys.argv[1])
except RunError as error:
    print(json.dumps({{"refused": str(error)}}))
    raise SystemExit(0)
run.job.wait(poll=1, timeout=600)
run.job.refresh()
print(json.dumps({{"run_id": run.run_id, "job": run.training_job_name, "inputs": run.inputs,
                  "status": run.job.training_job_status, "image": run.job.algorithm_specification.training_image,
                  "hyperparameters": run.job.hyper_parameters, "artifact": run.job.model_artifacts.s3_model_artifacts}}))
"""


def _notebook(emulator, reason: str) -> dict:
    env = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR", "MLP_TF_PROVIDER_MIRROR")},
        **emulator.client_env(),
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        [str(SDK_PYTHON), "-c", NOTEBOOK, reason], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_the_sdk_is_not_in_the_platforms_venv():
    """The extra stays out of the project's virtualenv (and so out of the Lambdas, synth and CLI)."""
    import importlib.util

    assert SDK_PYTHON.exists(), "the SDK venv is missing: run scripts/setup.sh (requirements-sdk.txt)"
    assert importlib.util.find_spec("sagemaker") is None


def test_a_notebook_launches_a_platform_run_and_watches_it_with_the_sdk(pristine_stack, emulator, monkeypatch):
    refused = _notebook(emulator, "before the images are pushed")
    assert "not in ECR" in refused["refused"]  # the platform's own refusal, one line, no job

    for name, value in emulator.client_env().items():
        monkeypatch.setenv(name, value)
    loop = LoopDriver(context_for(with_emulator_override(load_config()), STACK))
    image, digest = loop.push_team_image()
    loop.upload_training_data(rows=400)
    run = _notebook(emulator, "from a notebook")

    assert run["status"] == "Completed" and run["run_id"] in run["artifact"]
    assert run["image"] == run["inputs"]["image_uri"] == f"{image.split(':')[0]}@{digest}"  # pinned by digest
    assert run["hyperparameters"]["mlp_code_sha256"] == run["inputs"]["code"]["sha256"]
    assert run["hyperparameters"]["mlp_manifest_uri"] == run["inputs"]["manifest_uri"]
    record = boto3.client("dynamodb").get_item(TableName=loop.env["RUNS_TABLE"], Key={"pk": {"S": f"RUN#{run['run_id']}"}})[
        "Item"
    ]
    assert record["training_job_name"]["S"] == run["job"] and record["trigger"]["S"] == "operator:notebook: from a notebook"
