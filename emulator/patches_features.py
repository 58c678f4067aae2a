"""Narrow moto patches for SageMaker Feature Store groups; see emulator/patches.py for the rules every
patch follows. Written against moto 5.2.5."""

from __future__ import annotations

from collections.abc import Callable


def sagemaker_feature_group_lifecycle() -> None:
    """moto, feature groups: (1) ListTags has no feature-group entry (HTTP 500), and the provider lists
    tags on every read; (2) CreateFeatureGroup drops OnlineStoreConfig and Description, so `plan` wants
    to replace the group; (3) DescribeFeatureGroup of a missing group fails with HTTP 500 instead of
    ResourceNotFound; (4) DeleteFeatureGroup is not implemented, so `destroy` fails.
    Patched: tags are found by the group's ARN, the two fields are kept and described back, a missing
    group is ResourceNotFound, and delete removes the group."""
    from moto.core.responses import EmptyResult
    from moto.sagemaker.exceptions import ResourceNotFound
    from moto.sagemaker.models import FeatureGroup, SageMakerModelBackend
    from moto.sagemaker.responses import SageMakerResponse

    resolve = SageMakerModelBackend._get_resource_from_arn

    def _get_resource_from_arn(self, arn: str):
        if ":feature-group/" in arn:
            group = self.feature_groups.get(arn.lower()) or self.feature_groups.get(arn)
            if group is None:
                raise ResourceNotFound(f"Resource Not Found: FeatureGroup {arn} does not exist.")
            if group.tags is None:
                group.tags = []
            return group
        return resolve(self, arn)

    create = SageMakerResponse.create_feature_group

    def create_feature_group(self):
        result = create(self)
        group = _find(self.sagemaker_backend, self._get_param("FeatureGroupName"))
        group.online_store_config = self._get_param("OnlineStoreConfig")
        group.description = self._get_param("Description")
        group.tags = group.tags or []
        return result

    describe = FeatureGroup.describe

    def describe_group(self):
        response = describe(self)
        for key, value in (
            ("OnlineStoreConfig", getattr(self, "online_store_config", None)),
            ("Description", getattr(self, "description", None)),
        ):
            if value:
                response[key] = value
        return response

    def describe_feature_group(self, feature_group_name: str):
        return _find(self, feature_group_name).describe()

    def delete_feature_group(self):
        group = _find(self.sagemaker_backend, self._get_param("FeatureGroupName"))
        del self.sagemaker_backend.feature_groups[group.arn]
        return EmptyResult()

    def _find(backend, name: str):
        for group in backend.feature_groups.values():
            if group.feature_group_name == name or group.arn == name:
                return group
        raise ResourceNotFound(f"Resource Not Found: FeatureGroup {name} does not exist.")

    SageMakerModelBackend._get_resource_from_arn = _get_resource_from_arn
    SageMakerModelBackend.describe_feature_group = describe_feature_group
    SageMakerResponse.create_feature_group = create_feature_group
    SageMakerResponse.delete_feature_group = delete_feature_group
    FeatureGroup.describe = describe_group


PATCHES: list[Callable[[], None]] = [sagemaker_feature_group_lifecycle]
