"""Synth assertions for the foundation: stacks, provider, backend, data lake and registry."""

from __future__ import annotations

import json

import pytest

from config.platform import UnknownStackError, select_stacks

REAL = ["fraud-dev", "fraud-prod", "recsys-dev", "recsys-prod"]
EMULATOR = ["fraud-local", "recsys-local"]


def test_one_stack_per_team_and_environment(stacks, example_config):
    assert sorted(stacks) == sorted(example_config.stack_names())
    assert len(stacks) >= 4


def test_provider_pinned_and_tagged(stacks):
    for name, stack in stacks.items():
        assert stack.document["terraform"]["required_providers"]["aws"]["version"] == "5.100.0"
        provider = stack.document["provider"]["aws"][0]
        team, env = name.split("-")
        tags = provider["default_tags"][0]["tags"]
        assert tags["Team"] == team and tags["Environment"] == env and tags["ManagedBy"]
        assert tags["CostCenter"] == {"fraud": "CC-1001", "recsys": "CC-2002"}[team]


@pytest.mark.parametrize("name", REAL)
def test_real_environments_allowed_accounts_and_locked_s3_state(stacks, name, example_config):
    stack = stacks[name]
    env = example_config.environment(name.split("-")[1])
    provider = stack.document["provider"]["aws"][0]
    assert provider["allowed_account_ids"] == [env.account_id]
    assert "endpoints" not in provider and "skip_credentials_validation" not in provider
    backend = stack.document["terraform"]["backend"]["s3"]
    assert backend["bucket"] == env.state_backend.bucket
    assert backend["key"].endswith(f"/{name}.tfstate")
    assert backend["encrypt"] is True and backend["use_lockfile"] is True


@pytest.mark.parametrize("name", EMULATOR)
def test_emulator_environments_use_endpoints_and_local_state(stacks, name):
    stack = stacks[name]
    provider = stack.document["provider"]["aws"][0]
    endpoints = provider["endpoints"][0]
    for service in ("s3", "kms", "iam", "sts", "sagemaker", "ecr"):
        assert endpoints[service].startswith("http://127.0.0.1")
    assert provider["skip_credentials_validation"] and provider["skip_requesting_account_id"]
    assert provider["s3_use_path_style"] is True
    assert provider["max_retries"] <= 2
    assert "allowed_account_ids" not in provider
    assert "local" in stack.document["terraform"]["backend"]


def test_buckets_are_versioned_encrypted_private_and_logged(stacks):
    for name, stack in stacks.items():
        buckets = stack.resources("aws_s3_bucket")
        assert len(buckets) == 4, name
        versioning = stack.resources("aws_s3_bucket_versioning")
        assert len(versioning) == 4
        assert all(v["versioning_configuration"]["status"] == "Enabled" for v in versioning.values())
        for block in stack.resources("aws_s3_bucket_public_access_block").values():
            assert all(
                block[k] is True
                for k in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
            )
        assert len(stack.resources("aws_s3_bucket_public_access_block")) == 4
        for purpose in ("raw", "curated", "artifacts"):
            sse = stack.by_path(f"data-lake/{purpose}-encryption")["rule"][0]["apply_server_side_encryption_by_default"]
            assert sse["sse_algorithm"] == "aws:kms"
            assert "aws_kms_key.data-lake_key" in sse["kms_master_key_id"]
            logging = stack.by_path(f"data-lake/{purpose}-logging")
            assert "aws_s3_bucket.data-lake_logs" in logging["target_bucket"]
        # S3 server access logs can only be delivered to an SSE-S3 bucket.
        assert (
            stack.by_path("data-lake/logs-encryption")["rule"][0]["apply_server_side_encryption_by_default"]["sse_algorithm"]
            == "AES256"
        )


