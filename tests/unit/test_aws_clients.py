"""common.aws clients: one cached client per service, and session_scope, which runs handler code under
other credentials (the emulator's IAM check) without touching the process environment."""

from __future__ import annotations

import os

import boto3

from common import aws


def access_key(client) -> str:
    return client._request_signer._credentials.access_key


def test_a_session_scope_gives_clients_of_its_session_and_leaves_the_environment(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "default-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "default-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    aws.reset_clients()
    environment = dict(os.environ)
    role = boto3.Session(aws_access_key_id="role-key", aws_secret_access_key="s", region_name="us-east-1")
    other = boto3.Session(aws_access_key_id="other-key", aws_secret_access_key="s", region_name="us-east-1")
    try:
        outside = aws.client("s3")
        with aws.session_scope(role):
            inside = aws.client("s3")
            assert access_key(inside) == "role-key" and aws.client("s3") is inside  # cached in the scope
            with aws.session_scope(other):
                assert access_key(aws.client("s3")) == "other-key"
            assert aws.client("s3") is inside
            assert dict(os.environ) == environment
        assert aws.client("s3") is outside and access_key(outside) == "default-key"
        with aws.session_scope(role):
            assert aws.client("s3") is not inside  # a new scope's clients are its own
    finally:
        aws.reset_clients()
