"""One test (or more) per patch in emulator/patches_serving.py: boto3 against a running, patched emulator,
asserting what AWS does. Each fails against unpatched moto 5.2.5 (the failure is noted per test).

Quick on purpose: no Terraform here (tests/integration/test_emulator_deploy.py applies the whole stack).
"""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.integration

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/mlp-patch-sagemaker"
IMAGE = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/mlp-patch-inference:bootstrap"


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _model(sagemaker, **extra) -> str:
    name = _name("mlp-patch-model")
    sagemaker.create_model(
        ModelName=name,
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": "s3://mlp-patch/models/model.tar.gz"},
        **extra,
    )
    return name


def _endpoint_config(sagemaker, instance_type: str = "ml.g5.xlarge") -> str:
    name = _name("mlp-patch-config")
    sagemaker.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": "primary",
                "ModelName": _model(sagemaker),
                "InstanceType": instance_type,
                "InitialInstanceCount": 1,
                "InitialVariantWeight": 1.0,
            }
        ],
    )
    return name


@pytest.mark.parametrize("instance_type", ["ml.g5.xlarge", "ml.g6.2xlarge", "ml.g6e.xlarge", "ml.p4d.24xlarge", "ml.p5.48xlarge"])
def test_endpoint_config_accepts_current_gpu_types(aws, instance_type):
    """Patch sagemaker_current_instance_types. Unpatched: CreateEndpointConfig answers ValidationException
    ("Value 'ml.g5.xlarge' at 'instanceType' failed to satisfy constraint") for types AWS has sold for years."""
    sagemaker = aws("sagemaker")
    name = _endpoint_config(sagemaker, instance_type)
    described = sagemaker.describe_endpoint_config(EndpointConfigName=name)
    assert described["ProductionVariants"][0]["InstanceType"] == instance_type


def test_endpoint_config_still_refuses_unknown_types(aws):
    """Same patch: types outside the platform's list still go through moto's own check, which refuses them."""
    with pytest.raises(ClientError) as refused:
        _endpoint_config(aws("sagemaker"), "ml.nonexistent.xlarge")
    assert refused.value.response["Error"]["Code"] == "ValidationException"


def test_endpoint_describes_its_deployment_config(aws):
    """Patch sagemaker_endpoint_keeps_deployment_config. AWS describes the policy as LastDeploymentConfig
    (what the provider reads back into deployment_config). Unpatched: CreateEndpoint drops it, DescribeEndpoint
    has no LastDeploymentConfig, and `terraform plan` after apply wants to replace the endpoint."""
    sagemaker = aws("sagemaker")
    deployment = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "CANARY",
                "WaitIntervalInSeconds": 600,
                "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
            },
            "TerminationWaitInSeconds": 300,
            "MaximumExecutionTimeoutInSeconds": 7200,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "mlp-patch-latency-p99"}]},
    }
    name = _name("mlp-patch-endpoint")
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=_endpoint_config(sagemaker), DeploymentConfig=deployment)
    assert sagemaker.describe_endpoint(EndpointName=name)["LastDeploymentConfig"] == deployment


def test_endpoint_without_deployment_config_describes_none(aws):
    """Same patch: an endpoint created without a DeploymentConfig still describes none, as on AWS."""
    sagemaker = aws("sagemaker")
    name = _name("mlp-patch-endpoint")
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=_endpoint_config(sagemaker))
    assert "LastDeploymentConfig" not in sagemaker.describe_endpoint(EndpointName=name)


def test_model_without_vpc_describes_no_vpc_config(aws):
    """Patch sagemaker_model_as_created. Unpatched: DescribeModel returns an empty VpcConfig
    ({"SecurityGroupIds": [], "Subnets": []}) for a model created without one; the provider then sees a
    vpc_config block that is not in the configuration, which forces replacement of the model."""
    sagemaker = aws("sagemaker")
    described = sagemaker.describe_model(ModelName=_model(sagemaker))
    assert "VpcConfig" not in described


def test_model_keeps_network_isolation_and_a_real_vpc_config(aws):
    """Same patch: EnableNetworkIsolation is described as requested (unpatched: always False, so the
    isolated bootstrap model is replaced on every plan), and a model created with a VPC keeps it."""
    sagemaker = aws("sagemaker")
    vpc = {"SecurityGroupIds": ["sg-0123456789abcdef0"], "Subnets": ["subnet-0123456789abcdef0"]}
    described = sagemaker.describe_model(ModelName=_model(sagemaker, EnableNetworkIsolation=True, VpcConfig=vpc))
    assert described["EnableNetworkIsolation"] is True
    assert described["VpcConfig"] == vpc
    assert sagemaker.describe_model(ModelName=_model(sagemaker))["EnableNetworkIsolation"] is False


def test_scalable_target_tags(aws):
    """Patch application_autoscaling_tags. Unpatched: ListTagsForResource, TagResource and UntagResource are
    not implemented (HTTP 500 / NotImplemented), which the provider calls after RegisterScalableTarget;
    and the Tags of RegisterScalableTarget are dropped (plan then wants to add the default tags)."""
    autoscaling = aws("application-autoscaling")
    resource_id = f"endpoint/{_name('mlp-patch-endpoint')}/variant/primary"
    arn = autoscaling.register_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId=resource_id,
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
        MinCapacity=1,
        MaxCapacity=4,
        Tags={"Team": "fraud", "Environment": "local"},
    )["ScalableTargetARN"]
    assert autoscaling.list_tags_for_resource(ResourceARN=arn)["Tags"] == {"Team": "fraud", "Environment": "local"}

    autoscaling.tag_resource(ResourceARN=arn, Tags={"CostCenter": "CC-1001"})
    autoscaling.untag_resource(ResourceARN=arn, TagKeys=["Environment"])
    assert autoscaling.list_tags_for_resource(ResourceARN=arn)["Tags"] == {"Team": "fraud", "CostCenter": "CC-1001"}
