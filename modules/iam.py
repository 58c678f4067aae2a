"""The IAM vocabulary every construct writes its policies with: trust policies, the team key's action
sets, object and listing grants under prefixes, parameter reads, and a statement list that refuses a
repeated Sid (AWS refuses a policy whose Sids repeat; a copy-paste that repeats one is caught at synth).

Terraform tokens (ARNs of this stack's resources) inside the JSON text are resolved by cdktf at
synth time, so plain `json.dumps` is enough for these documents.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

Statement = dict[str, Any]
OneOrMany = str | Sequence[str]

# The team key (KMS). Decrypt reads SSE-KMS objects, encrypted parameters, queues and variables;
# GenerateDataKey writes them; DescribeKey lets a service check the key before it uses it.
KEY_DECRYPT = ["kms:Decrypt"]
KEY_READ_WRITE = ["kms:Decrypt", "kms:GenerateDataKey"]
KEY_USE = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
# SageMaker creates grants on the key for the volumes and outputs of the jobs and endpoints it runs.
KEY_USE_WITH_GRANTS = [*KEY_USE, "kms:CreateGrant"]

OBJECT_READ = ["s3:GetObject", "s3:GetObjectVersion"]  # an object, or one exact version of it (manifests pin them)
OBJECT_WRITE = ["s3:PutObject", "s3:AbortMultipartUpload"]  # large objects go up in parts: a failed upload is aborted
# Pull an image: its manifest, its layers' download URLs, and which layers exist.
IMAGE_PULL = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]


def policy_document(statements: list[Statement]) -> str:
    unique_sids(statements)
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def unique_sids(statements: Iterable[Statement]) -> None:
    """Refuse a policy whose statement ids repeat (AWS: "Statement IDs (SID) must be unique")."""
    seen: set[str] = set()
    for statement in statements:
        sid = statement.get("Sid")
        if sid is None:
            continue
        if sid in seen:
            raise ValueError(f"duplicate statement id {sid!r} in one policy")
        seen.add(sid)


def allow(
    sid: str,
    actions: OneOrMany,
    resources: OneOrMany | None,
    condition: dict[str, Any] | None = None,
    principal: dict[str, Any] | str | None = None,
) -> Statement:
    """One Allow statement; a single action or resource stays a string, as AWS prints it. `resources=None`
    (explicit) leaves `Resource` out: an ECR repository policy's statements apply to their repository."""
    return _statement(sid, "Allow", actions, resources, condition, principal)


def deny(
    sid: str,
    actions: OneOrMany,
    resources: OneOrMany | None,
    condition: dict[str, Any] | None = None,
    principal: dict[str, Any] | str | None = None,
) -> Statement:
    return _statement(sid, "Deny", actions, resources, condition, principal)


def _statement(
    sid: str,
    effect: str,
    actions: OneOrMany,
    resources: OneOrMany | None,
    condition: dict[str, Any] | None,
    principal: dict[str, Any] | str | None,
) -> Statement:
    statement: Statement = {"Sid": sid, "Effect": effect}
    if principal is not None:
        statement["Principal"] = principal
    statement["Action"] = actions if isinstance(actions, str) else list(actions)
    if resources is not None:
        statement["Resource"] = resources if isinstance(resources, str) else list(resources)
    if condition:
        statement["Condition"] = condition
    return statement


def use_key(sid: str, key_arn: str, actions: Sequence[str] = KEY_USE) -> Statement:
    return allow(sid, list(actions), key_arn)


def under(bucket_arn: str, prefixes: Iterable[str]) -> list[str]:
    """Object ARNs under each prefix of the bucket (`arn/prefix*`)."""
    return [f"{bucket_arn}/{prefix}*" for prefix in prefixes]


def read_objects(sid: str, bucket_arn: str, prefixes: Iterable[str], *, versions: bool = True) -> Statement:
    """Get objects (and, with `versions`, exact versions of them) under the prefixes."""
    return allow(sid, OBJECT_READ if versions else "s3:GetObject", under(bucket_arn, prefixes))


def write_objects(sid: str, bucket_arn: str, prefixes: Iterable[str], actions: OneOrMany = "s3:PutObject") -> Statement:
    return allow(sid, actions, under(bucket_arn, prefixes))


def list_prefixes(sid: str, bucket_arn: str, prefixes: Iterable[str], actions: OneOrMany = "s3:ListBucket") -> Statement:
    """List the bucket, only under the prefixes (the `s3:prefix` condition)."""
    return allow(sid, actions, bucket_arn, {"StringLike": {"s3:prefix": [f"{prefix}*" for prefix in prefixes]}})


def read_parameters(sid: str, parameter_arns: OneOrMany) -> Statement:
    return allow(sid, "ssm:GetParameter", parameter_arns)


def deny_insecure_transport(actions: OneOrMany, resources: OneOrMany) -> Statement:
    """Refuse every request over plain HTTP (resource policies of buckets and topics)."""
    return deny("DenyInsecureTransport", actions, resources, {"Bool": {"aws:SecureTransport": "false"}}, principal="*")


def trust_policy(principal: dict, condition: dict) -> str:
    """Who may assume a role, and on what condition (e.g. only on behalf of this account)."""
    return policy_document([{"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole", "Condition": condition}])


def service_trust_policy(service: str, account_id: str) -> str:
    """Only `service`, and only on behalf of this account (the confused-deputy guard)."""
    return trust_policy({"Service": service}, {"StringEquals": {"aws:SourceAccount": account_id}})
