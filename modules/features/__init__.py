"""Feature tables: one SageMaker Feature Store group per configured feature set, and the published
definitions every consumer reads (training, serving, drift baselines): `features/definitions.json`.

Online stores are encrypted with the team key; offline stores write to the team's artifacts bucket
under `feature-store/` with the same key. Two roles: the feature store's own (offline store writes),
and an ingestion role that the team's principals (tagged Team=<team>) assume to put and get records
of the team's groups only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket
from cdktf_cdktf_provider_aws.s3_object import S3Object
from cdktf_cdktf_provider_aws.sagemaker_feature_group import (
    SagemakerFeatureGroup,
    SagemakerFeatureGroupFeatureDefinition,
    SagemakerFeatureGroupOfflineStoreConfig,
    SagemakerFeatureGroupOfflineStoreConfigS3StorageConfig,
    SagemakerFeatureGroupOnlineStoreConfig,
    SagemakerFeatureGroupOnlineStoreConfigSecurityConfig,
    SagemakerFeatureGroupOnlineStoreConfigTtlDuration,
)
from constructs import Construct

from config.features import FeaturesSpec, definitions_document
from contract.layout import DEFINITIONS_KEY
from contract.names import TeamContext
from modules.iam import KEY_READ_WRITE, allow, policy_document, service_trust_policy, trust_policy, use_key
from modules.training.tfjson import template_literal

OFFLINE_PREFIX = "feature-store/"


@dataclass(frozen=True)
class FeaturesProps:
    context: TeamContext
    features: FeaturesSpec
    key: KmsKey
    artifacts: S3Bucket


class Features(Construct):
    def __init__(self, scope: Construct, id: str, props: FeaturesProps):
        super().__init__(scope, id)
        ctx = props.context
        self._ctx = ctx
        self.document = definitions_document(ctx.team, props.features)
        self.definitions = S3Object(
            self,
            "definitions",
            bucket=props.artifacts.bucket,
            key=DEFINITIONS_KEY,
            # Feature descriptions are free text: escaped so Terraform writes them verbatim.
            content=template_literal(json.dumps(self.document, sort_keys=True, indent=1)),
            content_type="application/json",
            server_side_encryption="aws:kms",
            kms_key_id=props.key.arn,
        )
        group_arns = [ctx.arn("sagemaker", f"feature-group/{self.group_name(s.name)}") for s in props.features.feature_sets]

        self.store_role = IamRole(
            self,
            "store-role",
            name=f"{ctx.prefix}-feature-store",
            assume_role_policy=service_trust_policy("sagemaker.amazonaws.com", ctx.account_id),
        )
        IamRolePolicy(
            self,
            "store-policy",
            name=f"{ctx.prefix}-feature-store",
            role=self.store_role.id,
            policy=policy_document(
                [
                    allow("OfflineStore", ["s3:PutObject", "s3:GetObject"], f"{props.artifacts.arn}/{OFFLINE_PREFIX}*"),
                    allow("OfflineStoreBucket", "s3:GetBucketAcl", props.artifacts.arn),
                    use_key("TeamKey", props.key.arn),
                ]
            ),
        )
        self.ingestion_role = IamRole(
            self,
            "ingestion-role",
            name=f"{ctx.prefix}-feature-ingestion",
            assume_role_policy=trust_policy(
                {"AWS": f"arn:aws:iam::{ctx.account_id}:root"}, {"StringEquals": {"aws:PrincipalTag/Team": ctx.team}}
            ),
        )
        IamRolePolicy(
            self,
            "ingestion-policy",
            name=f"{ctx.prefix}-feature-ingestion",
            role=self.ingestion_role.id,
            policy=policy_document(
                [
                    allow(
                        "OwnFeatureGroups",
                        [
                            "sagemaker:PutRecord",
                            "sagemaker:GetRecord",
                            "sagemaker:BatchGetRecord",
                            "sagemaker:DeleteRecord",
                            "sagemaker:DescribeFeatureGroup",
                        ],
                        group_arns,
                    ),
                    allow("ReadDefinitions", "s3:GetObject", f"{props.artifacts.arn}/{DEFINITIONS_KEY}"),
                    use_key("TeamKey", props.key.arn, KEY_READ_WRITE),
                ]
            ),
        )

        self.groups: dict[str, SagemakerFeatureGroup] = {}
        for feature_set in props.features.feature_sets:
            online = None
            if feature_set.online_store:
                online = SagemakerFeatureGroupOnlineStoreConfig(
                    enable_online_store=True,
                    security_config=SagemakerFeatureGroupOnlineStoreConfigSecurityConfig(kms_key_id=props.key.arn),
                    ttl_duration=SagemakerFeatureGroupOnlineStoreConfigTtlDuration(unit="Seconds", value=feature_set.ttl_seconds)
                    if feature_set.ttl_seconds
                    else None,
                )
            offline = None
            if feature_set.offline_store:
                offline = SagemakerFeatureGroupOfflineStoreConfig(
                    s3_storage_config=SagemakerFeatureGroupOfflineStoreConfigS3StorageConfig(
                        s3_uri=f"s3://{props.artifacts.bucket}/{OFFLINE_PREFIX}{feature_set.name}",
                        kms_key_id=props.key.arn,
                    ),
                    # No Glue catalog table: keeps the store role free of Glue permissions; Athena users
                    # can catalog the prefix themselves.
                    disable_glue_table_creation=True,
                )
            self.groups[feature_set.name] = SagemakerFeatureGroup(
                self,
                f"group-{feature_set.name}",
                feature_group_name=self.group_name(feature_set.name),
                record_identifier_feature_name=feature_set.record_identifier,
                event_time_feature_name=feature_set.event_time_feature,
                role_arn=self.store_role.arn,
                feature_definition=[
                    SagemakerFeatureGroupFeatureDefinition(feature_name=f.name, feature_type=f.type) for f in feature_set.features
                ],
                online_store_config=online,
                offline_store_config=offline,
                description=f"{feature_set.name} features of {ctx.prefix}",
            )

    def group_name(self, feature_set: str) -> str:
        return self._ctx.feature_group_name(feature_set)
