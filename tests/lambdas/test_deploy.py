"""Deploy handler: an approved package of our group goes on the endpoint once, on a new config with the
GPU variant and data capture; other statuses, groups and malformed events change nothing."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from contract.events import BadEvent
from contract.recipes import ServingRecipe
from lambdas.deploy.handler import handler, names
from lambdas.register.handler import handler as register
from lambdas.retrain.handler import handler as retrain
from tests.lambdas.mlp_aws import ARTIFACTS, ENDPOINT, GROUP, PREFIX, TABLE, aws_env, package_event, training_job_event  # noqa: F401  (fixture)
from tests.lambdas.moto_patches import sagemaker_update_endpoint, sagemaker_update_model_package_partial


def served(document: dict) -> ServingRecipe:
    return ServingRecipe.parse(document, source="the test's serving recipe")


@pytest.fixture
def updates(monkeypatch):
    return sagemaker_update_endpoint(monkeypatch)


@pytest.fixture
def package(aws_env, updates, monkeypatch):
    """A package registered (and auto-approved) from a real retrain run."""
    monkeypatch.setenv("AUTO_APPROVE", "true")
    aws_env.put_training_data(
        "training/a.csv", "transaction_id,amount,merchant_category,is_fraud\nt0-659,10,grocery,0\nt1-1,90,travel,1\n"
    )
    run = retrain({"source": "mlp.manual", "reason": "test", "requested_by": "ci"}, None)
    registered = register(training_job_event(run["training_job_name"]), None)
    return aws_env, registered


def test_first_approved_package_creates_the_endpoint_once(package, updates):
    """No endpoint before the first approved model: its deployment creates it (data capture, blue/green,
    auto-rollback) and registers autoscaling; a duplicate event changes nothing."""
    env, registered = package
    arn = registered["model_package_arn"]
    assert env.snapshot()["endpoint"] is None

    first = handler(package_event(arn), None)
    second = handler(package_event(arn), None)

    sagemaker = env.client("sagemaker")
    model_name, config_name = names(PREFIX, 1, served(env.serving_recipe))
    assert first["created"] is True and first["updated"] is True and second["updated"] is False
    assert first["endpoint_config_name"] == config_name == second["endpoint_config_name"]
    assert updates == []  # created on its config, not updated
    endpoint = sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    assert endpoint["EndpointConfigName"] == config_name
    assert {t["Key"]: t["Value"] for t in sagemaker.list_tags(ResourceArn=endpoint["EndpointArn"])["Tags"]}["Team"] == "fraud"
    targets = env.client("application-autoscaling").describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert [(t["ResourceId"], t["MinCapacity"], t["MaxCapacity"]) for t in targets] == [
        (f"endpoint/{ENDPOINT}/variant/primary", 1, 4)
    ]
    (policy,) = env.client("application-autoscaling").describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    assert policy["PolicyName"] == f"{PREFIX}-invocations-per-instance" and policy["PolicyType"] == "TargetTrackingScaling"
    assert policy["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 100

    config = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
    variant = config["ProductionVariants"][0]
    assert variant["VariantName"] == "primary" and variant["ModelName"] == model_name == f"{PREFIX}-v1"
    assert variant["InstanceType"] == "ml.g4dn.xlarge" and variant["InitialInstanceCount"] == 1
    capture = config["DataCaptureConfig"]
    assert capture["EnableCapture"] is True and capture["InitialSamplingPercentage"] == 100
    assert capture["DestinationS3Uri"] == f"s3://{ARTIFACTS}/data-capture" and capture["KmsKeyId"] == env.kms_key_arn
    assert capture["CaptureOptions"] == [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]
    assert "KmsKeyId" not in config  # ml.g4dn has instance storage: the recipe names no volume key

    model = sagemaker.describe_model(ModelName=model_name)
    container = sagemaker.describe_model_package(ModelPackageName=arn)["InferenceSpecification"]["Containers"][0]
    assert model["PrimaryContainer"]["Image"] == container["Image"]
    assert model["PrimaryContainer"]["ModelDataUrl"] == container["ModelDataUrl"]
    assert model["ExecutionRoleArn"] == env.role_arn
    assert len(sagemaker.list_models()["Models"]) == 1

    pointer = json.loads(env.client("ssm").get_parameter(Name=env.env["DEPLOYED_MODEL_PARAMETER"])["Parameter"]["Value"])
    assert pointer == {k: first[k] for k in pointer}
    assert set(pointer) == {
        "model_package_arn",
        "model_package_version",
        "model_name",
        "endpoint_config_name",
        "baseline_uri",
        "run_id",
        "deployed_at",
    }
    assert pointer["model_package_arn"] == arn and pointer["model_package_version"] == 1
    assert pointer["baseline_uri"] == registered["baseline_uri"] and pointer["run_id"] == registered["run_id"]
    assert env.client("ssm").get_parameter(Name=env.env["DEPLOYED_MODEL_PARAMETER"])["Parameter"]["Version"] == 1


def test_changed_serving_recipe_gives_a_new_config(package, updates):
    env, registered = package
    handler(package_event(registered["model_package_arn"]), None)
    recipe = {**env.serving_recipe, "initial_instance_count": 2}
    env.client("ssm").put_parameter(
        Name=env.env["SERVING_RECIPE_PARAMETER"], Value=json.dumps(recipe), Overwrite=True, Type="String"
    )
    second = handler(package_event(registered["model_package_arn"]), None)
    assert second["updated"] is True and second["endpoint_config_name"] == names(PREFIX, 1, served(recipe))[1]
    assert [u["EndpointConfigName"] for u in updates] == [second["endpoint_config_name"]]  # the first one created


def test_existing_model_and_config_are_reused_without_a_second_update(package, updates):
    env, registered = package
    arn = registered["model_package_arn"]
    handler(package_event(arn), None)
    # A retry after a crash between writing the pointer and returning: everything exists already.
    env.client("ssm").delete_parameter(Name=env.env["DEPLOYED_MODEL_PARAMETER"])
    result = handler(package_event(arn), None)
    assert result["updated"] is False and updates == []
    assert (
        json.loads(env.client("ssm").get_parameter(Name=env.env["DEPLOYED_MODEL_PARAMETER"])["Parameter"]["Value"])[
            "model_package_arn"
        ]
        == arn
    )


def test_manual_approval_deploys_with_the_lineage(aws_env, updates, monkeypatch):
    sagemaker_update_model_package_partial(monkeypatch)
    aws_env.put_training_data(
        "training/a.csv", "transaction_id,amount,merchant_category,is_fraud\nt0-659,10,grocery,0\nt1-1,90,travel,1\n"
    )
    run = retrain({"source": "mlp.manual", "reason": "test", "requested_by": "ci"}, None)
    registered = register(training_job_event(run["training_job_name"]), None)
    assert registered["approval_status"] == "PendingManualApproval"
    before = aws_env.snapshot()
    assert handler(package_event(registered["model_package_arn"], "PendingManualApproval"), None)["deployed"] is False
    assert aws_env.snapshot() == before

    aws_env.client("sagemaker").update_model_package(
        ModelPackageArn=registered["model_package_arn"], ModelApprovalStatus="Approved"
    )
    result = handler(package_event(registered["model_package_arn"]), None)
    assert result["deployed"] is True and result["updated"] is True
    assert result["baseline_uri"] == registered["baseline_uri"] and result["run_id"] == run["run_id"]


@pytest.mark.parametrize("status", ["PendingManualApproval", "Rejected"])
def test_unapproved_status_is_a_no_op(package, updates, status):
    env, registered = package
    before = env.snapshot()
    result = handler(package_event(registered["model_package_arn"], status), None)
    assert result["deployed"] is False and status in result["reason"]
    assert env.snapshot() == before and updates == []


def test_stale_approval_event_is_a_no_op(package, updates):
    env, registered = package
    arn = registered["model_package_arn"]
    env.client("sagemaker").update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Rejected")
    before = env.snapshot()
    assert handler(package_event(arn), None)["deployed"] is False
    assert env.snapshot() == before and updates == []


@pytest.mark.parametrize(
    "event, message",
    [
        (
            package_event("arn:aws:sagemaker:us-east-1:123456789012:model-package/other-models/1", group="other-models"),
            f"'other-models'; this function deploys '{GROUP}'",
        ),
        (
            {
                "source": "aws.sagemaker",
                "detail-type": "SageMaker Model Package State Change",
                "detail": {"ModelPackageGroupName": GROUP, "ModelApprovalStatus": "Approved"},
            },
            "ModelPackageArn",
        ),
        (
            {"source": "aws.sagemaker", "detail-type": "SageMaker Model Package State Change", "detail": "x"},
            "event.detail must be an object",
        ),
        ({**package_event("arn:x"), "source": "evil.source"}, "event.source is 'evil.source'; expected 'aws.sagemaker'"),
        ({"detail-type": "SageMaker Training Job State Change", "detail": {}}, "detail-type"),
        (None, "must be an object"),
    ],
)
def test_foreign_or_malformed_events_change_nothing(package, updates, event, message):
    env, _ = package
    before = env.snapshot()
    with pytest.raises(BadEvent, match=message):
        handler(event, None)
    assert env.snapshot() == before and updates == []


def test_endpoint_state_change_registers_autoscaling_from_aws_state(package, updates):
    """`SageMaker Endpoint State Change`: autoscaling is registered when SageMaker says the endpoint is
    InService (whatever the event claims); another endpoint's event is refused, changing nothing."""
    env, registered = package
    state = {
        "version": "0",
        "source": "aws.sagemaker",
        "detail-type": "SageMaker Endpoint State Change",
        "detail": {"EndpointName": ENDPOINT, "EndpointStatus": "IN_SERVICE"},
    }
    first = handler(state, None)  # no endpoint yet: nothing to register, no pointer to write
    assert (first["autoscaling_registered"], first["reconciled"]) == (False, False)
    scaling = env.client("application-autoscaling")
    assert scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"] == []
    handler(package_event(registered["model_package_arn"]), None)
    scaling.deregister_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId=f"endpoint/{ENDPOINT}/variant/primary",
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
    )
    assert handler(state, None)["autoscaling_registered"] is True
    assert len(scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]) == 1
    before = env.snapshot()
    with pytest.raises(BadEvent, match="'mlp-recsys-dev'; this function manages"):
        handler({**state, "detail": {"EndpointName": "mlp-recsys-dev", "EndpointStatus": "IN_SERVICE"}}, None)
    assert env.snapshot() == before


