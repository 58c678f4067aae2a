"""boto3 clients bound to the emulator under test, failing at once on an emulator gap (no retries)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config

# A 500 from the emulator (an unpatched moto gap) should fail a test at once, not after retries.
NO_RETRIES = Config(retries={"max_attempts": 1, "mode": "standard"})


def client_factory(emulator) -> Callable[[str], Any]:
    """`aws("s3").list_buckets()` against a started emulator.Emulator."""
    env = emulator.client_env()
    session = boto3.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=env["AWS_SESSION_TOKEN"],
        region_name=env["AWS_DEFAULT_REGION"],
    )
    return lambda service: session.client(service, endpoint_url=emulator.endpoint, config=NO_RETRIES)
