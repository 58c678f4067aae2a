"""IAM policy documents shared by the constructs (one shape for every trust and identity policy).

Terraform tokens (ARNs of this stack's resources) inside the JSON text are resolved by cdktf at
synth time, so plain `json.dumps` is enough for these documents.
"""
from __future__ import annotations

import json


def policy_document(statements: list[dict]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def trust_policy(principal: dict, condition: dict) -> str:
    """Who may assume a role, and on what condition (e.g. only on behalf of this account)."""
    return policy_document([{"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole", "Condition": condition}])


def service_trust_policy(service: str, account_id: str) -> str:
    """Only `service`, and only on behalf of this account (the confused-deputy guard)."""
    return trust_policy({"Service": service}, {"StringEquals": {"aws:SourceAccount": account_id}})
