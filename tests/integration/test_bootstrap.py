"""`python main.py bootstrap <env>` on the emulator started empty, like a fresh account: it creates the
state bucket and key once, a second run changes nothing, and the wrong account is refused unchanged."""

from __future__ import annotations

import json

import pytest
import yaml

import main
from config.platform import DEFAULT_CONFIG_FILE
from emulator.server import running_emulator
from ops.bootstrap import tls_only_policy
from tests.integration.clients import client_factory

BUCKET = "mlp-terraform-state-123456789012"


@pytest.fixture(scope="module")
def aws():
    with running_emulator() as emulator, pytest.MonkeyPatch.context() as patch:
        for name, value in emulator.client_env().items():
            patch.setenv(name, value)
        yield client_factory(emulator)


@pytest.fixture
def config_file(tmp_path):
    data = yaml.safe_load(DEFAULT_CONFIG_FILE.read_text())
    # A real environment in the emulator's account (123456789012), and one in another account.
    data["environments"].append({"name": "staging", "account_id": "123456789012", "state_backend": {"bucket": BUCKET}})
    path = tmp_path / "platform.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def run(config_file, environment, capsys):
    code = main.main(["--config", config_file, "bootstrap", environment])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 else None), err


def test_wrong_account_is_refused_before_any_change(aws, config_file, capsys):
    buckets = aws("s3").list_buckets()["Buckets"]
    code, _, err = run(config_file, "dev", capsys)  # dev is account 111111111111
    assert code == 1 and err.count("\n") == 1
    assert "account 123456789012" in err and "111111111111" in err and "nothing was changed" in err
    assert aws("s3").list_buckets()["Buckets"] == buckets
    assert not [a for a in aws("kms").list_aliases()["Aliases"] if a["AliasName"] == "alias/mlp-terraform-state"]


def test_bootstrap_creates_a_locked_down_state_bucket_once(aws, config_file, capsys):
    code, first, _ = run(config_file, "staging", capsys)
    assert code == 0 and first["created"] == ["kms key alias/mlp-terraform-state", f"bucket {BUCKET}"]
    s3, kms = aws("s3"), aws("kms")
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    rule = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": first["kms_key_arn"]}
    assert all(s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"].values())
    assert json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"]) == tls_only_policy(BUCKET)
    assert kms.get_key_rotation_status(KeyId=first["kms_key_arn"])["KeyRotationEnabled"] is True

    code, second, _ = run(config_file, "staging", capsys)  # idempotent
    assert code == 0 and second["created"] == [] and second["kms_key_arn"] == first["kms_key_arn"]
    assert second["existing"] == ["kms key alias/mlp-terraform-state", f"bucket {BUCKET}"]
    assert len([a for a in kms.list_aliases()["Aliases"] if a["AliasName"] == "alias/mlp-terraform-state"]) == 1


def test_unknown_environment_and_missing_named_key_are_one_line_errors(aws, config_file, tmp_path, capsys):
    code, _, err = run(config_file, "nope", capsys)
    assert code == 1 and err == "error: unknown environment 'nope'; the config has dev, prod, local, localprod, staging\n"
    data = yaml.safe_load(open(config_file))
    data["environments"][-1]["state_backend"]["kms_key_id"] = "alias/not-there"
    path = tmp_path / "named-key.yaml"
    path.write_text(yaml.safe_dump(data))
    code, _, err = run(str(path), "staging", capsys)
    assert code == 1 and "alias/not-there" in err and "does not exist" in err