def test_teardown_removes_what_the_handler_created(package, updates):
    """What `cdktf destroy` runs (ops.endpoint_teardown): autoscaling, endpoint, the handler's configs and
    models go; another team's model with a similar name stays; a second run finds nothing to do."""
    from common.endpoint import teardown

    env, registered = package
    handler(package_event(registered["model_package_arn"]), None)
    sagemaker = env.client("sagemaker")
    sagemaker.create_model(
        ModelName=f"{PREFIX}-x-v1",
        ExecutionRoleArn=env.role_arn,
        PrimaryContainer={"Image": "i"},
        Tags=[{"Key": "Team", "Value": "fraud-dev-x"}, {"Key": "mlp:model-package-version", "Value": "1"}],
    )
    removed = teardown(ENDPOINT, "fraud", "dev")
    assert removed == {
        "scaling": [f"endpoint/{ENDPOINT}/variant/primary"],
        "endpoint": [ENDPOINT],
        "configs": [names(PREFIX, 1, served(env.serving_recipe))[1]],
        "models": [f"{PREFIX}-v1"],
    }
    assert env.snapshot()["endpoint"] is None
    assert [m["ModelName"] for m in sagemaker.list_models()["Models"]] == [f"{PREFIX}-x-v1"]
    assert teardown(ENDPOINT, "fraud", "dev") == {"scaling": [], "endpoint": [], "configs": [], "models": []}


