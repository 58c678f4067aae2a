"""Fault injection on the retraining loop's handlers (in-process moto, the `aws_env` set-up):

(a) throttling: the SDK sees ThrottlingException / SlowDown twice on one call, then the real answer;
    botocore's standard retry mode (common.aws) retries and the handler succeeds, with exactly one
    side effect (one training job, not one per attempt);
(b) faults after the retrain lock is taken, raised by the SDK itself (a non-retryable ClientError, a
    throttle that outlasts every retry, a failure writing the run record) release the lock, and a later
    retrain starts (test_retrain.py covers a monkeypatched RuntimeError; these go through botocore);
(c) at-least-once delivery: the same event delivered 5 times to retrain, register and deploy gives one
    training job, one model package and one endpoint update;
(d) malformed and foreign events to every handler raise BadEvent and change nothing anywhere: every
    bucket's object versions, the runs table, training jobs, model packages, models, endpoint configs,
    the endpoint's config, SSM parameters (with versions), CloudWatch metrics and SNS subscriptions.

Faults are injected with a `before-send` hook registered first on the handler's own cached client
(`common.aws.client(service)`), so they go through botocore's error parsing and retry handler exactly as
an AWS error would. Back-off sleeps are recorded instead of slept.
"""

from __future__ import annotations

import json
from typing import Any

import botocore.endpoint
import pytest
from botocore.awsrequest import AWSResponse
from moto.core.botocore_stubber import MockRawResponse

from common import aws, runs
from contract.events import BadEvent
from lambdas.deploy.handler import handler as deploy
from lambdas.drift_check.handler import handler as drift_check
from lambdas.quality_check.handler import handler as quality_check
from lambdas.register.handler import handler as register
from lambdas.retrain.handler import handler as retrain
from tests.lambdas.mlp_aws import (  # noqa: F401
    ACCOUNT,
    ENDPOINT,
    GROUP,
    PREFIX,
    REGION,
    TABLE,
    AwsEnv,
    alarm_event,
    aws_env,
    endpoint_config,
    package_event,
    training_job_event,
)
from tests.lambdas.moto_patches import sagemaker_update_endpoint

# The last test reports figures the others gathered in this process: keep the module on one xdist worker.
pytestmark = pytest.mark.xdist_group("test_faults")

FIGURES = {"faults_injected": 0, "sdk_attempts": 0, "deliveries": 0, "bad_events": 0}
MANUAL = {"source": "mlp.manual", "reason": "faults", "requested_by": "ci"}

JSON_THROTTLE = (400, {"x-amzn-errortype": "ThrottlingException"}, b'{"__type":"ThrottlingException","message":"Rate exceeded"}')
S3_SLOWDOWN = (
    503,
    {},
    b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>SlowDown</Code>"
    b"<Message>Please reduce your request rate.</Message></Error>",
)
RESOURCE_LIMIT = (
    400,
    {"x-amzn-errortype": "ResourceLimitExceeded"},
    b'{"__type":"ResourceLimitExceeded","message":"training job limit reached"}',
)
VALIDATION = (
    400,
    {"x-amzn-errortype": "ValidationException"},
    b'{"__type":"com.amazonaws.dynamodb.v20120810#ValidationException","message":"Item size too large"}',
)


class Faults:
    """Answer the first `times` calls of `service.operation` (matching `when`) with an error response.


    botocore emits before-send to *every* handler (moto's included) and takes the first response, so a
    refused attempt is diverted to an address moto does not serve: the service never sees it, as with a
    real throttle. `applied=True` instead lets moto apply the request and loses its response (the
    ambiguous failure of a timeout or a 5xx after the write).
    """

    DIVERTED = "https://fault-injected.invalid/"

    def __init__(
        self,
        service: str,
        operation: str,
        error: tuple[int, dict, bytes],
        times: int,
        when=lambda request: True,
        applied: bool = False,
    ):
        self.error, self.times, self.when, self.applied = error, times, when, applied
        self.attempts = 0
        self.injected = 0
        # Diverted requests by id(), with the request itself: holding it keeps its id from being reused by
        # a later request (which would otherwise be sent to the diverted request's URL).
        self.diverted: dict[int, tuple[Any, str]] = {}
        aws.client(service).meta.events.register_first(f"before-send.{service}.{operation}", self)

    def __call__(self, request, **_: Any):
        earlier = self.diverted.pop(id(request), None)
        if earlier is not None and earlier[0] is request:
            request.url = earlier[1]  # undo a previous attempt's diversion
        if not self.when(request):
            return None
        self.attempts += 1
        FIGURES["sdk_attempts"] += 1
        if self.injected >= self.times:
            return None  # let moto answer
        self.injected += 1
        FIGURES["faults_injected"] += 1
        status, headers, body = self.error
        response = AWSResponse(request.url, status, headers, MockRawResponse(body))
        if not self.applied:
            self.diverted[id(request)] = (request, request.url)
            request.url = self.DIVERTED
        return response


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    """Back-off delays botocore asked for (recorded, not slept)."""
    recorded: list[float] = []

    class Clock:
        def __getattr__(self, name):
            import time

            return getattr(time, name)

        @staticmethod
        def sleep(seconds: float) -> None:
            recorded.append(seconds)

    monkeypatch.setattr(botocore.endpoint, "time", Clock())
    return recorded


