"""The evaluator behind emulator.iam_check: calls become the IAM requests AWS evaluates (implied ones
included) and are judged like IAM (wildcards, conditions, Deny over Allow); a missing permission is
named with its call."""

from __future__ import annotations

import pytest

from contract.names import TeamContext
from emulator.iam_check import Call, Request, Unauthorized, check_calls, evaluate, requests_of

CTX = TeamContext(
    platform="mlp",
    team="fraud",
    environment="dev",
    account_id="111111111111",
    region="us-east-1",
    cost_center="CC-1",
    is_emulator=False,
)
SM = "arn:aws:sagemaker:us-east-1:111111111111"
ROLE = "arn:aws:iam::111111111111:role/mlp-fraud-dev-sagemaker"
KEY = "arn:aws:kms:us-east-1:111111111111:key/k"


def test_create_model_implies_pass_role_and_add_tags():
    call = Call("sagemaker", "CreateModel", {"ModelName": "mlp-fraud-dev-v1", "ExecutionRoleArn": ROLE, "Tags": [{"Key": "a"}]})
    assert requests_of(call, CTX) == [
        Request("sagemaker:CreateModel", f"{SM}:model/mlp-fraud-dev-v1"),
        Request("sagemaker:AddTags", f"{SM}:model/mlp-fraud-dev-v1"),
        Request("iam:PassRole", ROLE, {"iam:PassedToService": "sagemaker.amazonaws.com"}),
    ]


def test_endpoint_config_with_keys_implies_grants_and_kms_puts_imply_data_keys():
    call = Call("sagemaker", "CreateEndpointConfig", {"EndpointConfigName": "c", "DataCaptureConfig": {"KmsKeyId": KEY}})
    assert Request("kms:CreateGrant", KEY, {"kms:GrantIsForAWSResource": "true"}) in requests_of(call, CTX)
    put = Call("s3", "PutObject", {"Bucket": "b", "Key": "k", "ServerSideEncryption": "aws:kms", "SSEKMSKeyId": KEY})
    assert [r.action for r in requests_of(put, CTX)] == ["s3:PutObject", "kms:GenerateDataKey"]


@pytest.mark.parametrize(
    "request_, expected",
    [
        (Request("s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": "data-capture/x"}), True),
        (Request("s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": "other/"}), None),
        (Request("s3:ListBucket", "arn:aws:s3:::b"), None),  # condition key absent: no match
        (Request("s3:GetObject", "arn:aws:s3:::b/data-capture/1"), True),
        (Request("s3:GetObject", "arn:aws:s3:::b/secret/1"), False),  # explicit Deny wins
        (Request("s3:PutObject", "arn:aws:s3:::b/data-capture/1"), None),
    ],
)
def test_evaluate_like_iam(request_, expected):
    statements = [
        {
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": "arn:aws:s3:::b",
            "Condition": {"StringLike": {"s3:prefix": ["data-capture/*"]}},
        },
        {"Effect": "Allow", "Action": ["s3:Get*"], "Resource": "arn:aws:s3:::b/*"},
        {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/secret/*"},
    ]
    assert evaluate(statements, request_) is expected


def test_missing_permission_and_unmapped_call_are_named():
    statements = [{"Effect": "Allow", "Action": "sagemaker:CreateModel", "Resource": f"{SM}:model/mlp-fraud-dev-*"}]
    call = Call("sagemaker", "CreateModel", {"ModelName": "mlp-fraud-dev-v1", "ExecutionRoleArn": ROLE})
    (denied,) = check_calls([call], statements, CTX)
    assert denied.startswith("sagemaker:CreateModel(ModelName=mlp-fraud-dev-v1): iam:PassRole on " + ROLE)
    (unmapped,) = check_calls([Call("sagemaker", "DeleteModelPackageGroup", {"ModelPackageGroupName": "g"})], statements, CTX)
    assert "no IAM mapping for 'DeleteModelPackageGroup'" in unmapped
    with pytest.raises(Unauthorized, match="NumericLessThan"):
        evaluate(
            [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"NumericLessThan": {"x": "1"}}}],
            Request("s3:GetObject", "arn:aws:s3:::b/k", {"x": "0"}),
        )


def test_describe_alarms_is_authorized_per_named_alarm():
    call = Call("monitoring", "DescribeAlarms", {"AlarmNames": ["mlp-fraud-dev-drift", "mlp-fraud-dev-quality"]})
    assert requests_of(call, CTX) == [
        Request("cloudwatch:DescribeAlarms", "arn:aws:cloudwatch:us-east-1:111111111111:alarm:mlp-fraud-dev-drift"),
        Request("cloudwatch:DescribeAlarms", "arn:aws:cloudwatch:us-east-1:111111111111:alarm:mlp-fraud-dev-quality"),
    ]
    assert requests_of(Call("monitoring", "DescribeAlarms", {}), CTX) == [Request("cloudwatch:DescribeAlarms", "*")]