# --- the moto patch itself ------------------------------------------------------------------------


def test_update_endpoint_patch(aws_env, updates):
    sagemaker = aws_env.client("sagemaker")
    sagemaker.create_model(ModelName=f"{PREFIX}-v0", ExecutionRoleArn=aws_env.role_arn, PrimaryContainer={"Image": "i"})
    for name, count in (("first", 1), ("next", 2)):
        sagemaker.create_endpoint_config(
            EndpointConfigName=name,
            ProductionVariants=[
                {
                    "VariantName": "blue",
                    "ModelName": f"{PREFIX}-v0",
                    "InstanceType": "ml.g4dn.xlarge",
                    "InitialInstanceCount": count,
                }
            ],
        )
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="first")
    response = sagemaker.update_endpoint(
        EndpointName=ENDPOINT, EndpointConfigName="next", DeploymentConfig=aws_env.serving_recipe["deployment_config"]
    )
    endpoint = sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    assert response["EndpointArn"] == endpoint["EndpointArn"]
    assert endpoint["EndpointConfigName"] == "next" and endpoint["EndpointStatus"] == "InService"
    assert endpoint["ProductionVariants"][0]["VariantName"] == "blue"
    assert endpoint["ProductionVariants"][0]["CurrentInstanceCount"] == 2
    assert updates == [
        {"EndpointName": ENDPOINT, "EndpointConfigName": "next", "DeploymentConfig": aws_env.serving_recipe["deployment_config"]}
    ]
    with pytest.raises(ClientError, match="Could not find endpoint configuration"):
        sagemaker.update_endpoint(EndpointName=ENDPOINT, EndpointConfigName="missing")
    with pytest.raises(ClientError, match="Could not find endpoint"):
        sagemaker.update_endpoint(EndpointName="missing", EndpointConfigName="next")
    assert len(updates) == 1