def test_bucket_policies_deny_plain_http_and_uploads_without_kms(stacks):
    stack = stacks["fraud-dev"]
    for purpose in ("raw", "curated", "artifacts"):
        policy = json.loads(stack.by_path(f"data-lake/{purpose}-policy")["policy"])
        by_sid = {s["Sid"]: s for s in policy["Statement"]}
        tls = by_sid["DenyInsecureTransport"]
        assert tls["Effect"] == "Deny" and tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        kms = by_sid["DenyUploadsWithoutKms"]
        assert kms["Effect"] == "Deny" and kms["Action"] == "s3:PutObject"
        assert kms["Condition"] == {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}}
    logs = json.loads(stack.by_path("data-lake/logs-policy")["policy"])
    grant = next(s for s in logs["Statement"] if s["Sid"] == "AllowS3ServerAccessLogs")
    assert grant["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert grant["Condition"]["StringEquals"]["aws:SourceAccount"] == "111111111111"


def test_noncurrent_versions_expire_after_configured_days(stacks):
    def days(stack, purpose):
        rule = stack.by_path(f"data-lake/{purpose}-lifecycle")["rule"][0]
        return rule["noncurrent_version_expiration"][0]["noncurrent_days"]

    assert days(stacks["fraud-dev"], "curated") == 180  # set in platform.yaml
    assert days(stacks["recsys-dev"], "curated") == 90  # the default
    rule = stacks["fraud-dev"].by_path("data-lake/raw-lifecycle")["rule"][0]
    assert rule["abort_incomplete_multipart_upload"][0]["days_after_initiation"] == 7
    assert rule.get("expiration") in (None, [])  # data never expires by age


def test_team_key_rotates_and_is_aliased(stacks):
    for stack in stacks.values():
        key = stack.only("aws_kms_key")
        assert key["enable_key_rotation"] is True
        policy = json.loads(key["policy"])
        assert any(s["Principal"] == {"AWS": f"arn:aws:iam::{policy_account(stack)}:root"} for s in policy["Statement"])
        assert stack.only("aws_kms_alias")["name"] == f"alias/mlp-{stack.name}"


def policy_account(stack):
    provider = stack.document["provider"]["aws"][0]
    return provider.get("allowed_account_ids", [provider.get("access_key")])[0]  # the emulator's key names its account


@pytest.mark.parametrize("name", REAL)
def test_real_environments_protect_data_from_destroy(stacks, name):
    stack = stacks[name]
    assert stack.only("aws_kms_key")["lifecycle"]["prevent_destroy"] is True
    for purpose in ("raw", "curated", "artifacts"):
        bucket = stack.by_path(f"data-lake/{purpose}")
        assert bucket["lifecycle"]["prevent_destroy"] is True
        assert bucket["force_destroy"] is False


@pytest.mark.parametrize("name", EMULATOR)
def test_emulator_stacks_are_disposable(stacks, name):
    stack = stacks[name]
    assert "lifecycle" not in stack.only("aws_kms_key")
    assert stack.by_path("data-lake/raw")["force_destroy"] is True


def test_bucket_names_follow_the_contract(stacks):
    names = {b["bucket"] for b in stacks["recsys-prod"].resources("aws_s3_bucket").values()}
    assert names == {f"mlp-recsys-prod-{p}-222222222222" for p in ("raw", "curated", "artifacts", "logs")}
    assert all(len(n) <= 63 for n in names)


def test_registry_groups_and_immutable_scanned_encrypted_repositories(stacks):
    stack = stacks["fraud-prod"]
    group = stack.only("aws_sagemaker_model_package_group")
    assert group["model_package_group_name"] == "mlp-fraud-prod-models"
    repositories = {r["name"]: r for r in stack.resources("aws_ecr_repository").values()}
    assert set(repositories) == {"mlp-fraud-prod-training", "mlp-fraud-prod-inference"}
    for repository in repositories.values():
        assert repository["image_tag_mutability"] == "IMMUTABLE"
        assert repository["image_scanning_configuration"]["scan_on_push"] is True
        assert repository["encryption_configuration"][0]["encryption_type"] == "KMS"
        assert "aws_kms_key.data-lake_key" in repository["encryption_configuration"][0]["kms_key"]
    for policy in stack.resources("aws_ecr_lifecycle_policy").values():
        rules = json.loads(policy["policy"])["rules"]
        assert [r["selection"]["tagStatus"] for r in rules] == ["untagged", "any"]


# Construct paths become Terraform addresses: renaming one destroys and recreates the resource.
# This list is a public contract; change it only with a migration note (terraform state mv).
FOUNDATION_ADDRESSES = {
    "data-lake/key",
    "data-lake/key-alias",
    *(
        f"data-lake/{b}{suffix}"
        for b in ("raw", "curated", "artifacts", "logs")
        for suffix in ("", "-versioning", "-public-access-block", "-ownership", "-encryption", "-lifecycle", "-policy")
    ),
    *(f"data-lake/{b}-logging" for b in ("raw", "curated", "artifacts")),
    "registry/group-models",
    "registry/training",
    "registry/inference",
    "registry/training-lifecycle",
    "registry/inference-lifecycle",
}


def test_construct_ids_are_stable(stacks):
    for stack in stacks.values():
        missing = FOUNDATION_ADDRESSES - stack.addresses()
        assert not missing, f"{stack.name}: construct ids changed or removed: {sorted(missing)}"


def test_select_only_named_stacks(example_config):
    assert select_stacks(example_config, ["recsys-local", "fraud-dev"]) == [("recsys", "local"), ("fraud", "dev")]
    assert len(select_stacks(example_config, None)) == 7
    with pytest.raises(UnknownStackError, match="fraud-qa"):
        select_stacks(example_config, ["fraud-qa"])


def test_synthesizing_named_stacks_writes_only_those(example_config, tmp_path):
    from tests.synth import synth

    only = synth(example_config, tmp_path, ["recsys-dev"])
    assert list(only) == ["recsys-dev"]
