"""Emulator snapshots: the whole state saved and put back, so a test can have an applied stack as it
was right after the apply without applying it again."""

from __future__ import annotations

import pytest

from emulator.server import EmulatorError

pytestmark = pytest.mark.integration


def state(aws):
    s3, sqs, iam, kms = aws("s3"), aws("sqs"), aws("iam"), aws("kms")
    buckets = {b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith("mlp-snap-")}
    return {
        "objects": {
            (b, o["Key"], s3.get_object(Bucket=b, Key=o["Key"])["Body"].read())
            for b in buckets
            for o in s3.list_objects_v2(Bucket=b).get("Contents", [])
        },
        "queues": sorted(url for url in sqs.list_queues(QueueNamePrefix="mlp-snap-").get("QueueUrls", [])),
        "roles": sorted(r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].startswith("mlp-snap-")),
        "policies": sorted(iam.list_role_policies(RoleName="mlp-snap-role")["PolicyNames"])
        if "mlp-snap-role" in {r["RoleName"] for r in iam.list_roles()["Roles"]}
        else None,
        "keys": {k["KeyId"]: kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyState"] for k in kms.list_keys()["Keys"]},
    }


def test_restore_puts_back_exactly_the_saved_state_and_can_be_repeated(emulator, aws):
    s3, sqs, iam, kms = aws("s3"), aws("sqs"), aws("iam"), aws("kms")
    s3.create_bucket(Bucket="mlp-snap-data")
    s3.put_object(Bucket="mlp-snap-data", Key="a.csv", Body=b"1,2\n")
    sqs.create_queue(QueueName="mlp-snap-queue")
    iam.create_role(RoleName="mlp-snap-role", AssumeRolePolicyDocument="{}")
    iam.put_role_policy(
        RoleName="mlp-snap-role",
        PolicyName="p",
        PolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}',
    )
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    saved = state(aws)
    emulator.snapshot("test-snapshot")

    for _ in range(2):  # a snapshot survives its restore
        s3.put_object(Bucket="mlp-snap-data", Key="a.csv", Body=b"changed\n")
        s3.put_object(Bucket="mlp-snap-data", Key="b.csv", Body=b"new\n")
        sqs.delete_queue(QueueUrl=sqs.get_queue_url(QueueName="mlp-snap-queue")["QueueUrl"])
        sqs.create_queue(QueueName="mlp-snap-other")
        iam.delete_role_policy(RoleName="mlp-snap-role", PolicyName="p")
        kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
        aws("dynamodb").create_table(
            TableName="mlp-snap-table",
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        )
        assert state(aws) != saved

        emulator.restore("test-snapshot")
        assert state(aws) == saved
        assert "mlp-snap-table" not in aws("dynamodb").list_tables()["TableNames"]  # a service first used later
        sqs.send_message(
            QueueUrl=sqs.get_queue_url(QueueName="mlp-snap-queue")["QueueUrl"], MessageBody="x"
        )  # restored queues work


def test_restoring_an_unknown_snapshot_is_a_clear_error(emulator):
    with pytest.raises(EmulatorError, match="no emulator snapshot named 'never-taken'"):
        emulator.restore("never-taken")
