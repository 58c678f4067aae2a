"""The continuous-training loop: the handlers, their least-privilege roles, the runs table and the
EventBridge wiring that closes the loop.

    drift/quality alarm -> retrain -> training job -> register -> (approval) -> deploy
    schedules           -> drift_check, quality_check (publish the metrics the alarms watch)

Why a DynamoDB lock: EventBridge delivers at least once and several alarms can fire together, so the
retrain handler takes a conditional-write lock that lives as long as the run, then its cooldown
(docs/CONTRACTS.md, "Runs table").

Why a watch schedule: an alarm that stays in ALARM sends no second event, so a trigger lost to a
crashed invocation would never come back; every hour the retrain handler re-examines its alarms (and
stops training jobs that no run owns).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from cdktf import TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.cloudwatch_event_rule import CloudwatchEventRule
from cdktf_cdktf_provider_aws.cloudwatch_event_target import CloudwatchEventTarget, CloudwatchEventTargetRetryPolicy
from cdktf_cdktf_provider_aws.dynamodb_table import (
    DynamodbTable,
    DynamodbTableAttribute,
    DynamodbTablePointInTimeRecovery,
    DynamodbTableServerSideEncryption,
)
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from cdktf_cdktf_provider_aws.lambda_permission import LambdaPermission
from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket
from cdktf_cdktf_provider_aws.sns_topic import SnsTopic
from constructs import Construct

from config.ml import MonitoringSettings, RetrainingSettings
from contract.environment import LambdaEnvironment
from contract.handlers import HANDLERS
from contract.layout import (
    BASELINES_PREFIX,
    DATA_CAPTURE_PREFIX,
    EVALUATIONS_PREFIX,
    GROUND_TRUTH_PREFIX,
    LABELLED_DIR,
    MANIFESTS_PREFIX,
    MODELS_PREFIX,
)
from contract.names import TeamContext
from modules.functions import FunctionProps, PlatformFunction
from modules.iam import OBJECT_READ, Statement, allow, list_prefixes, read_objects, read_parameters, under, write_objects
from modules.registry import Registry
from modules.training.execution_role import ExecutionRole

WATCH_SCHEDULE = "rate(1 hour)"
PAUSABLE_RULES = ("retrain-schedule", "retrain-on-alarm")  # common/power.py PAUSED_RULES


@dataclass(frozen=True)
class RetrainingProps:
    context: TeamContext
    key: KmsKey
    raw: S3Bucket
    curated: S3Bucket
    artifacts: S3Bucket
    # The team's registry: the loop registers into its primary group and pins and reads its repositories' images.
    registry: Registry
    execution_role: ExecutionRole  # passed to SageMaker by retrain and deploy
    alert_topic: SnsTopic  # the team's alert topic (modules/monitoring): the data gate and the budget switch publish there
    retrain_alarm_names: list[str]
    retraining: RetrainingSettings
    monitoring: MonitoringSettings
    training_data_prefix: str = "training/"
    auto_approve: bool = False
    log_retention_days: int = 365
    production: bool = False
    budget_act_percent: int = 100
    # Curated prefix of data promoted from another environment (modules/promotion), or None: the register
    # handler computes a rebuilt promoted model's baseline over its pinned copies there.
    promoted_data_prefix: str | None = None


class Retraining(Construct):
    def __init__(self, scope: Construct, id: str, props: RetrainingProps):
        super().__init__(scope, id)
        ctx = props.context
        self._props = props

        self.runs_table = DynamodbTable(
            self,
            "runs",
            name=ctx.runs_table_name,
            billing_mode="PAY_PER_REQUEST",
            hash_key="pk",
            attribute=[DynamodbTableAttribute(name="pk", type="S")],
            server_side_encryption=DynamodbTableServerSideEncryption(enabled=True, kms_key_arn=props.key.arn),
            point_in_time_recovery=DynamodbTablePointInTimeRecovery(enabled=True),
            deletion_protection_enabled=ctx.protect_data,
        )

        environment = self._environment()
        policies = self._statements()
        self.functions: dict[str, PlatformFunction] = {}
        for spec in HANDLERS:
            self.functions[spec.name] = PlatformFunction(
                self,
                spec.construct_id,
                FunctionProps(
                    context=ctx,
                    handler=spec.name,
                    statements=policies[spec.name],
                    environment=environment,
                    key=props.key,
                    code_bucket=props.artifacts,
                    log_retention_days=props.log_retention_days,
                    timeout_seconds=spec.timeout_seconds,
                    memory_mb=spec.memory_mb,
                ),
            )

        alarms = self._retrain_alarms()
        if alarms:
            self._route(
                "retrain-on-alarm",
                "retrain",
                pattern={
                    "source": ["aws.cloudwatch"],
                    "detail-type": ["CloudWatch Alarm State Change"],
                    "detail": {"alarmName": alarms, "state": {"value": ["ALARM"]}},
                },
            )
        if props.retraining.schedule:
            self._route("retrain-schedule", "retrain", schedule=props.retraining.schedule)
        self._route("retrain-watch", "retrain", schedule=WATCH_SCHEDULE)
        self._route(
            "training-state",
            "register",
            pattern={
                "source": ["aws.sagemaker"],
                "detail-type": ["SageMaker Training Job State Change"],
                "detail": {
                    "TrainingJobName": [{"prefix": f"{ctx.prefix}-"}],
                    "TrainingJobStatus": ["Completed", "Failed", "Stopped"],
                },
            },
        )
        self._route(
            "package-approved",
            "deploy",
            pattern={
                "source": ["aws.sagemaker"],
                "detail-type": ["SageMaker Model Package State Change"],
                "detail": {"ModelPackageGroupName": [props.registry.primary_group_name], "ModelApprovalStatus": ["Approved"]},
            },
        )
        # The deployed-model pointer follows what the endpoint serves: re-read on each of its state changes
        # (a completed rollout, an auto-rollback), and registers autoscaling once it is InService.
        self._route(
            "endpoint-state",
            "deploy",
            pattern={
                "source": ["aws.sagemaker"],
                "detail-type": ["SageMaker Endpoint State Change"],
                "detail": {"EndpointName": [ctx.endpoint_name]},
            },
        )
        self._route("drift-schedule", "drift_check", schedule=props.monitoring.schedule)
        self._route("quality-schedule", "quality_check", schedule=props.monitoring.schedule)

    def _retrain_alarms(self) -> list[str]:
        """The team's own alarms that start a retrain, per the on_drift / on_quality switches."""
        ctx, settings = self._props.context, self._props.retraining
        wanted = {ctx.alarm_name("drift"): settings.on_drift, ctx.alarm_name("quality"): settings.on_quality}
        return [name for name in self._props.retrain_alarm_names if wanted.get(name, True)]

    def _rule_arn(self, id: str) -> str:
        return self._props.context.arn("events", f"rule/{self._props.context.prefix}-{id}")

    def _retrain_alarm_arns(self) -> list[str]:
        return [self._props.context.arn("cloudwatch", f"alarm:{name}") for name in self._retrain_alarms()]

    def _route(self, id: str, handler: str, pattern: dict | None = None, schedule: str | None = None) -> None:
        ctx = self._props.context
        function = self.functions[handler]
        rule = CloudwatchEventRule(
            self,
            f"{id}-rule",
            name=f"{ctx.prefix}-{id}",
            event_pattern=json.dumps(pattern) if pattern else None,
            schedule_expression=schedule,
            # A budget breach pauses these rules (common/power.py) until an operator resumes:
            # Terraform leaves their state to the handler, so a deploy does not undo a pause.
            lifecycle=TerraformResourceLifecycle(ignore_changes=["state", "is_enabled"]) if id in PAUSABLE_RULES else None,
        )
        CloudwatchEventTarget(
            self,
            f"{id}-target",
            rule=rule.name,
            arn=function.arn,
            retry_policy=CloudwatchEventTargetRetryPolicy(maximum_event_age_in_seconds=3600, maximum_retry_attempts=8),
        )
        LambdaPermission(
            self,
            f"{id}-permission",
            statement_id=f"events-{id}",
            action="lambda:InvokeFunction",
            function_name=function.function.function_name,
            principal="events.amazonaws.com",
            source_arn=rule.arn,
        )

    def _environment(self) -> dict[str, str]:
        """The same variables for every handler (docs/CONTRACTS.md, "Lambda environment")."""
        p, ctx = self._props, self._props.context
        return LambdaEnvironment(
            platform=ctx.platform,
            team=ctx.team,
            environment=ctx.environment,
            prefix=ctx.prefix,
            raw_bucket=p.raw.bucket,
            curated_bucket=p.curated.bucket,
            artifact_bucket=p.artifacts.bucket,
            kms_key_arn=p.key.arn,
            endpoint_name=ctx.endpoint_name,
            model_package_group=p.registry.primary_group_name,
            runs_table=ctx.runs_table_name,
            training_recipe_parameter=ctx.parameter_name("training-recipe"),
            serving_recipe_parameter=ctx.parameter_name("serving-recipe"),
            deployed_model_parameter=ctx.parameter_name("deployed-model"),
            code_bundle_parameter=ctx.parameter_name("code-bundle"),
            metric_namespace=ctx.metric_namespace,
            retrain_alarm_arns=tuple(self._retrain_alarm_arns()),
            watch_rule_arn=self._rule_arn("retrain-watch"),
            retrain_schedule_rule_arns=(self._rule_arn("retrain-schedule"),) if p.retraining.schedule else (),
            alert_topic_arn=p.alert_topic.arn,
            cooldown_seconds=p.retraining.cooldown_hours * 3600,
            auto_approve=p.auto_approve,
            window_hours=p.monitoring.window_hours,
            quality_min_samples=p.monitoring.quality_min_samples,
            problem_type=p.monitoring.problem_type,
            production=p.production,
            budget_act_percent=p.budget_act_percent,
        ).to_env()

    def _switch_statements(self) -> list[Statement]:
        """The deploy handler's off switch and budget breach (common/power.py); none in production,
        which is never switched off (its handler only reads the budget)."""
        p, ctx = self._props, self._props.context
        budget = allow("ReadBudget", "budgets:ViewBudget", ctx.arn("budgets", f"budget/{ctx.prefix}-monthly", region=False))
        if p.production:
            return [budget]
        return [
            budget,
            allow("SwitchEndpointOff", "sagemaker:DeleteEndpoint", ctx.arn("sagemaker", f"endpoint/{ctx.endpoint_name}")),
            allow(
                "DeregisterAutoscaling", "application-autoscaling:DeregisterScalableTarget", "*", self._team_tagged("ResourceTag")
            ),
            allow(
                "PauseRetraining",
                ["events:DisableRule", "events:EnableRule"],
                [self._rule_arn("retrain-schedule"), self._rule_arn("retrain-on-alarm")],
            ),
            allow("AlertOwners", "sns:Publish", p.alert_topic.arn),
        ]

    def _team_tagged(self, key: str) -> dict:
        """The condition on resources with no ARN before they exist: tagged (`RequestTag`) or carrying
        (`ResourceTag`) this team and environment."""
        ctx = self._props.context
        return {"StringEquals": {f"aws:{key}/Team": ctx.team, f"aws:{key}/Environment": ctx.environment}}

    def _statements(self) -> dict[str, list[Statement]]:
        """Each handler's own permissions, every resource scoped to this team and environment."""
        p, ctx = self._props, self._props.context
        sm = lambda resource: ctx.arn("sagemaker", resource)
        parameter = lambda what: ctx.arn("ssm", f"parameter{ctx.parameter_name(what)}")
        runs_table = ctx.arn("dynamodb", f"table/{ctx.runs_table_name}")
        artifacts = p.artifacts.arn
        jobs = sm(f"training-job/{ctx.prefix}-*")
        packages = sm(f"model-package/{p.registry.primary_group_name}/*")
        # PutMetricData has no resource-level permissions; the namespace condition scopes it.
        put_metrics = allow(
            "PublishPlatformMetrics",
            "cloudwatch:PutMetricData",
            "*",
            {"StringEquals": {"cloudwatch:namespace": ctx.metric_namespace}},
        )
        pass_training_role = allow(
            "PassExecutionRoleToSageMaker",
            "iam:PassRole",
            p.execution_role.arn,
            {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        )
        endpoint = sm(f"endpoint/{ctx.endpoint_name}")
        repository_arns = [repository.arn for repository in p.registry.repositories.values()]
        return {
            "retrain": [
                read_parameters("ReadRecipe", [parameter("training-recipe"), parameter("code-bundle")]),
                # A run pins the recipe's image tags to digests.
                allow("PinImages", "ecr:DescribeImages", repository_arns),
                allow(
                    "RunsTable",
                    ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
                    runs_table,
                ),
                list_prefixes(
                    "ListTrainingDataVersions",
                    p.curated.arn,
                    [p.training_data_prefix],
                    ["s3:ListBucket", "s3:ListBucketVersions"],
                ),
                allow("WriteManifests", "s3:PutObject", f"{artifacts}/{MANIFESTS_PREFIX}*"),
                # Curation (common/curation.py): labels joined with the data capture become curated
                # windows under the training prefix; the data policy reads their row counts and the data gate
                # reads every pinned row (by VersionId) against the feature definitions.
                list_prefixes("ListArtifacts", artifacts, [GROUND_TRUTH_PREFIX, DATA_CAPTURE_PREFIX]),
                read_objects(
                    "ReadLabelsCaptureDefinitionsManifests",
                    artifacts,
                    [GROUND_TRUTH_PREFIX, DATA_CAPTURE_PREFIX, "features/", MANIFESTS_PREFIX],
                    versions=False,
                ),
                allow("ReadTrainingData", OBJECT_READ, f"{p.curated.arn}/{p.training_data_prefix}*"),
                allow("WriteCuratedWindows", "s3:PutObject", f"{p.curated.arn}/{p.training_data_prefix}{LABELLED_DIR}*"),
                # The champion: the deployed-model pointer and its package (common/champion.py).
                allow(
                    "ReadChampion",
                    ["ssm:GetParameter", "sagemaker:DescribeModelPackage"],
                    [parameter("deployed-model"), packages],
                ),
                # A run the data gate refuses alerts the owners.
                allow("AlertOwners", "sns:Publish", p.alert_topic.arn),
                allow("StartTraining", ["sagemaker:CreateTrainingJob", "sagemaker:AddTags"], jobs),
                # Find the job a retry's first attempt started; stop the team's jobs that no run owns.
                allow(
                    "WatchTraining", ["sagemaker:DescribeTrainingJob", "sagemaker:ListTags", "sagemaker:StopTrainingJob"], jobs
                ),
                # ListTrainingJobs has no resource-level permissions: "*" is the only form AWS accepts.
                allow("ListTrainingJobs", "sagemaker:ListTrainingJobs", "*"),
                *(
                    [allow("ReadRetrainAlarms", "cloudwatch:DescribeAlarms", self._retrain_alarm_arns())]
                    if self._retrain_alarms()
                    else []
                ),
                pass_training_role,
            ],
            "register": [
                read_parameters("ReadRecipe", parameter("training-recipe")),
                allow("RunsTable", ["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"], runs_table),
                allow("ReadTrainingJob", ["sagemaker:DescribeTrainingJob", "sagemaker:ListTags"], jobs),
                allow(
                    "RegisterModel",
                    ["sagemaker:CreateModelPackage", "sagemaker:AddTags", "sagemaker:DescribeModelPackage"],
                    [sm(f"model-package-group/{p.registry.primary_group_name}"), packages],
                ),
                allow(
                    "ReadTrainingData",
                    OBJECT_READ,
                    under(p.curated.arn, [p.training_data_prefix, p.promoted_data_prefix])
                    if p.promoted_data_prefix
                    else f"{p.curated.arn}/{p.training_data_prefix}*",
                ),
                read_objects("ReadManifestsAndDefinitions", artifacts, [MANIFESTS_PREFIX, "features/", MODELS_PREFIX]),
                # Drift baselines, and the ModelMetrics document of each package (both models' holdout metrics).
                write_objects("WriteBaselines", artifacts, [BASELINES_PREFIX, EVALUATIONS_PREFIX]),
                allow("ImageDigests", "ecr:DescribeImages", repository_arns),
                allow("AlertOwners", "sns:Publish", p.alert_topic.arn),
            ],
            "deploy": [
                read_parameters("ReadRecipe", parameter("serving-recipe")),
                allow("RecordDeployedModel", ["ssm:GetParameter", "ssm:PutParameter"], parameter("deployed-model")),
                allow("ReadModelPackage", "sagemaker:DescribeModelPackage", packages),
                # The package's stored manifest, to check it still has the sha256 the package records.
                read_objects("ReadManifests", artifacts, [MANIFESTS_PREFIX], versions=False),
                allow(
                    "RollOutModel",
                    [
                        "sagemaker:CreateModel",
                        "sagemaker:DescribeModel",
                        "sagemaker:CreateEndpointConfig",
                        "sagemaker:DescribeEndpointConfig",
                        "sagemaker:UpdateEndpoint",
                        "sagemaker:DescribeEndpoint",
                        "sagemaker:AddTags",
                    ],
                    [sm(f"model/{ctx.prefix}-*"), sm(f"endpoint-config/{ctx.prefix}-*"), endpoint],
                ),
                # The first approved model creates the endpoint (modules/serving).
                allow("CreateEndpoint", "sagemaker:CreateEndpoint", [endpoint, sm(f"endpoint-config/{ctx.prefix}-*")]),
                # No ARN exists before registration: scoped by the team tag the handler must send, then
                # by the tag the target carries.
                allow(
                    "RegisterAutoscaling", "application-autoscaling:RegisterScalableTarget", "*", self._team_tagged("RequestTag")
                ),
                allow("ScalingPolicy", "application-autoscaling:PutScalingPolicy", "*", self._team_tagged("ResourceTag")),
                # Target tracking creates and reads its own alarms.
                allow(
                    "TargetTrackingAlarms",
                    ["cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms", "cloudwatch:DeleteAlarms"],
                    ctx.arn("cloudwatch", f"alarm:TargetTracking-endpoint/{ctx.endpoint_name}/*"),
                ),
                # Created by the first registration in an account.
                allow(
                    "AutoscalingServiceLinkedRole",
                    "iam:CreateServiceLinkedRole",
                    ctx.arn(
                        "iam",
                        "role/aws-service-role/sagemaker.application-autoscaling.amazonaws.com/"
                        "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint",
                        region=False,
                    ),
                    {"StringLike": {"iam:AWSServiceName": "sagemaker.application-autoscaling.amazonaws.com"}},
                ),
                # SageMaker creates grants on the key for the new endpoint config.
                allow(
                    "EndpointConfigKeyGrant",
                    ["kms:CreateGrant", "kms:DescribeKey"],
                    p.key.arn,
                    {"Bool": {"kms:GrantIsForAWSResource": "true"}},
                ),
                pass_training_role,
                *self._switch_statements(),
            ],
            "drift_check": [
                read_parameters("ReadDeployedModel", parameter("deployed-model")),
                list_prefixes("ListArtifacts", artifacts, [DATA_CAPTURE_PREFIX, BASELINES_PREFIX, "features/"]),
                read_objects(
                    "ReadCaptureAndBaselines", artifacts, [DATA_CAPTURE_PREFIX, BASELINES_PREFIX, "features/"], versions=False
                ),
                put_metrics,
            ],
            "quality_check": [
                read_parameters("ReadDeployedModel", parameter("deployed-model")),
                list_prefixes("ListArtifacts", artifacts, [DATA_CAPTURE_PREFIX, GROUND_TRUTH_PREFIX]),
                read_objects("ReadCaptureAndLabels", artifacts, [DATA_CAPTURE_PREFIX, GROUND_TRUTH_PREFIX], versions=False),
                put_metrics,
            ],
        }