@pytest.fixture
def data(aws_env: AwsEnv) -> AwsEnv:
    aws_env.put_training_data("training/part-0.csv", "transaction_id,amount,merchant_category,is_fraud\nt0-659,10,grocery,0\n")
    aws_env.put_training_data("training/part-1.csv", "transaction_id,amount,merchant_category,is_fraud\nt0-929,90,travel,1\n")
    return aws_env


def run_records(env: AwsEnv) -> list[dict]:
    return [i for i in env.table_items() if i["pk"]["S"].startswith("RUN#")]


def in_flight_runs(env: AwsEnv) -> list[dict]:
    """Run records still Starting or Training (a failed start leaves a Failed record, for the audit)."""
    return [r for r in run_records(env) if r["status"]["S"] in runs.IN_FLIGHT]


# ------------------------------------------------------------------------------------------------
# (a) throttling is retried
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "service, operation, error, when",
    [
        ("ssm", "GetParameter", JSON_THROTTLE, lambda r: b"training-recipe" in r.body),
        ("dynamodb", "PutItem", JSON_THROTTLE, lambda r: b'"LOCK"' in r.body),
        ("dynamodb", "PutItem", JSON_THROTTLE, lambda r: b'"RUN#' in r.body),
        ("s3", "ListObjectVersions", S3_SLOWDOWN, lambda r: True),
        ("s3", "PutObject", S3_SLOWDOWN, lambda r: "manifests/" in r.url and "data-report" not in r.url),
        ("s3", "PutObject", S3_SLOWDOWN, lambda r: "data-report" in r.url),
        ("sagemaker", "CreateTrainingJob", JSON_THROTTLE, lambda r: True),
    ],
    ids=["ssm-recipe", "ddb-lock", "ddb-run", "s3-list", "s3-manifest", "s3-data-report", "sagemaker-create-job"],
)
def test_retrain_survives_two_throttles_on_each_call(data, sleeps, service, operation, error, when):
    faults = Faults(service, operation, error, times=2, when=when)

    result = retrain(MANUAL, None)

    assert result["started"] is True
    assert faults.injected == 2 and faults.attempts == 3, (faults.injected, faults.attempts)
    assert len(sleeps) >= 2  # standard mode backed off before each retry
    # One job and one run record, not one per attempt; the lock is held by that run.
    assert data.training_jobs() == [result["training_job_name"]]
    assert [r["run_id"]["S"] for r in run_records(data)] == [result["run_id"]]
    assert runs.get_lock(TABLE)["run_id"] == result["run_id"]


def test_register_and_deploy_survive_throttling(data, sleeps, monkeypatch):
    updates = sagemaker_update_endpoint(monkeypatch)
    monkeypatch.setenv("AUTO_APPROVE", "true")
    run = retrain(MANUAL, None)
    create_package = Faults("sagemaker", "CreateModelPackage", JSON_THROTTLE, times=2)
    read_definitions = Faults("s3", "GetObject", S3_SLOWDOWN, times=2, when=lambda r: "definitions.json" in r.url)
    registered = register(training_job_event(run["training_job_name"]), None)
    assert registered["registered"] is True and data.model_packages() == [registered["model_package_arn"]]
    assert create_package.attempts == 3 and read_definitions.attempts == 3

    create = Faults("sagemaker", "CreateEndpoint", JSON_THROTTLE, times=2)  # the first deployment creates it
    pointer = Faults("ssm", "PutParameter", JSON_THROTTLE, times=2)
    deployed = deploy(package_event(registered["model_package_arn"]), None)
    assert deployed["created"] is True and create.attempts == 3 and pointer.attempts == 3
    assert len(data.client("sagemaker").list_endpoints()["Endpoints"]) == 1  # throttled attempts never reached it

    data.client("dynamodb").delete_item(TableName=TABLE, Key={"pk": {"S": "LOCK"}})  # past the cooldown
    second = retrain(MANUAL, None)
    registered = register(training_job_event(second["training_job_name"]), None)
    update = Faults("sagemaker", "UpdateEndpoint", JSON_THROTTLE, times=2)
    deployed = deploy(package_event(registered["model_package_arn"]), None)
    assert deployed["updated"] is True and update.attempts == 3
    assert len(updates) == 1  # the two throttled attempts never reached the service


