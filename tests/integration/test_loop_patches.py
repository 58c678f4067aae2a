"""Tests of the emulator patches for the loop's runtime calls, the Lambda resource shape and feature
groups (emulator/patches_loop.py, patches_lambda.py, patches_features.py): each asserts the AWS
behaviour that unpatched moto 5.2.5 lacks."""

from __future__ import annotations

import io
import zipfile

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.integration

ROLE = "arn:aws:iam::123456789012:role/emulator-test"


def test_model_package_can_be_deleted_and_then_its_group(aws):
    sagemaker = aws("sagemaker")
    sagemaker.create_model_package_group(ModelPackageGroupName="patch-test-group")
    arn = sagemaker.create_model_package(
        ModelPackageGroupName="patch-test-group",
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={
            "Containers": [{"Image": "i"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )["ModelPackageArn"]
    with pytest.raises(ClientError, match="not empty"):
        sagemaker.delete_model_package_group(ModelPackageGroupName="patch-test-group")
    sagemaker.delete_model_package(ModelPackageName=arn)
    with pytest.raises(ClientError):
        sagemaker.describe_model_package(ModelPackageName=arn)
    sagemaker.delete_model_package_group(ModelPackageGroupName="patch-test-group")


def test_update_endpoint_switches_config_and_keeps_deployment_config(aws):
    sagemaker = aws("sagemaker")
    sagemaker.create_model(ModelName="patch-model", ExecutionRoleArn=ROLE, PrimaryContainer={"Image": "i"})
    for name in ("patch-config-a", "patch-config-b"):
        sagemaker.create_endpoint_config(
            EndpointConfigName=name,
            ProductionVariants=[
                {"VariantName": "primary", "ModelName": "patch-model", "InstanceType": "ml.g5.xlarge", "InitialInstanceCount": 1}
            ],
        )
    sagemaker.create_endpoint(EndpointName="patch-endpoint", EndpointConfigName="patch-config-a")
    deployment = {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}}}
    sagemaker.update_endpoint(EndpointName="patch-endpoint", EndpointConfigName="patch-config-b", DeploymentConfig=deployment)
    described = sagemaker.describe_endpoint(EndpointName="patch-endpoint")
    assert described["EndpointConfigName"] == "patch-config-b"
    assert described["LastDeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"] == "ALL_AT_ONCE"


def test_approval_keeps_lineage_metadata(aws):
    sagemaker = aws("sagemaker")
    sagemaker.create_model_package_group(ModelPackageGroupName="patch-approval-group")
    arn = sagemaker.create_model_package(
        ModelPackageGroupName="patch-approval-group",
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={
            "Containers": [{"Image": "i"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        CustomerMetadataProperties={"run_id": "r1"},
    )["ModelPackageArn"]
    sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    package = sagemaker.describe_model_package(ModelPackageName=arn)
    assert package["ModelApprovalStatus"] == "Approved" and package["CustomerMetadataProperties"] == {"run_id": "r1"}


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return 1\n")
    return buffer.getvalue()


def test_function_keeps_dead_letter_and_logging_config(aws):
    function = aws("lambda")
    aws("iam").create_role(RoleName="emulator-test", AssumeRolePolicyDocument="{}")
    function.create_function(
        FunctionName="patch-function",
        Runtime="python3.11",
        Role=ROLE,
        Handler="handler.handler",
        Code={"ZipFile": _zip()},
        DeadLetterConfig={"TargetArn": "arn:aws:sqs:us-east-1:123456789012:dlq"},
        LoggingConfig={"LogFormat": "Text", "LogGroup": "/aws/lambda/patch-function"},
    )
    config = function.get_function_configuration(FunctionName="patch-function")
    assert config["DeadLetterConfig"] == {"TargetArn": "arn:aws:sqs:us-east-1:123456789012:dlq"}
    assert config["LoggingConfig"]["LogGroup"] == "/aws/lambda/patch-function"
    function.update_function_configuration(
        FunctionName="patch-function", DeadLetterConfig={"TargetArn": "arn:aws:sqs:us-east-1:123456789012:other"}
    )
    assert function.get_function_configuration(FunctionName="patch-function")["DeadLetterConfig"]["TargetArn"].endswith(":other")


def test_publish_to_a_topic_with_a_lambda_subscriber_succeeds(aws):
    """Patch sns_leaves_lambda_delivery_to_the_emulator (on the running server). Unpatched: Publish answers 500 (moto runs the
    function in Docker inside the request)."""
    aws("iam").create_role(RoleName="emulator-sns-test", AssumeRolePolicyDocument="{}")
    arn = aws("lambda").create_function(
        FunctionName="patch-sns-subscriber", Runtime="python3.11", Role=ROLE, Handler="handler.handler", Code={"ZipFile": _zip()}
    )["FunctionArn"]
    topic = aws("sns").create_topic(Name="patch-alerts")["TopicArn"]
    aws("sns").subscribe(TopicArn=topic, Protocol="lambda", Endpoint=arn)
    assert aws("sns").publish(TopicArn=topic, Message="budget exceeded")["MessageId"]


def test_feature_group_online_store_tags_and_delete(aws):
    sagemaker = aws("sagemaker")
    arn = sagemaker.create_feature_group(
        FeatureGroupName="patch-features",
        RecordIdentifierFeatureName="id",
        EventTimeFeatureName="t",
        FeatureDefinitions=[{"FeatureName": "id", "FeatureType": "String"}, {"FeatureName": "t", "FeatureType": "Fractional"}],
        OnlineStoreConfig={"EnableOnlineStore": True},
        Description="d",
        OfflineStoreConfig={"S3StorageConfig": {"S3Uri": "s3://bucket/features"}, "DisableGlueTableCreation": True},
        RoleArn=ROLE,
    )["FeatureGroupArn"]
    described = sagemaker.describe_feature_group(FeatureGroupName="patch-features")
    assert described["OnlineStoreConfig"] == {"EnableOnlineStore": True} and described["Description"] == "d"
    assert sagemaker.list_tags(ResourceArn=arn)["Tags"] == []
    sagemaker.delete_feature_group(FeatureGroupName="patch-features")
    with pytest.raises(ClientError, match="ResourceNotFound"):
        sagemaker.describe_feature_group(FeatureGroupName="patch-features")
