"""The cdktf workflow as a platform engineer runs it, offline, against an emulator started empty like a
fresh account: `npx cdktf deploy`, `npx cdktf diff` (no changes), `npx cdktf destroy` (nothing left,
the deploy handler's endpoint included).

What a user sets, and nothing else (README, "Deploying"): the Terraform CLI config that `python main.py
emulator` prints (TF_CLI_CONFIG_FILE: providers from the offline mirror), the emulator's environment it
prints, MLP_STACKS, and `--skip-provider-lock` (cdktf otherwise runs `terraform providers lock`, which
reads the registry, not the mirror); `destroy` right after `diff` adds `--skip-synth`. The project runs
from a scratch folder with its own cdktf.json, so the local state and cdktf.out of this test stay out of
the repository.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from emulator.server import running_emulator
from emulator.terraform import write_cli_config
from tests.integration.clients import client_factory

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
STACK = "fraud-local"
CDKTF = ROOT / "node_modules" / ".bin" / "cdktf"


def cdktf(workdir: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(CDKTF), *args], cwd=workdir, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, (
        f"cdktf {' '.join(args)} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result


@pytest.mark.skipif(not CDKTF.exists(), reason="cdktf-cli is installed by scripts/setup.sh (npm ci)")
def test_cdktf_deploy_diff_destroy_of_a_team_stack(tmp_path):
    workdir = tmp_path / "project"
    workdir.mkdir()
    (workdir / "cdktf.json").write_text(
        json.dumps({**json.loads((ROOT / "cdktf.json").read_text()), "app": f"{sys.executable} {ROOT / 'main.py'}"})
    )
    with running_emulator() as emulator:
        aws = client_factory(emulator)
        env = {
            **os.environ,
            **emulator.client_env(),
            "MLP_STACKS": STACK,
            "MLP_CONFIG": str(ROOT / "platform.yaml"),
            "TF_CLI_CONFIG_FILE": str(write_cli_config(tmp_path / "terraform")),
            "CHECKPOINT_DISABLE": "1",
            "CI": "1",
        }

        cdktf(workdir, env, "deploy", STACK, "--auto-approve", "--skip-provider-lock")
        assert aws("sagemaker").list_endpoints()["Endpoints"] == []  # no GPU bills before an approved model
        functions = [f["FunctionName"] for f in aws("lambda").list_functions()["Functions"]]
        assert sorted(functions) == sorted(
            f"mlp-{STACK}-{h}" for h in ("retrain", "register", "deploy", "drift-check", "quality-check")
        )

        diff = cdktf(workdir, env, "diff", STACK, "--skip-provider-lock")
        assert "No changes" in diff.stdout, diff.stdout[-3000:]

        # The deploy handler's endpoint, as after a first approval: destroy must remove it too.
        _endpoint_as_the_deploy_handler_leaves_it(aws)
        # `diff` has just synthesized the same app again (and found nothing to change): destroy uses that
        # output as it is (a third synth is a Node and a Python start and the stack built again, for nothing).
        cdktf(workdir, env, "destroy", STACK, "--auto-approve", "--skip-provider-lock", "--skip-synth")
        sagemaker = aws("sagemaker")
        assert sagemaker.list_endpoints()["Endpoints"] == []
        assert sagemaker.list_models()["Models"] == [] and sagemaker.list_endpoint_configs()["EndpointConfigs"] == []
        assert aws("lambda").list_functions()["Functions"] == []
        assert aws("application-autoscaling").describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"] == []
    state = json.loads((workdir / "cdktf.out" / "stacks" / STACK / f"terraform.{STACK}.tfstate").read_text())
    assert state["resources"] == []


def _endpoint_as_the_deploy_handler_leaves_it(aws) -> None:
    """Model, config, endpoint and scalable target named and tagged as common/endpoint.py does."""
    prefix, tags = (
        f"mlp-{STACK}",
        [
            {"Key": "Team", "Value": "fraud"},
            {"Key": "Environment", "Value": "local"},
            {"Key": "mlp:model-package-version", "Value": "1"},
        ],
    )
    sagemaker = aws("sagemaker")
    sagemaker.create_model(
        ModelName=f"{prefix}-v1",
        ExecutionRoleArn=f"arn:aws:iam::123456789012:role/{prefix}-sagemaker",
        PrimaryContainer={"Image": "763104351884.dkr.ecr.us-east-1.amazonaws.com/x:1"},
        Tags=tags,
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=f"{prefix}-v1-0123abcd",
        Tags=tags,
        ProductionVariants=[
            {"VariantName": "primary", "ModelName": f"{prefix}-v1", "InstanceType": "ml.g5.xlarge", "InitialInstanceCount": 1}
        ],
    )
    sagemaker.create_endpoint(EndpointName=prefix, EndpointConfigName=f"{prefix}-v1-0123abcd", Tags=tags)
    assert sagemaker.describe_endpoint(EndpointName=prefix)["EndpointStatus"] == "InService"
    aws("application-autoscaling").register_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId=f"endpoint/{prefix}/variant/primary",
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
        MinCapacity=1,
        MaxCapacity=2,
    )
