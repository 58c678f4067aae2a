"""Registry: model package groups (the model registry) and immutable, scanned, KMS-encrypted ECR repositories.

Why: a model in production must be traceable to the exact image that trained and serves it. Immutable
tags mean a tag always names the same bytes; scan on push catches known CVEs before an image is used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from cdktf_cdktf_provider_aws.ecr_lifecycle_policy import EcrLifecyclePolicy
from cdktf_cdktf_provider_aws.ecr_repository import (
    EcrRepository,
    EcrRepositoryEncryptionConfiguration,
    EcrRepositoryImageScanningConfiguration,
)
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from cdktf_cdktf_provider_aws.sagemaker_model_package_group import SagemakerModelPackageGroup
from constructs import Construct

from contract.names import TeamContext

IMAGE_REPOSITORIES = ("training", "inference")


@dataclass(frozen=True)
class RegistryProps:
    context: TeamContext
    key: KmsKey  # the team key (the data lake's): the repositories encrypt their images with it
    model_package_groups: list[str] = field(default_factory=lambda: ["models"])
    image_retention_count: int = 50
    untagged_image_days: int = 14


class Registry(Construct):
    def __init__(self, scope: Construct, id: str, props: RegistryProps):
        super().__init__(scope, id)
        ctx = props.context
        self.model_package_groups: dict[str, SagemakerModelPackageGroup] = {
            name: SagemakerModelPackageGroup(
                self,
                f"group-{name}",
                model_package_group_name=ctx.model_package_group_name(name),
                model_package_group_description=f"Models of team {ctx.team} in {ctx.environment}",
            )
            for name in props.model_package_groups
        }
        # Plain name (not a token): event patterns and IAM ARNs of other constructs are built from it.
        self.primary_group_name = ctx.model_package_group_name(props.model_package_groups[0])
        self.repositories: dict[str, EcrRepository] = {}
        for purpose in IMAGE_REPOSITORIES:
            repository = EcrRepository(
                self,
                purpose,
                name=f"{ctx.prefix}-{purpose}",
                image_tag_mutability="IMMUTABLE",
                image_scanning_configuration=EcrRepositoryImageScanningConfiguration(scan_on_push=True),
                encryption_configuration=[EcrRepositoryEncryptionConfiguration(encryption_type="KMS", kms_key=props.key.arn)],
                force_delete=ctx.is_emulator,
            )
            EcrLifecyclePolicy(
                self,
                f"{purpose}-lifecycle",
                repository=repository.name,
                policy=json.dumps(_lifecycle_policy(props.untagged_image_days, props.image_retention_count)),
            )
            self.repositories[purpose] = repository

    @property
    def primary_group(self) -> SagemakerModelPackageGroup:
        """The group the retraining loop registers into (the first configured)."""
        return next(iter(self.model_package_groups.values()))


def _lifecycle_policy(untagged_days: int, keep_tagged: int) -> dict:
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": f"Expire untagged images after {untagged_days} days",
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": untagged_days,
                },
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 2,
                "description": f"Keep the {keep_tagged} most recent images",
                "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep_tagged},
                "action": {"type": "expire"},
            },
        ]
    }
