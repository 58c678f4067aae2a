"""The emulator server under concurrent clients, as Terraform drives it (ten and more requests at once)."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from botocore.config import Config

pytestmark = pytest.mark.integration


def test_concurrent_writes_and_reads_of_one_service_never_fail(emulator):
    """moto's backends are plain dicts: a role created while another request iterates the roles made
    the emulator answer 500 ("dictionary changed size during iteration") to GetRole, CreateRole and
    ListAttachedRolePolicies under Terraform's concurrency. Every request must get its real answer."""
    env = emulator.client_env()
    session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name=env["AWS_DEFAULT_REGION"])
    config = Config(retries={"max_attempts": 1}, max_pool_connections=48)
    iam = session.client("iam", endpoint_url=emulator.endpoint, config=config)
    trust = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}'

    def create_then_read(number: int) -> str:
        name = f"mlp-concurrency-{number}"
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)
        for _ in range(3):
            iam.get_role(RoleName=name)
            iam.list_attached_role_policies(RoleName=name)
        return name

    with ThreadPoolExecutor(max_workers=48) as pool:  # an error in any request fails the map
        created = list(pool.map(create_then_read, range(400)))
    assert len(set(created)) == 400
    for name in created:
        iam.delete_role(RoleName=name)


def test_a_long_poll_receives_a_message_sent_while_it_waits(emulator, aws):
    """Requests enter moto one at a time; an SQS long poll gives way while it waits, so the message
    sent meanwhile reaches it (as on AWS) instead of the poll holding every other request back."""
    sqs = aws("sqs")
    url = sqs.create_queue(QueueName="mlp-long-poll")["QueueUrl"]
    with ThreadPoolExecutor(max_workers=1) as pool:
        polled = pool.submit(sqs.receive_message, QueueUrl=url, WaitTimeSeconds=10, MaxNumberOfMessages=1)
        time.sleep(1)  # let the poll reach the emulator and start waiting
        sqs.send_message(QueueUrl=url, MessageBody="hello")  # would wait 10 s behind the poll if it held the lock
        messages = polled.result(timeout=30).get("Messages", [])
    assert [m["Body"] for m in messages] == ["hello"]
    sqs.delete_queue(QueueUrl=url)
