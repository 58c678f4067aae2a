"""The embedded emulator and a deployed team stack, shared by the integration tests.

Under pytest-xdist every worker has its own session (its own emulator and fixtures), so the tests that
read or drive the applied stack are put in one xdist group: `--dist loadgroup` runs them on one worker,
in file order, and the stack is applied once. Every other test is spread over the workers.

Tests that only read share the applied stack as it is (`deployed_stack`). A test that needs it exactly
as applied, after others changed it, asks for `pristine_stack`: the emulator state saved right after
the apply is restored (about a second) instead of applying again (a minute or more).

The promotion's target stack (`fraud-localprod`, another account of the same emulator) is applied at the
same time as `fraud-local`: both applies wait out the provider's client-side lifecycle waits together
(about a minute whatever the backend does), so the promotion tests need no emulator and applies of their
own (measured: ~100 s of a worker and a third Terraform apply saved per run).
"""

from __future__ import annotations

import os
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from config.platform import load_config, with_emulator_override
from emulator.promotion import apply_in_parallel
from emulator.server import ROOT, Emulator
from emulator.terraform import Terraform
from tests.synth import synth

STACK = "fraud-local"
PROMOTION_TARGET = "fraud-localprod"  # the account `local` promotes to (platform.yaml)
STACK_GROUP = f"applied-{STACK}"


@pytest.hookimpl(tryfirst=True)  # before tests/conftest.py groups the rest by module
def pytest_collection_modifyitems(items):
    for item in items:
        if "deployed_stack" in item.fixturenames:  # pristine_stack and loop depend on it too
            item.add_marker(pytest.mark.xdist_group(STACK_GROUP))


@pytest.fixture(scope="session")
def emulator():
    # The server's stderr (a line per request, tracebacks) is kept per xdist worker: evidence if a run fails.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    log = ROOT / ".mlp" / "logs" / f"emulator-{worker}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_bytes(b"")
    server = Emulator(log=log).start()
    yield server
    server.stop()


# A 500 from the emulator (an unpatched moto gap) should fail a test at once, not after retries.
NO_RETRIES = Config(retries={"max_attempts": 1, "mode": "standard"})


@pytest.fixture(scope="session")
def aws(emulator):
    """boto3 clients bound to the emulator: aws("s3").list_buckets()."""
    env = emulator.client_env()
    session = boto3.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_DEFAULT_REGION"],
    )
    return lambda service: session.client(service, endpoint_url=emulator.endpoint, config=NO_RETRIES)


@pytest.fixture(scope="session")
def deployed_stack(emulator, tmp_path_factory, monkeypatch_session):
    """`fraud-local` applied with real Terraform (and `fraud-localprod` with it, for the promotion tests);
    `fraud-local` destroyed at the end. The snapshot `STACK` holds both as applied."""
    monkeypatch_session.setenv("MLP_EMULATOR_ENDPOINT", emulator.endpoint)
    config = with_emulator_override(load_config())
    stacks = synth(config, tmp_path_factory.mktemp("cdktf.out"), [STACK, PROMOTION_TARGET])
    apply_in_parallel([Path(stacks[name].directory) for name in (STACK, PROMOTION_TARGET)], emulator.client_env())
    synthesized = stacks[STACK]
    terraform = Terraform(Path(synthesized.directory), env=emulator.client_env())
    emulator.snapshot(STACK)
    yield terraform, synthesized
    # Like AWS, a model package group with packages cannot be deleted: the loop tests register some.
    sagemaker = boto3.client(
        "sagemaker",
        endpoint_url=emulator.endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    group = f"mlp-{STACK}-models"
    for package in sagemaker.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]:
        sagemaker.delete_model_package(ModelPackageName=package["ModelPackageArn"])
    terraform.destroy()


@pytest.fixture
def pristine_stack(deployed_stack, emulator):
    """`deployed_stack` as it was right after the apply (whatever earlier tests changed)."""
    emulator.restore(STACK)
    return deployed_stack


@pytest.fixture(scope="session")
def monkeypatch_session():
    with pytest.MonkeyPatch.context() as patch:
        yield patch
