"""Security invariants over every synthesized stack of the example config (not per module): whatever a
construct adds later, these hold for all of it or CI fails."""

from __future__ import annotations

import json
import re

MUTATING = re.compile(
    r":(Put|Create|Delete|Update|Attach|Detach|Set|Add|Remove|Tag|Untag|Modify|Start|Stop|Invoke|Pass|Send|Publish|Write|Batch|Restore|Disable|Enable|Schedule|Terminate|Replace|Associate|Disassociate|Register|Deregister)",
    re.I,
)
REQUIRED_TAGS = ("Team", "Environment", "CostCenter")


def iam_documents(stack):
    """(address, statement) for every identity and resource policy statement in the stack."""
    fields = {
        "aws_iam_role_policy": "policy",
        "aws_iam_policy": "policy",
        "aws_s3_bucket_policy": "policy",
        "aws_sns_topic_policy": "policy",
        "aws_kms_key": "policy",
        "aws_iam_role": "assume_role_policy",
    }
    for resource_type, field in fields.items():
        for name, body in stack.resources(resource_type).items():
            if body.get(field):
                for statement in json.loads(body[field])["Statement"]:
                    yield f"{resource_type}.{name}", resource_type, statement


def as_list(value):
    return value if isinstance(value, list) else [value]


def test_every_bucket_versioned_encrypted_private_and_tls_only(stacks):
    for stack in stacks.values():
        buckets = {f"${{aws_s3_bucket.{name}.id}}": body for name, body in stack.resources("aws_s3_bucket").items()}
        versioned = {
            v["bucket"]
            for v in stack.resources("aws_s3_bucket_versioning").values()
            if v["versioning_configuration"]["status"] == "Enabled"
        }
        blocked = {
            b["bucket"]
            for b in stack.resources("aws_s3_bucket_public_access_block").values()
            if all(b[k] for k in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"))
        }
        encryption = {
            e["bucket"]: e["rule"][0]["apply_server_side_encryption_by_default"]["sse_algorithm"]
            for e in stack.resources("aws_s3_bucket_server_side_encryption_configuration").values()
        }
        tls_only = {
            p["bucket"]
            for p in stack.resources("aws_s3_bucket_policy").values()
            if any(
                s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
                for s in json.loads(p["policy"])["Statement"]
            )
        }
        for ref, body in buckets.items():
            assert ref in versioned, f"{stack.name}: {body['bucket']} not versioned"
            assert ref in blocked, f"{stack.name}: {body['bucket']} public access not fully blocked"
            assert ref in tls_only, f"{stack.name}: {body['bucket']} allows plain HTTP"
            # KMS everywhere but the access-log bucket, which S3 can only deliver to with SSE-S3.
            expected = "AES256" if "-logs-" in body["bucket"] else "aws:kms"
            assert encryption.get(ref) == expected, f"{stack.name}: {body['bucket']} encryption {encryption.get(ref)}"


def test_every_kms_key_rotates(stacks):
    for stack in stacks.values():
        for name, key in stack.resources("aws_kms_key").items():
            assert key["enable_key_rotation"] is True, f"{stack.name}: {name}"


def test_no_wildcard_actions_no_mutation_on_star_no_full_access(stacks):
    for stack in stacks.values():
        for address, resource_type, statement in iam_documents(stack):
            if statement["Effect"] != "Allow":
                continue
            actions = as_list(statement.get("Action", []))
            resources = as_list(statement.get("Resource", []))
            if resource_type == "aws_kms_key" and statement.get("Principal") == {"AWS": f"arn:aws:iam::{account(stack)}:root"}:
                continue  # AWS's default key policy: the account administers its key (IAM then grants use)
            assert all(a != "*" and not a.endswith(":*") for a in actions), f"{stack.name}: {address} wildcard action {actions}"
            if "*" in resources and resource_type not in ("aws_kms_key",):
                mutating = [a for a in actions if MUTATING.search(a)]
                # No resource-level permissions (or no ARN before creation): each conditioned instead.
                tagged = {
                    "application-autoscaling:RegisterScalableTarget",
                    "application-autoscaling:PutScalingPolicy",
                    "application-autoscaling:DeregisterScalableTarget",
                }
                allowed = {"cloudwatch:PutMetricData", "ecr:GetAuthorizationToken", *tagged}
                assert set(mutating) <= allowed, f"{stack.name}: {address} mutating {mutating} on *"
                if set(mutating) & {"cloudwatch:PutMetricData"}:
                    assert "cloudwatch:namespace" in json.dumps(statement.get("Condition", {})), address
                if set(mutating) & tagged:
                    condition = statement.get("Condition", {}).get("StringEquals", {})
                    assert {k.split("/")[-1] for k in condition} == {"Team", "Environment"}, address
        for attachment in stack.resources("aws_iam_role_policy_attachment").values():
            assert "FullAccess" not in attachment["policy_arn"], f"{stack.name}: {attachment['policy_arn']}"
        for role in stack.resources("aws_iam_role").values():
            assert not any("FullAccess" in arn for arn in role.get("managed_policy_arns", [])), role["name"]


def account(stack):
    provider = stack.document["provider"]["aws"][0]
    return provider.get("allowed_account_ids", [provider.get("access_key")])[0]  # the emulator's key names its account


def test_every_resource_carries_team_tags(stacks):
    for name, stack in stacks.items():
        team, env = name.split("-")
        tags = stack.document["provider"]["aws"][0]["default_tags"][0]["tags"]
        assert {k: tags[k] for k in ("Team", "Environment")} == {"Team": team, "Environment": env}
        assert tags["CostCenter"]
        for resources in stack.document["resource"].values():
            for address, body in resources.items():
                own = body.get("tags") or {}
                for key in REQUIRED_TAGS:
                    assert own.get(key, tags[key]) == tags[key], f"{name}: {address} overrides {key}"


def test_log_groups_have_retention_and_functions_a_dead_letter_queue(stacks):
    for stack in stacks.values():
        for address, group in stack.resources("aws_cloudwatch_log_group").items():
            assert group.get("retention_in_days"), f"{stack.name}: {address} keeps logs forever"
            assert group.get("kms_key_id"), f"{stack.name}: {address} not encrypted with the team key"
        for address, function in stack.resources("aws_lambda_function").items():
            assert function.get("dead_letter_config", {}).get("target_arn"), f"{stack.name}: {address} has no DLQ"