# ------------------------------------------------------------------------------------------------
# (b) SDK faults after the lock is taken release it
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "service, operation, error, times, when, code",
    [
        ("sagemaker", "CreateTrainingJob", RESOURCE_LIMIT, 1, lambda r: True, "ResourceLimitExceeded"),
        ("sagemaker", "CreateTrainingJob", JSON_THROTTLE, 99, lambda r: True, "ThrottlingException"),
        ("s3", "PutObject", S3_SLOWDOWN, 99, lambda r: "manifests/" in r.url, "SlowDown"),
    ],
    ids=["create-job-limit", "create-job-throttled-past-retries", "manifest-write-slowdown"],
)
def test_sdk_failure_after_the_lock_releases_it(data, sleeps, service, operation, error, times, when, code):
    faults = Faults(service, operation, error, times=times, when=when)
    with pytest.raises(Exception, match=code):
        retrain(alarm_event(), None)
    # MLP_MAX_ATTEMPTS=5 becomes botocore's retries.max_attempts, which counts *retries*: 1 + 5 attempts.
    assert faults.attempts == (1 if times == 1 else 6)
    assert runs.get_lock(TABLE) is None
    assert data.training_jobs() == [] and in_flight_runs(data) == []

    faults.times = 0  # the fault clears
    later = retrain(alarm_event(), None)
    assert later["started"] is True and data.training_jobs() == [later["training_job_name"]]
    assert runs.get_lock(TABLE)["run_id"] == later["run_id"]


def test_failure_writing_the_run_record_starts_no_job_and_releases_the_lock(data, sleeps):
    """The run record (with its job name) is written before CreateTrainingJob: when that write fails,
    no job exists, so the lock is released and nothing is orphaned."""
    faults = Faults("dynamodb", "PutItem", VALIDATION, times=1, when=lambda r: b'"RUN#' in r.body)
    with pytest.raises(Exception, match="ValidationException"):
        retrain(alarm_event(), None)
    assert faults.injected == 1 and runs.get_lock(TABLE) is None and run_records(data) == []
    assert data.training_jobs() == []

    later = retrain(alarm_event(), None)
    assert later["started"] is True and data.training_jobs() == [later["training_job_name"]]


def test_retry_after_create_training_job_adopts_the_job_instead_of_starting_another(data, sleeps):
    """CreateTrainingJob succeeded, then the handler failed (here: the run update; a timeout or OOM
    alike). The lock and the Starting run are kept; Lambda's retry of the same event (same id, so the
    same run) finds the job by its recorded name and starts no second GPU job."""
    event = {**alarm_event(), "id": "5d1b0f0e-retry", "time": "2026-01-01T00:00:00Z"}
    faults = Faults("dynamodb", "UpdateItem", VALIDATION, times=1, when=lambda r: b'"Training"' in r.body)
    with pytest.raises(Exception, match="ValidationException"):
        retrain(event, None)
    assert faults.injected == 1
    [job] = data.training_jobs()
    [run] = run_records(data)
    assert run["status"]["S"] == "Starting" and runs.get_lock(TABLE)["run_id"] == run["run_id"]["S"]

    retried = retrain(event, None)
    assert retried["started"] is True and retried["training_job_name"] == job
    assert data.training_jobs() == [job]
    assert runs.get_run(TABLE, retried["run_id"])["status"] == "Training"
    assert runs.get_lock(TABLE)["phase"] == "training"
    # A third delivery of the same event: the run is in flight, nothing new.
    again = retrain(event, None)
    assert data.training_jobs() == [job] and again["run_id"] == retried["run_id"]


def test_lock_write_applied_but_response_lost_still_starts_the_run(data, sleeps):
    """DynamoDB applies the lock PutItem but the client sees a retryable error (timeout / 5xx after the
    write); the retry then fails its condition on the run's *own* lock. The handler must not report
    "cooldown, locked by <itself>" and start nothing while holding the lock for a whole cooldown."""
    faults = Faults(
        "dynamodb",
        "PutItem",
        (500, {"x-amzn-errortype": "InternalServerError"}, b'{"__type":"InternalServerError","message":"internal"}'),
        times=1,
        when=lambda r: b'"LOCK"' in r.body,
        applied=True,
    )
    result = retrain(MANUAL, None)
    assert faults.injected == 1 and faults.attempts == 2
    assert result["started"] is True, f"lost lock response left the loop idle: {result}"
    assert data.training_jobs() == [result["training_job_name"]]


