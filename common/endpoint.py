"""The team endpoint's life cycle, owned by the deploy handler (and torn down by `cdktf destroy`).

No endpoint exists before the first approved model (no GPU bills with nothing to serve): the deploy
handler creates it from the serving recipe (data capture, blue/green, auto-rollback), registers its
autoscaling once SageMaker reports it InService (`SageMaker Endpoint State Change`), and updates it
for later approvals. `teardown` removes all of that again; Terraform runs it when the stack is
destroyed (modules/serving, `python -m ops.endpoint_teardown`).

Kept apart from the deploy handler's model and pointer logic so the two change independently.
"""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import ClientError

from common import aws
from contract.events import BadEvent, EndpointStateChange
from contract.layout import VARIANT
from contract.recipes import ServingRecipe

log = logging.getLogger()

IN_SERVICE = "InService"
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
OWNED_TAG = "mlp:model-package-version"  # every model and config the deploy handler creates carries it


def read_recipe(parameter: str) -> ServingRecipe:
    """The serving recipe (modules/serving) the stack publishes for the handlers (SERVING_RECIPE_PARAMETER),
    every field checked."""
    return aws.recipe_parameter(parameter, ServingRecipe)


def describe(endpoint_name: str) -> dict[str, Any] | None:
    """The endpoint, or None when it does not exist (before the first approved model)."""
    return aws.describe_or_none(aws.client("sagemaker").describe_endpoint, EndpointName=endpoint_name)


def create(endpoint_name: str, config_name: str, recipe: ServingRecipe, tags: list[dict[str, str]]) -> None:
    """The first deployment: the endpoint on this config, with the recipe's blue/green and rollback policy
    (kept by SageMaker for later updates too)."""
    aws.client("sagemaker").create_endpoint(
        EndpointName=endpoint_name, EndpointConfigName=config_name, DeploymentConfig=dict(recipe.deployment_config), Tags=tags
    )
    log.info("endpoint %s created on %s", endpoint_name, config_name)


def owned_tags(run_id: str, version: int, team: str, environment: str) -> list[dict[str, str]]:
    """The tags of everything the deploy handler creates for a package version (teardown reads them)."""
    return [
        {"Key": "Team", "Value": team},
        {"Key": "Environment", "Value": environment},
        {"Key": "mlp:run-id", "Value": run_id},
        {"Key": OWNED_TAG, "Value": str(version)},
    ]


def delete_keeping_configs(endpoint_name: str, variant: str = VARIANT) -> bool:
    """Switch off: the scalable target and the endpoint go (no instance bills); the endpoint configs and
    models stay, so `create` brings back exactly what was served. Does not wait for the deletion (a
    Lambda has 15 minutes; SageMaker takes a few). Returns whether an endpoint was there."""
    _deregister_scaling(f"endpoint/{endpoint_name}/variant/{variant}")
    endpoint = describe(endpoint_name)
    if endpoint is None or endpoint.get("EndpointStatus") == "Deleting":
        return False
    aws.client("sagemaker").delete_endpoint(EndpointName=endpoint_name)
    log.info("endpoint %s deleted (switched off); its configs and models are kept", endpoint_name)
    return True


def scaling_resource_id(endpoint_name: str, recipe: ServingRecipe) -> str:
    return f"endpoint/{endpoint_name}/variant/{recipe.variant_name}"


def ensure_autoscaling(endpoint_name: str, recipe: ServingRecipe, team: str, environment: str) -> bool:
    """Register the variant as a scalable target with its target-tracking policy, if the endpoint is
    InService (Application Auto Scaling refuses a variant that is not). Both calls are upserts, so a
    repeated event changes nothing. Returns whether it registered."""
    endpoint = describe(endpoint_name)
    if endpoint is None or endpoint.get("EndpointStatus") != IN_SERVICE:
        log.info("endpoint %s is %s: autoscaling waits for InService", endpoint_name, endpoint and endpoint.get("EndpointStatus"))
        return False
    scaling, client = recipe.autoscaling, aws.client("application-autoscaling")
    resource_id = scaling_resource_id(endpoint_name, recipe)
    client.register_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId=resource_id,
        ScalableDimension=SCALABLE_DIMENSION,
        MinCapacity=scaling.min_capacity,
        MaxCapacity=scaling.max_capacity,
        # The role may register and change only targets tagged as its team's (aws:RequestTag / ResourceTag).
        Tags={"Team": team, "Environment": environment},
    )
    client.put_scaling_policy(
        PolicyName=scaling.policy_name,
        ServiceNamespace="sagemaker",
        ResourceId=resource_id,
        ScalableDimension=SCALABLE_DIMENSION,
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": float(scaling.target_invocations_per_instance),
            "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
            "ScaleInCooldown": scaling.scale_in_cooldown_seconds,
            "ScaleOutCooldown": scaling.scale_out_cooldown_seconds,
        },
    )
    log.info("endpoint %s: autoscaling %s registered", endpoint_name, resource_id)
    return True


