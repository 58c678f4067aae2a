"""boto3 clients for the handlers: standard retry mode, endpoint from the environment.

boto3 already honours AWS_ENDPOINT_URL (set by the emulator harness and by LocalStack users), so the
only thing added here is botocore's standard retry mode, which retries throttling and transient
errors with back-off instead of the legacy mode's fixed schedule.
"""
from __future__ import annotations

import functools
import os

import boto3
from botocore.config import Config

RETRY_CONFIG = Config(retries={"mode": "standard", "max_attempts": int(os.environ.get("MLP_MAX_ATTEMPTS", "5"))})


@functools.lru_cache(maxsize=None)
def client(service: str):
    """One cached client per service for the life of the Lambda container."""
    return boto3.client(service, config=RETRY_CONFIG)


def reset_clients() -> None:
    """Forget cached clients (tests switch endpoints and credentials between cases)."""
    client.cache_clear()