# ------------------------------------------------------------------------------------------------
# (c) at-least-once delivery
# ------------------------------------------------------------------------------------------------


def test_five_deliveries_of_each_event_give_one_job_one_package_one_update(data, monkeypatch):
    updates = sagemaker_update_endpoint(monkeypatch)
    monkeypatch.setenv("AUTO_APPROVE", "true")
    alarm = alarm_event()

    started = [retrain(alarm, None) for _ in range(5)]
    FIGURES["deliveries"] += 5
    assert [r["started"] for r in started] == [True, False, False, False, False]
    job = started[0]["training_job_name"]
    assert data.training_jobs() == [job]

    registered = [register(training_job_event(job), None) for _ in range(5)]
    FIGURES["deliveries"] += 5
    assert [r["registered"] for r in registered] == [True, False, False, False, False]
    arn = registered[0]["model_package_arn"]
    assert data.model_packages() == [arn] and {r["model_package_arn"] for r in registered} == {arn}

    deployed = [deploy(package_event(arn), None) for _ in range(5)]
    FIGURES["deliveries"] += 5
    assert [d["updated"] for d in deployed] == [True, False, False, False, False]
    # The first deployment creates the endpoint (no UpdateEndpoint); the duplicates change nothing.
    config = deployed[0]["endpoint_config_name"]
    assert deployed[0]["created"] and updates == [] and {d["endpoint_config_name"] for d in deployed} == {config}
    sagemaker = data.client("sagemaker")
    assert sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"] == config
    assert len(sagemaker.list_models()["Models"]) == 1  # v1
    assert len(sagemaker.list_endpoint_configs()["EndpointConfigs"]) == 1
    parameter = data.client("ssm").get_parameter(Name=data.env["DEPLOYED_MODEL_PARAMETER"])["Parameter"]
    assert parameter["Version"] == 1 and json.loads(parameter["Value"])["model_package_arn"] == arn
    assert runs.get_run(TABLE, started[0]["run_id"])["status"] == "Registered"


# ------------------------------------------------------------------------------------------------
# (d) malformed and foreign events change nothing
# ------------------------------------------------------------------------------------------------


def full_snapshot(env: AwsEnv) -> dict[str, Any]:
    s3 = env.client("s3")
    buckets = {}
    for bucket in sorted(b["Name"] for b in s3.list_buckets()["Buckets"]):
        versions = s3.list_object_versions(Bucket=bucket)
        buckets[bucket] = sorted((v["Key"], v["VersionId"], v["ETag"]) for v in versions.get("Versions", [])) + sorted(
            ("delete-marker", m["Key"], m["VersionId"]) for m in versions.get("DeleteMarkers", [])
        )
    sagemaker = env.client("sagemaker")
    ssm = env.client("ssm")
    return {
        **env.snapshot(),
        "buckets": buckets,
        "table": sorted(json.dumps(i, sort_keys=True) for i in env.client("dynamodb").scan(TableName=TABLE)["Items"]),
        "jobs": sorted(
            (j["TrainingJobName"], j["TrainingJobStatus"]) for j in sagemaker.list_training_jobs()["TrainingJobSummaries"]
        ),
        "packages": sorted(
            (p["ModelPackageArn"], p["ModelApprovalStatus"])
            for p in sagemaker.list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"]
        ),
        "endpoint": endpoint_config(sagemaker),
        "parameters": sorted(
            (p["Name"], p["Version"], ssm.get_parameter(Name=p["Name"])["Parameter"]["Value"])
            for p in ssm.describe_parameters()["Parameters"]
        ),
        "metrics": sorted(json.dumps(m, sort_keys=True) for m in env.client("cloudwatch").list_metrics()["Metrics"]),
        "subscriptions": env.client("sns").list_subscriptions()["Subscriptions"],
    }


