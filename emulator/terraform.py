"""Run real Terraform offline against a synthesized stack: init from the local provider mirror, apply,
plan, destroy.

The registry cannot be reached here, so Terraform needs a CLI config whose `provider_installation`
uses a filesystem mirror. Its location comes from $MLP_TF_PROVIDER_MIRROR (the scripts find it;
DESIGN.md says how), never from a path in the code.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

MIRROR_ENV_VAR = "MLP_TF_PROVIDER_MIRROR"
# Go's garbage collector runs a quarter as often (its default is 100). Terraform starts the AWS provider three
# times per plan, and each start builds the provider's whole schema (~1500 resource types): most of a
# command's CPU. Measured on `terraform validate` of a team stack: 4.7 s of CPU instead of 6.4 s, the
# provider's peak memory ~480 MB instead of ~350 MB. A GOGC set by the caller wins.
GO_GC_PERCENT = "400"


class TerraformError(RuntimeError):
    pass


def provider_mirror() -> Path:
    value = os.environ.get(MIRROR_ENV_VAR)
    if not value:
        raise TerraformError(
            f"${MIRROR_ENV_VAR} is not set: point it at the Terraform provider mirror folder (the one holding "
            "registry.terraform.io/hashicorp/aws/...); `find / -name 'terraform-provider-aws*'` shows where, "
            "and scripts/setup.sh sets it for you"
        )
    path = Path(value)
    if not (path / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
        raise TerraformError(f"${MIRROR_ENV_VAR}={value} holds no registry.terraform.io/hashicorp/aws provider")
    return path


def write_cli_config(directory: Path) -> Path:
    """A Terraform CLI config that installs providers from the mirror only (nothing from the network)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "terraform.rc"
    path.write_text(f'provider_installation {{\n  filesystem_mirror {{\n    path = "{provider_mirror()}"\n  }}\n}}\n')
    return path


@dataclass
class Terraform:
    """Terraform in one synthesized stack folder (cdktf.out/stacks/<name>)."""

    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    binary: str = "terraform"

    def __post_init__(self) -> None:
        if shutil.which(self.binary) is None:
            raise TerraformError(f"{self.binary} is not on PATH; Terraform >= 1.10 is required")
        config = write_cli_config(self.workdir / ".mlp")
        self._env = {
            "GOGC": GO_GC_PERCENT,
            **os.environ,
            **self.env,
            "TF_CLI_CONFIG_FILE": str(config),
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "CHECKPOINT_DISABLE": "1",
        }

    def set_log(self, path: Path | None) -> None:
        """Write Terraform's DEBUG log (every provider request and response) of the next runs to `path`."""
        for key in ("TF_LOG", "TF_LOG_PATH"):
            self._env.pop(key, None)
        if path is not None:
            self._env.update(TF_LOG="DEBUG", TF_LOG_PATH=str(path))

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([self.binary, *args], cwd=self.workdir, env=self._env, capture_output=True, text=True)
        if check and result.returncode != 0:
            raise TerraformError(
                f"terraform {' '.join(args)} failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
            )
        return result

    def init(self) -> None:
        self.run("init", "-no-color", "-input=false")

    def apply(self) -> None:
        self.run("apply", "-no-color", "-auto-approve", "-input=false")

    def plan_changes(self) -> str | None:
        """None when the plan is empty; otherwise the plan text (exit code 2 of -detailed-exitcode)."""
        result = self.run("plan", "-no-color", "-input=false", "-detailed-exitcode", check=False)
        if result.returncode == 0:
            return None
        if result.returncode == 2:
            return result.stdout
        raise TerraformError(f"terraform plan failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")

    def destroy(self) -> None:
        self.run("destroy", "-no-color", "-auto-approve", "-input=false")

    def outputs(self) -> dict[str, str]:
        import json

        raw = json.loads(self.run("output", "-json").stdout or "{}")
        return {name: value["value"] for name, value in raw.items()}
