"""Policy scan: checkov over every synthesized stack of the example config; zero unexplained findings.

checkov runs from its own virtualenv (.venv-scan, made by scripts/setup.sh): it pins an older boto3
than the project. Accepted findings are listed, with reasons, in security/checkov_skips.yaml.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHECKOV = ROOT / ".venv-scan" / "bin" / "checkov"
SKIPS = yaml.safe_load((ROOT / "security" / "checkov_skips.yaml").read_text())


def scan(stack_dir: Path) -> dict:
    result = subprocess.run(
        [
            str(CHECKOV),
            "-f",
            str(stack_dir / "cdk.tf.json"),
            "--framework",
            "terraform_json",
            "--output",
            "json",
            "--quiet",
            "--compact",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = json.loads(result.stdout or "{}")
    return report[0] if isinstance(report, list) else report


def accepted(check_id: str, resource: str) -> bool:
    return any(s["check"] == check_id and re.search(s["resources"], resource) for s in SKIPS)


def test_every_skip_has_a_reason_and_a_scope():
    for skip in SKIPS:
        assert re.fullmatch(r"CKV2?_AWS_\d+", skip["check"]), skip
        assert skip["resources"] and len(skip["reason"]) > 40, skip


@pytest.fixture(scope="module")
def reports(stacks):
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} is missing: run `bash scripts/setup.sh` (it installs requirements-scan.txt)")
    return {name: scan(stack.directory) for name, stack in stacks.items()}


def test_no_unexplained_findings_in_any_stack(reports):
    unexplained = []
    for name, report in reports.items():
        assert report.get("summary", {}).get("passed", 0) > 0, f"{name}: checkov passed nothing; did it scan? {report}"
        for failed in report.get("results", {}).get("failed_checks", []):
            if not accepted(failed["check_id"], failed["resource"]):
                unexplained.append(f"{name}: {failed['check_id']} {failed['check_name']} on {failed['resource']}")
    assert not unexplained, (
        "new policy findings (fix them, or add a scoped reason to security/checkov_skips.yaml):\n" + "\n".join(unexplained)
    )


def test_every_skip_is_still_needed(reports):
    used = {
        skip["check"]
        for report in reports.values()
        for failed in report.get("results", {}).get("failed_checks", [])
        for skip in SKIPS
        if skip["check"] == failed["check_id"] and re.search(skip["resources"], failed["resource"])
    }
    assert used == {s["check"] for s in SKIPS}, f"skips that match nothing any more: {sorted({s['check'] for s in SKIPS} - used)}"