OTHER = "mlp-recsys-dev"
COMMON_BAD = [
    [],
    {},
    None,
    "event",
    42,
    [alarm_event()],
    {"detail-type": None},
    {"detail-type": ["x"]},
    {"detail-type": "Object Created", "source": "aws.s3", "detail": {}},
]
BAD_EVENTS = {
    "retrain": COMMON_BAD
    + [
        alarm_event(f"{OTHER}-feature-drift"),
        alarm_event("mlp-fraud-devx-feature-drift"),
        alarm_event(f"{PREFIX}-feature-drift", state="INSUFFICIENT_DATA"),
        {**alarm_event(), "source": "aws.sagemaker"},
        {**alarm_event(), "detail": []},
        {"source": "mlp.manual", "requested_by": "x"},
        {"source": "mlp.manual", "reason": 1, "requested_by": "x"},
        {"detail-type": "Scheduled Event", "source": "mlp.manual.not"},
        training_job_event(f"{PREFIX}-x"),
        package_event("arn"),
    ],
    "register": COMMON_BAD
    + [
        training_job_event(f"{OTHER}-20240101t000000z-abcdef"),
        training_job_event("mlp-fraud-devx-1"),
        training_job_event(PREFIX),
        training_job_event(f"{PREFIX}-x", "InProgress"),
        training_job_event(f"{PREFIX}-x", "completed"),
        {**training_job_event(f"{PREFIX}-x"), "detail": "x"},
        {**training_job_event(f"{PREFIX}-x"), "detail": {"TrainingJobName": 7, "TrainingJobStatus": "Completed"}},
        alarm_event(),
        package_event("arn"),
    ],
    "deploy": COMMON_BAD
    + [
        package_event(f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{OTHER}-models/1", group=f"{OTHER}-models"),
        package_event(f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{GROUP}/1", group=f"{GROUP}x"),
        {**package_event("arn"), "detail": {"ModelPackageGroupName": GROUP, "ModelApprovalStatus": "Approved"}},
        {**package_event("arn"), "detail": {"ModelPackageGroupName": GROUP, "ModelPackageArn": "arn"}},
        {
            **package_event("arn"),
            "detail": {"ModelPackageGroupName": [GROUP], "ModelPackageArn": "a", "ModelApprovalStatus": "Approved"},
        },
        training_job_event(f"{PREFIX}-x"),
        alarm_event(),
    ],
    "drift_check": COMMON_BAD
    + [
        {"window_start": "2024-05-01T12:00:00Z", "window_end": "2024-05-01T06:00:00Z"},
        {"window_start": "2024-05-01T06:00:00Z"},
        {"window_end": "yesterday", "window_start": "today"},
        {"detail-type": "Scheduled Event", "time": 1714550400},
        {"detail-type": "Scheduled Event"},
        alarm_event(),
    ],
    "quality_check": COMMON_BAD
    + [
        {"window_start": "2024-05-01T12:00:00Z", "window_end": "2024-05-01T12:00:00Z"},
        {"window_end": "2024-05-01T06:00:00Z"},
        {"detail-type": "Scheduled Event", "time": ["2024-05-01"]},
        {"detail-type": "Scheduled Event", "time": "not a time"},
        alarm_event(),
    ],
}
HANDLERS = {
    "retrain": retrain,
    "register": register,
    "deploy": deploy,
    "drift_check": drift_check,
    "quality_check": quality_check,
}


@pytest.fixture
def deployed(data, monkeypatch):
    """A loop that has run once (job, package, endpoint update, pointer, lock), the state bad events must not touch."""
    updates = sagemaker_update_endpoint(monkeypatch)
    monkeypatch.setenv("AUTO_APPROVE", "true")
    run = retrain(MANUAL, None)
    registered = register(training_job_event(run["training_job_name"]), None)
    deploy(package_event(registered["model_package_arn"]), None)
    data.client("cloudwatch").put_metric_data(
        Namespace="MLPlatform",
        MetricData=[{"MetricName": "Existing", "Value": 1.0, "Dimensions": [{"Name": "EndpointName", "Value": ENDPOINT}]}],
    )
    return data, updates


@pytest.mark.parametrize("name", sorted(HANDLERS))
def test_bad_events_raise_bad_event_and_change_nothing(deployed, name):
    env, updates = deployed
    before = full_snapshot(env)
    update_count = len(updates)
    escaped = []
    for event in BAD_EVENTS[name]:
        FIGURES["bad_events"] += 1
        try:
            HANDLERS[name](event, None)
        except BadEvent:
            pass
        except Exception as error:
            escaped.append((event, f"{type(error).__name__}: {error}"))
        else:
            escaped.append((event, "accepted"))
    assert escaped == [], f"{name}: events not refused with BadEvent: {escaped}"
    assert full_snapshot(env) == before
    assert len(updates) == update_count


def test_zz_report_figures():
    print(
        f"\nfaults: {FIGURES['faults_injected']} faults injected over {FIGURES['sdk_attempts']} SDK attempts, "
        f"{FIGURES['deliveries']} duplicate-prone deliveries, {FIGURES['bad_events']} bad events tried"
    )
    assert FIGURES["faults_injected"] > 0 and FIGURES["bad_events"] > 0
