"""The handler tests' moto state is built once per worker and restored for each test
(tests/lambdas/moto_state.py): a test must still start from exactly the built state, whatever the test
before it wrote, and leave nothing of moto behind for the tests of other directories on the worker."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError
from moto.core.base_backend import BackendDict

from tests.lambdas import moto_state
from tests.lambdas.mlp_aws import ARTIFACTS, DEFINITIONS, ENDPOINT, GROUP, RAW, REGION, RETRAIN_ALARMS, TABLE, team_moto


def test_a_test_starts_from_the_built_state_whatever_the_one_before_wrote():
    with pytest.MonkeyPatch.context() as monkeypatch, team_moto(monkeypatch) as first:
        before = first.snapshot()
        s3 = first.client("s3")
        s3.put_object(Bucket=ARTIFACTS, Key="leak.txt", Body=b"written by the test before")
        s3.delete_bucket(Bucket=RAW)  # empty: deletable
        s3.create_bucket(Bucket="mlp-leaked-bucket")
        s3.put_object(Bucket=ARTIFACTS, Key="features/definitions.json", Body=b"overwritten")
        first.client("dynamodb").put_item(TableName=TABLE, Item={"pk": {"S": "leak"}})
        first.set_training_recipe({**first.training_recipe, "instance_count": 9})
        first.client("kms").disable_key(KeyId=first.kms_key_arn.rsplit("/", 1)[1])
        first.client("cloudwatch").set_alarm_state(AlarmName=RETRAIN_ALARMS[0], StateValue="OK", StateReason="leak")
        first.client("sagemaker").create_model(ModelName="leak", ExecutionRoleArn=first.role_arn, PrimaryContainer={"Image": "i"})
        first.client("events").put_rule(Name="leak", ScheduleExpression="rate(1 hour)")  # a service the state lacks
        first.env["TEAM"] = "changed"
        assert first.snapshot() != before

    with pytest.MonkeyPatch.context() as monkeypatch, team_moto(monkeypatch) as second:
        assert second.snapshot() == before
        assert "leak.txt" not in {o["Key"] for o in second.client("s3").list_objects_v2(Bucket=ARTIFACTS).get("Contents", [])}
        s3 = second.client("s3")
        assert RAW in {b["Name"] for b in s3.list_buckets()["Buckets"]}
        assert json.loads(s3.get_object(Bucket=ARTIFACTS, Key="features/definitions.json")["Body"].read()) == DEFINITIONS
        # S3's bucket namespace comes back too: the name is free again, and a bucket of the state is taken.
        with pytest.raises(ClientError, match="NoSuchBucket"):
            s3.head_object(Bucket="mlp-leaked-bucket", Key="k")
        s3.create_bucket(Bucket="mlp-leaked-bucket")
        with pytest.raises(ClientError, match="BucketAlready(Exists|OwnedByYou)"):
            boto3.client("s3", region_name="eu-west-1").create_bucket(
                Bucket=RAW, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
            )
        recipe = json.loads(
            second.client("ssm").get_parameter(Name=second.env["TRAINING_RECIPE_PARAMETER"])["Parameter"]["Value"]
        )
        assert recipe["instance_count"] == 1 == second.training_recipe["instance_count"]
        assert second.client("kms").describe_key(KeyId=second.kms_key_arn)["KeyMetadata"]["Enabled"]
        alarm = second.client("cloudwatch").describe_alarms(AlarmNames=[RETRAIN_ALARMS[0]])["MetricAlarms"][0]
        assert alarm["StateValue"] == "ALARM"
        assert second.client("events").list_rules()["Rules"] == []
        assert second.env["TEAM"] == "fraud"
        # The same resources, not new ones: the ARNs every test of the worker is given.
        assert (second.kms_key_arn, second.role_arn, second.topic_arn) == (first.kms_key_arn, first.role_arn, first.topic_arn)
        assert second.client("sagemaker").describe_model_package_group(ModelPackageGroupName=GROUP)
        assert ENDPOINT not in {e["EndpointName"] for e in second.client("sagemaker").list_endpoints()["Endpoints"]}


def test_a_state_is_built_once_per_process_and_each_test_gets_its_own_copy():
    builds = []

    def build() -> str:
        builds.append(1)
        return boto3.client("s3", region_name=REGION).create_bucket(Bucket="probe")["Location"]

    for _ in range(3):
        with pytest.MonkeyPatch.context() as monkeypatch:
            monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
            with moto_state.restored(monkeypatch, "probe", build):
                s3 = boto3.client("s3", region_name=REGION)
                assert s3.list_objects_v2(Bucket="probe")["KeyCount"] == 0
                s3.put_object(Bucket="probe", Key="k", Body=b"")
    assert len(builds) == 1


def test_moto_is_off_and_empty_after_the_test():
    """Tests of other directories on the same worker call a real emulator over HTTP: no answer from moto."""
    session = boto3.DEFAULT_SESSION
    with pytest.MonkeyPatch.context() as monkeypatch, team_moto(monkeypatch):
        assert boto3.DEFAULT_SESSION is not session
    assert boto3.DEFAULT_SESSION is session
    assert BackendDict._instances == []
    unreachable = boto3.client(
        "s3",
        region_name=REGION,
        endpoint_url="http://127.0.0.1:9",  # discard port: nothing listens
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    with pytest.raises(EndpointConnectionError):
        unreachable.list_buckets()


def test_dropped_snapshots_are_gone_and_only_those_of_the_prefix():
    from emulator import snapshots

    with pytest.MonkeyPatch.context() as monkeypatch, moto_state.restored(monkeypatch, "drop-probe", lambda: None):
        snapshots.take("drop-probe:a")
        snapshots.take("drop-probe:b")
        snapshots.take("kept-probe")
        assert snapshots.drop("drop-probe:") == 2
        with pytest.raises(KeyError, match="drop-probe:a"):
            snapshots.restore("drop-probe:a")
        assert snapshots.restore("kept-probe") >= 0
        assert snapshots.drop("kept-probe") == 1
