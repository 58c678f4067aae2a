"""modules/iam.py: the statement builders keep AWS's shapes, and a repeated Sid is refused at synth."""

from __future__ import annotations

import json

import pytest

from modules.iam import KEY_USE, KEY_USE_WITH_GRANTS, allow, deny_insecure_transport, list_prefixes, policy_document, read_objects


def test_statement_shapes():
    assert allow("A", "s3:GetObject", "arn:b/k") == {
        "Sid": "A",
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": "arn:b/k",
    }
    assert read_objects("R", "arn:b", ["x/", "y/"])["Resource"] == ["arn:b/x/*", "arn:b/y/*"]
    assert list_prefixes("L", "arn:b", ["x/"])["Condition"] == {"StringLike": {"s3:prefix": ["x/*"]}}
    deny = deny_insecure_transport("sns:Publish", "arn:t")
    assert (
        deny["Effect"] == "Deny" and deny["Principal"] == "*" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    )
    assert set(KEY_USE) < set(KEY_USE_WITH_GRANTS) and "kms:CreateGrant" not in KEY_USE


def test_a_repeated_sid_is_refused():
    with pytest.raises(ValueError, match="duplicate statement id 'TeamKey'"):
        policy_document([allow("TeamKey", "kms:Decrypt", "k"), allow("TeamKey", "kms:Encrypt", "k")])
    assert json.loads(policy_document([allow("A", "x:Y", "*"), allow("B", "x:Y", "*")]))["Version"] == "2012-10-17"


def test_every_synthesized_policy_has_unique_sids(stacks):
    for stack in stacks.values():
        for resource_type, attribute in (
            ("aws_iam_role_policy", "policy"),
            ("aws_s3_bucket_policy", "policy"),
            ("aws_sns_topic_policy", "policy"),
            ("aws_kms_key", "policy"),
        ):
            for name, body in stack.resources(resource_type).items():
                sids = [s["Sid"] for s in json.loads(body[attribute])["Statement"] if "Sid" in s]
                assert len(sids) == len(set(sids)), f"{stack.name} {resource_type}.{name}: {sids}"
