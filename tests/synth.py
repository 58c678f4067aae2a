"""Synthesize stacks in-process and read them back as Terraform JSON, for assertions."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config.platform import PlatformConfig
from contract.names import TeamContext
from stacks.app import build_app


@dataclass
class SynthesizedStack:
    name: str
    document: dict[str, Any]
    directory: Path

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return self.document.get("resource", {}).get(resource_type, {})

    def only(self, resource_type: str) -> dict[str, Any]:
        found = self.resources(resource_type)
        assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
        return next(iter(found.values()))

    def addresses(self) -> set[str]:
        """Every resource's construct path (`data-lake/raw`), the stable part of its Terraform address."""
        return {
            body["//"]["metadata"]["path"].split("/", 1)[1]
            for resources in self.document.get("resource", {}).values()
            for body in resources.values()
        }

    def by_path(self, path: str) -> dict[str, Any]:
        for resources in self.document.get("resource", {}).values():
            for body in resources.values():
                if body["//"]["metadata"]["path"].split("/", 1)[1] == path:
                    return body
        raise KeyError(path)


def team_context(team: str = "fraud", environment: str = "dev", *, emulator: bool = False) -> TeamContext:
    """A TeamContext for constructs tested on a bare stack (no config file)."""
    return TeamContext("mlp", team, environment, "111111111111", "us-east-1", "CC-1", is_emulator=emulator)


def bare_stack(name: str = "bare") -> Any:
    """An empty stack in a test app: the AWS CDK way of testing one construct with chosen props."""
    import cdktf
    from cdktf_cdktf_provider_aws.provider import AwsProvider

    import modules  # noqa: F401  (the fast provider loader, before any provider import)

    stack = cdktf.TerraformStack(cdktf.Testing.app(), name)
    AwsProvider(stack, "aws", region="us-east-1")
    return stack


def synth_bare(stack: Any) -> SynthesizedStack:
    """The bare stack's Terraform JSON, with each resource's construct path (a full synth to a temp dir)."""
    import cdktf

    directory = Path(cdktf.Testing.full_synth(stack)) / "stacks" / stack.node.id
    return SynthesizedStack(stack.node.id, json.loads((directory / "cdk.tf.json").read_text()), directory)


def synth(config: PlatformConfig, outdir: Path, stacks: list[str] | None = None) -> dict[str, SynthesizedStack]:
    build_app(config, stacks, outdir=str(outdir)).synth()
    result = {}
    for directory in sorted((outdir / "stacks").iterdir()):
        document = json.loads((directory / "cdk.tf.json").read_text())
        result[directory.name] = SynthesizedStack(directory.name, document, directory)
    return result