def on_state_change(
    event: EndpointStateChange, endpoint_name: str, recipe: ServingRecipe, team: str, environment: str
) -> dict[str, Any]:
    """`SageMaker Endpoint State Change` of the team's endpoint: register autoscaling once it is
    InService. The event only says when to look; the endpoint's status is read from SageMaker."""
    if event.endpoint_name != endpoint_name:
        raise BadEvent(f"event.detail.EndpointName is {event.endpoint_name!r}; this function manages {endpoint_name!r}")
    registered = ensure_autoscaling(endpoint_name, recipe, team, environment)
    return {"endpoint_name": endpoint_name, "autoscaling_registered": registered}


def teardown(endpoint_name: str, team: str, environment: str, variant: str = VARIANT) -> dict[str, list[str]]:
    """Remove what the deploy handler created: the scalable target (its policies go with it), the
    endpoint, and the endpoint configs and models tagged as the handler's for this team and environment.
    Idempotent: what is already gone is skipped."""
    sagemaker = aws.client("sagemaker")
    removed: dict[str, list[str]] = {"scaling": [], "endpoint": [], "configs": [], "models": []}
    resource_id = f"endpoint/{endpoint_name}/variant/{variant}"
    if _deregister_scaling(resource_id):
        removed["scaling"].append(resource_id)
    if describe(endpoint_name) is not None:
        sagemaker.delete_endpoint(EndpointName=endpoint_name)
        sagemaker.get_waiter("endpoint_deleted").wait(EndpointName=endpoint_name, WaiterConfig={"Delay": 15, "MaxAttempts": 80})
        removed["endpoint"].append(endpoint_name)
    owned = lambda arn: _owned(sagemaker, arn, team, environment)
    for page in sagemaker.get_paginator("list_endpoint_configs").paginate(NameContains=endpoint_name):
        for config in page["EndpointConfigs"]:
            if owned(config["EndpointConfigArn"]):
                sagemaker.delete_endpoint_config(EndpointConfigName=config["EndpointConfigName"])
                removed["configs"].append(config["EndpointConfigName"])
    for page in sagemaker.get_paginator("list_models").paginate(NameContains=endpoint_name):
        for model in page["Models"]:
            if owned(model["ModelArn"]):
                sagemaker.delete_model(ModelName=model["ModelName"])
                removed["models"].append(model["ModelName"])
    return removed


def _deregister_scaling(resource_id: str) -> bool:
    """Deregister the variant's scalable target (its policies go with it); False if there was none."""
    try:
        aws.client("application-autoscaling").deregister_scalable_target(
            ServiceNamespace="sagemaker", ResourceId=resource_id, ScalableDimension=SCALABLE_DIMENSION
        )
        return True
    except ClientError as error:
        # AWS: ObjectNotFoundException; moto answers ValidationException "No scalable target found".
        if error.response.get("Error", {}).get("Code") != "ObjectNotFoundException" and "No scalable target" not in str(error):
            raise
        return False


def _owned(sagemaker: Any, arn: str, team: str, environment: str) -> bool:
    """Created by this team's deploy handler (by its tags; a name prefix alone could be another team's)."""
    tags = {t["Key"]: t["Value"] for t in sagemaker.list_tags(ResourceArn=arn).get("Tags", [])}
    return OWNED_TAG in tags and tags.get("Team") == team and tags.get("Environment") == environment
