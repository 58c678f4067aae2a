"""modules/iam.py: the statement builders keep AWS's shapes, and a repeated Sid is refused at synth."""

from __future__ import annotations

import json

import pytest

from modules.iam import (
    IMAGE_PULL,
    KEY_USE,
    KEY_USE_WITH_GRANTS,
    OBJECT_WRITE,
    allow,
    deny_insecure_transport,
    list_prefixes,
    policy_document,
    read_objects,
    write_objects,
)


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
            ("aws_iam_policy", "policy"),
            ("aws_ecr_repository_policy", "policy"),
            ("aws_sagemaker_model_package_group_policy", "resource_policy"),
        ):
            for name, body in stack.resources(resource_type).items():
                sids = [s["Sid"] for s in json.loads(body[attribute])["Statement"] if "Sid" in s]
                assert len(sids) == len(set(sids)), f"{stack.name} {resource_type}.{name}: {sids}"


def test_a_statement_of_a_repository_policy_names_no_resource_and_the_action_sets_keep_their_order():
    pull = allow("Pull", IMAGE_PULL, None, principal={"AWS": "arn:aws:iam::222222222222:root"})
    assert "Resource" not in pull and pull["Action"] == [
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
        "ecr:BatchCheckLayerAvailability",
    ]
    assert write_objects("W", "arn:b", ["m/"], OBJECT_WRITE) == {
        "Sid": "W",
        "Effect": "Allow",
        "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
        "Resource": ["arn:b/m/*"],
    }


def test_the_data_lake_refuses_a_grant_that_repeats_one_of_its_own_sids():
    from modules.data_lake import DataLake, DataLakeProps
    from tests.synth import bare_stack, team_context

    grant = allow(
        "DenyInsecureTransport", "s3:GetObject", "arn:aws:s3:::b/*", principal={"AWS": "arn:aws:iam::222222222222:root"}
    )
    with pytest.raises(ValueError, match="duplicate statement id 'DenyInsecureTransport'"):
        DataLake(bare_stack(), "data-lake", DataLakeProps(context=team_context(), extra_bucket_statements={"curated": [grant]}))


def test_the_promotion_module_names_the_registrys_repositories():
    """modules/promotion derives the repository ARNs of either side from names (its import stays
    provider-free for the CLI); they must be the registry's."""
    from modules.promotion import REPOSITORIES
    from modules.registry import IMAGE_REPOSITORIES

    assert REPOSITORIES == IMAGE_REPOSITORIES