def test_update_model_package_patch_keeps_omitted_fields(aws_env, monkeypatch):
    sagemaker_update_model_package_partial(monkeypatch)
    sagemaker = aws_env.client("sagemaker")
    arn = sagemaker.create_model_package(
        ModelPackageGroupName=GROUP,
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={
            "Containers": [{"Image": "i"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        CustomerMetadataProperties={"run_id": "r1", "baseline_uri": "s3://b/k"},
    )["ModelPackageArn"]
    sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    sagemaker.update_model_package(ModelPackageArn=arn, CustomerMetadataProperties={"note": "ok", "run_id": "r1"})
    package = sagemaker.describe_model_package(ModelPackageName=arn)
    assert package["ModelApprovalStatus"] == "Approved"
    assert package["CustomerMetadataProperties"] == {"run_id": "r1", "baseline_uri": "s3://b/k", "note": "ok"}


def test_update_endpoint_patch_is_undone(aws_env):
    from moto.sagemaker.responses import SageMakerResponse

    assert not hasattr(SageMakerResponse, "update_endpoint")  # the previous test's patch did not leak


# --- deploy decides from AWS state: lineage, order, what the endpoint serves ----------------------

from moto.sagemaker.models import sagemaker_backends  # noqa: E402

from common import runs  # noqa: E402
from contract.events import StaleEvent  # noqa: E402
from tests.lambdas.mlp_aws import ACCOUNT, REGION  # noqa: E402

MANUAL = {"source": "mlp.manual", "reason": "test", "requested_by": "ci"}


def another_package(env) -> dict:
    """The next registered (auto-approved) version, from a new run."""
    runs.release_lock(TABLE, (runs.get_lock(TABLE) or {}).get("run_id", ""))
    run = retrain(MANUAL, None)
    return register(training_job_event(run["training_job_name"]), None)


def pointer(env) -> dict:
    return json.loads(env.client("ssm").get_parameter(Name=env.env["DEPLOYED_MODEL_PARAMETER"])["Parameter"]["Value"])


def endpoint_event(name: str = ENDPOINT, status: str = "InService") -> dict:
    return {
        "version": "0",
        "source": "aws.sagemaker",
        "detail-type": "SageMaker Endpoint State Change",
        "account": ACCOUNT,
        "region": REGION,
        "detail": {"EndpointName": name, "EndpointStatus": status},
    }


def test_a_redelivered_older_approval_never_rolls_production_back(package, updates):
    env, v1 = package
    handler(package_event(v1["model_package_arn"]), None)
    v2 = another_package(env)
    handler(package_event(v2["model_package_arn"]), None)
    before = env.snapshot()
    with pytest.raises(StaleEvent, match="v1 is older than v2"):
        handler(package_event(v1["model_package_arn"]), None)
    assert env.snapshot() == before and len(updates) == 1  # v1 created the endpoint; v2 updated it
    assert pointer(env)["model_package_version"] == 2


def hand_made(env, image: str, model_data: str, metadata: dict | None) -> str:
    kwargs = {"CustomerMetadataProperties": metadata} if metadata else {}
    return env.client("sagemaker").create_model_package(
        ModelPackageGroupName=GROUP,
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [{"Image": image, "ModelDataUrl": model_data}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        **kwargs,
    )["ModelPackageArn"]


@pytest.mark.parametrize(
    "case, message",
    [
        ("no-lineage", "has no lineage"),
        ("foreign-image", "is not in the team's repositories"),
        ("other-bucket", "is not under s3://"),
        ("other-baseline", "baseline"),
    ],
)
def test_packages_the_platform_cannot_vouch_for_are_refused(package, updates, case, message):
    env, v1 = package
    metadata = env.client("sagemaker").describe_model_package(ModelPackageName=v1["model_package_arn"])[
        "CustomerMetadataProperties"
    ]
    container = env.client("sagemaker").describe_model_package(ModelPackageName=v1["model_package_arn"])[
        "InferenceSpecification"
    ]["Containers"][0]
    image, data = container["Image"], container["ModelDataUrl"]
    if case == "foreign-image":
        image = "999999999999.dkr.ecr.us-east-1.amazonaws.com/mlp-fraud-dev-training:v1"
    if case == "other-bucket":
        data = "s3://mlp-recsys-dev-artifacts-123456789012/models/x/model.tar.gz"
    if case == "other-baseline":
        metadata = {**metadata, "baseline_uri": "s3://mlp-recsys-dev-artifacts-123456789012/baselines/x.json"}
    arn = hand_made(env, image, data, None if case == "no-lineage" else metadata)
    before = env.snapshot()
    with pytest.raises(BadEvent, match=message):
        handler(package_event(arn), None)
    assert env.snapshot() == before and updates == []


def test_a_package_whose_stored_manifest_changed_is_refused(package, updates):
    env, v1 = package
    metadata = env.client("sagemaker").describe_model_package(ModelPackageName=v1["model_package_arn"])[
        "CustomerMetadataProperties"
    ]
    key = metadata["manifest_uri"].split("/", 3)[3]
    env.client("s3").put_object(Bucket=ARTIFACTS, Key=key, Body=b'{"bucket":"x","objects":[]}')
    before = env.snapshot()
    with pytest.raises(BadEvent, match="the stored manifest has sha256"):
        handler(package_event(v1["model_package_arn"]), None)
    assert env.snapshot() == before and updates == []


def test_the_pointer_follows_what_the_endpoint_serves(package, updates, monkeypatch):
    env, v1 = package
    handler(package_event(v1["model_package_arn"]), None)
    v2 = another_package(env)
    backend_endpoint = sagemaker_backends[ACCOUNT][REGION].endpoints[ENDPOINT]
    v1_config = backend_endpoint.endpoint_config_name
    # A real UpdateEndpoint returns while the endpoint is Updating, still serving the old config.
    from common import aws

    client = aws.client("sagemaker")
    real_update = client.update_endpoint

    def updating(**kwargs):
        response = real_update(**kwargs)
        backend_endpoint.endpoint_config_name, backend_endpoint.endpoint_status = v1_config, "Updating"
        return response

    monkeypatch.setattr(client, "update_endpoint", updating)
    result = handler(package_event(v2["model_package_arn"]), None)
    assert result["updated"] is True and result["pointer"] == "pending"
    assert pointer(env)["model_package_version"] == 1  # not yet: v1 still serves
    updating_state = handler(endpoint_event(status="Updating"), None)
    assert (updating_state["reconciled"], updating_state["reason"]) == (False, "endpoint is Updating")

    # SageMaker's auto-rollback: the endpoint ends InService on v1 again; its state change corrects nothing
    # to a model that never served.
    backend_endpoint.endpoint_status = "InService"
    reconciled = handler(endpoint_event(), None)
    assert reconciled["reconciled"] is True and pointer(env)["model_package_version"] == 1
    # The rollout that completes instead: the pointer moves to v2 then.
    backend_endpoint.endpoint_config_name = result["endpoint_config_name"]
    assert handler(endpoint_event(), None)["model_package_version"] == 2
    assert pointer(env)["baseline_uri"] == v2["baseline_uri"]


def test_an_operator_rollback_is_explicit_and_recorded(package, updates):
    env, v1 = package
    handler(package_event(v1["model_package_arn"]), None)
    v2 = another_package(env)
    handler(package_event(v2["model_package_arn"]), None)
    request = {
        "source": "mlp.operator",
        "action": "rollback",
        "model_package_version": 1,
        "requested_by": "alice",
        "reason": "v2 misbehaves",
    }
    result = handler(request, None)
    assert result["updated"] is True and result["model_package_version"] == 1
    recorded = pointer(env)
    assert recorded["model_package_version"] == 1 and recorded["rollback"]["from_version"] == 2
    assert recorded["rollback"]["requested_by"] == "alice" and recorded["rollback"]["reason"] == "v2 misbehaves"
    before = env.snapshot()
    for bad, message in (
        ({**request, "model_package_version": 1}, "not older than v1"),
        ({**request, "model_package_version": "1"}, "positive integer"),
        ({**request, "action": "delete"}, "action"),
        ({**request, "requested_by": ""}, "requested_by"),
    ):
        with pytest.raises(BadEvent, match=message):
            handler(bad, None)
    assert env.snapshot() == before


@pytest.mark.parametrize(
    "event, message",
    [
        (endpoint_event("mlp-recsys-dev"), "this function manages 'mlp-fraud-dev'"),
        ({**endpoint_event(), "source": "mlp.fake"}, "source"),
        ({**endpoint_event(), "detail": {}}, "EndpointName"),
    ],
)
def test_foreign_endpoint_events_change_nothing(package, updates, event, message):
    env, _ = package
    before = env.snapshot()
    with pytest.raises(BadEvent, match=message):
        handler(event, None)
    assert env.snapshot() == before


@pytest.mark.parametrize(
    "source, job, accepted",
    [
        # the team's source stack (same account as the source package, its prefix): a promoted package
        (
            "arn:aws:sagemaker:us-east-1:111111111111:model-package/mlp-fraud-local-models/3",
            "arn:aws:sagemaker:us-east-1:111111111111:training-job/mlp-fraud-local-20260101t000000z-abc",
            True,
        ),
        # a job of another account than the source package's
        (
            "arn:aws:sagemaker:us-east-1:111111111111:model-package/mlp-fraud-local-models/3",
            "arn:aws:sagemaker:us-east-1:999999999999:training-job/mlp-fraud-local-20260101t000000z-abc",
            False,
        ),
        # a job of another stack than the source package's
        (
            "arn:aws:sagemaker:us-east-1:111111111111:model-package/mlp-fraud-local-models/3",
            "arn:aws:sagemaker:us-east-1:111111111111:training-job/mlp-recsys-local-20260101t000000z-abc",
            False,
        ),
        # a source package of another team, or of another group than ours
        (
            "arn:aws:sagemaker:us-east-1:111111111111:model-package/mlp-recsys-local-models/3",
            "arn:aws:sagemaker:us-east-1:111111111111:training-job/mlp-recsys-local-20260101t000000z-abc",
            False,
        ),
        (
            "arn:aws:sagemaker:us-east-1:111111111111:model-package/mlp-fraud-local-other/3",
            "arn:aws:sagemaker:us-east-1:111111111111:training-job/mlp-fraud-local-20260101t000000z-abc",
            False,
        ),
        ("not-an-arn", "arn:aws:sagemaker:us-east-1:111111111111:training-job/mlp-fraud-local-1", False),
        ("", "arn:aws:sagemaker:us-east-1:111111111111:training-job/mlp-fraud-local-1", False),
    ],
)
def test_a_promoted_packages_job_is_its_source_stacks(aws_env, source, job, accepted):
    from lambdas.deploy.handler import promoted_job

    metadata = {"source_package_arn": source, "training_job_arn": job}
    assert promoted_job(aws_env.configuration(), metadata) is accepted
