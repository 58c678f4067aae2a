"""Synthesize stacks in-process and read them back as Terraform JSON, for assertions."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stacks.app import build_app
from config.platform import PlatformConfig


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


def synth(config: PlatformConfig, outdir: Path, stacks: list[str] | None = None) -> dict[str, SynthesizedStack]:
    build_app(config, stacks, outdir=str(outdir)).synth()
    result = {}
    for directory in sorted((outdir / "stacks").iterdir()):
        document = json.loads((directory / "cdk.tf.json").read_text())
        result[directory.name] = SynthesizedStack(directory.name, document, directory)
    return result
