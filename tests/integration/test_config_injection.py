"""Config text that validation accepts with template syntax in it is never evaluated by Terraform.

Validation refuses `${` and `%{` in every string field except the free-text fields the stack escapes
(tests/unit/test_config_trust.py walks the schema and finds exactly which those are). Here canaries are
planted in those fields, the stack is synthesized and `terraform plan` runs on the emulator: neither the
plan nor its JSON (sensitive values included) may hold what the canary would produce, and the canary's
text itself must reach the plan verbatim. A positive control un-escapes the synthesized file and shows
the same plan then does read the file, so the check can fail.
"""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path

import pytest

from config.platform import parse_config, with_emulator_override
from emulator.terraform import Terraform
from tests.config_cases import ACCEPTED_ESCAPED_FIELDS, example, plant
from tests.synth import synth

pytestmark = pytest.mark.integration
STACK = "fraud-local"


def plan_text(terraform: Terraform, targets: list[str]) -> str:
    """The plan of the resources holding the canaries (and what they depend on), as text and as JSON."""
    shown = terraform.run("plan", "-no-color", "-input=false", "-out=canary.plan", *(f"-target={t}" for t in targets))
    return shown.stdout + terraform.run("show", "-no-color", "-json", "canary.plan").stdout


def test_escaped_fields_reach_the_plan_verbatim(emulator, tmp_path, monkeypatch):
    mark = f"directive-{secrets.token_hex(6)}"
    # No quotes in the canary: it must stay a valid template once the escaping is removed (the control).
    canary = f"A ${{base64encode(path.cwd)}} B %{{ if true }}{mark}%{{ endif }} C"
    data = example()
    for path in ACCEPTED_ESCAPED_FIELDS:
        data = plant(data, path, canary)
    monkeypatch.setenv("MLP_EMULATOR_ENDPOINT", emulator.endpoint)
    config = with_emulator_override(parse_config(data))
    stack = synth(config, tmp_path / "cdktf.out", [STACK])[STACK]
    directory = Path(stack.directory).resolve()
    evaluated = base64.b64encode(str(directory).encode()).decode()
    targets = [
        f"{kind}.{name}"
        for kind, resources in stack.document["resource"].items()
        for name, body in resources.items()
        if "base64encode(path.cwd)" in json.dumps(body)
    ]
    assert len(targets) == len(ACCEPTED_ESCAPED_FIELDS), targets  # the definitions object and the training recipe
    terraform = Terraform(directory, env=emulator.client_env())
    terraform.init()

    plan = plan_text(terraform, targets)
    assert evaluated not in plan, "Terraform evaluated an interpolation from the config"
    assert f"B {mark} C" not in plan, "Terraform ran a template directive from the config"
    # Verbatim: the description (a plain attribute) and the hyperparameter (inside jsonencode), as written.
    assert plan.count("A ${base64encode(path.cwd)} B %{ if true }") >= len(ACCEPTED_ESCAPED_FIELDS), plan[-3000:]

    # Positive control: the same stack without the escaping makes Terraform evaluate both.
    document = directory / "cdk.tf.json"
    document.write_text(document.read_text().replace("$${", "${").replace("%%{", "%{"))
    unescaped = plan_text(terraform, targets)
    assert evaluated in unescaped and f"B {mark} C" in unescaped
