"""common.aws.json_parameter / optional_json_parameter: the one way the runtime reads the JSON the
stack, the deploy handler and `publish-code` keep in SSM."""

from __future__ import annotations

import boto3
import pytest

from common import aws
from tests.lambdas import moto_state


@pytest.fixture
def ssm(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    aws.reset_clients()
    with moto_state.restored(monkeypatch, "empty", lambda: None):
        yield boto3.client("ssm")
    aws.reset_clients()


def test_a_json_object_is_read(ssm):
    ssm.put_parameter(Name="/mlp/t/e/recipe", Type="String", Value='{"image_uri": "x"}')
    assert aws.json_parameter("/mlp/t/e/recipe") == {"image_uri": "x"}
    assert aws.optional_json_parameter("/mlp/t/e/recipe", ssm=ssm) == {"image_uri": "x"}


def test_missing_is_none_only_where_optional(ssm):
    assert aws.optional_json_parameter("/mlp/t/e/deployed-model") is None
    with pytest.raises(aws.ParameterError, match="/mlp/t/e/training-recipe does not exist"):
        aws.json_parameter("/mlp/t/e/training-recipe")


@pytest.mark.parametrize("value, problem", [("{not json", "is not JSON"), ("[1, 2]", "holds list, not a JSON object")])
def test_a_value_that_is_not_a_json_object_is_named_never_read_as_none(ssm, value, problem):
    ssm.put_parameter(Name="/mlp/t/e/deployed-model", Type="String", Value=value)
    for read in (aws.json_parameter, aws.optional_json_parameter):
        with pytest.raises(aws.ParameterError, match=f"/mlp/t/e/deployed-model {problem}"):
            read("/mlp/t/e/deployed-model")
