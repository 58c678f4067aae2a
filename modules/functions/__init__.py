"""A platform Lambda function: deterministic package, own role (least privilege), own encrypted log
group with retention, an encrypted dead-letter queue for failed asynchronous invocations (EventBridge
invokes asynchronously), and environment variables encrypted with the team key.

Why the code goes through S3: hashicorp/aws 5.100.0 holds a provider-wide lock while it creates a
function from a local `filename` (it reads the whole zip into memory), so a stack's functions are
created one after another. From an S3 object they are created in parallel. The object is the
deterministic zip, keyed by its own SHA-256 (a code change is a new key, an unchanged package the same
key: no update), encrypted with the team key (SSE-KMS, as the bucket policy demands of every upload).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from cdktf import AssetType, TerraformAsset
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from cdktf_cdktf_provider_aws.lambda_function import (
    LambdaFunction,
    LambdaFunctionDeadLetterConfig,
    LambdaFunctionEnvironment,
    LambdaFunctionLoggingConfig,
)
from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket
from cdktf_cdktf_provider_aws.s3_object import S3Object
from cdktf_cdktf_provider_aws.sqs_queue import SqsQueue
from constructs import Construct

from contract.layout import LAMBDA_CODE_PREFIX
from contract.names import TeamContext
from modules.functions.packaging import build_package, code_sha256
from modules.iam import Statement, allow, policy_document, service_trust_policy, use_key

RUNTIME = "python3.11"


def code_key(handler: str, code_sha256: str) -> str:
    """The object key of a package: its handler and the SHA-256 of its bytes (hex)."""
    return f"{LAMBDA_CODE_PREFIX}{handler}/{base64.b64decode(code_sha256).hex()}.zip"


@dataclass(frozen=True)
class FunctionProps:
    context: TeamContext
    handler: str  # folder under lambdas/
    statements: list[Statement]  # IAM statements of this function's own permissions (modules/iam.py)
    environment: dict[str, str]
    key: KmsKey  # the team key: package object, logs, dead-letter queue and environment variables
    code_bucket: S3Bucket  # where the package goes (by reference: the upload waits for the bucket)
    log_retention_days: int = 365
    timeout_seconds: int = 120
    memory_mb: int = 512
    description: str = ""


class PlatformFunction(Construct):
    def __init__(self, scope: Construct, id: str, props: FunctionProps):
        super().__init__(scope, id)
        ctx, key_arn = props.context, props.key.arn
        name = ctx.function_name(props.handler)
        self.function_name = name

        built = build_package(props.handler)
        sha256 = code_sha256(built)
        package = TerraformAsset(self, "package", path=str(built), type=AssetType.FILE)
        self.code = S3Object(
            self,
            "code",
            bucket=props.code_bucket.bucket,
            key=code_key(props.handler, sha256),
            source=package.path,
            server_side_encryption="aws:kms",
            kms_key_id=key_arn,
        )

        log_group = CloudwatchLogGroup(
            self, "logs", name=f"/aws/lambda/{name}", retention_in_days=props.log_retention_days, kms_key_id=key_arn
        )
        self.dead_letter_queue = SqsQueue(
            self,
            "dlq",
            name=f"{name}-dlq",
            kms_master_key_id=key_arn,
            kms_data_key_reuse_period_seconds=3600,
            message_retention_seconds=14 * 24 * 3600,
        )
        self.role = IamRole(
            self,
            "role",
            name=f"{name}-role",
            assume_role_policy=service_trust_policy("lambda.amazonaws.com", ctx.account_id),
        )
        basics = [
            allow("OwnLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], f"{log_group.arn}:*"),
            allow("OwnDeadLetterQueue", "sqs:SendMessage", self.dead_letter_queue.arn),
            use_key("TeamKey", key_arn),
        ]
        policy = IamRolePolicy(
            self,
            "policy",
            name=f"{name}-policy",
            role=self.role.id,
            policy=policy_document(basics + props.statements),
        )
        self.function = LambdaFunction(
            self,
            "function",
            function_name=name,
            description=props.description or f"{props.handler} handler of {ctx.prefix}",
            s3_bucket=self.code.bucket,
            s3_key=self.code.key,
            source_code_hash=sha256,  # Lambda's CodeSha256 of the package: a new package updates the function
            handler="handler.handler",
            runtime=RUNTIME,
            role=self.role.arn,
            timeout=props.timeout_seconds,
            memory_size=props.memory_mb,
            kms_key_arn=key_arn,
            environment=LambdaFunctionEnvironment(variables=props.environment),
            dead_letter_config=LambdaFunctionDeadLetterConfig(target_arn=self.dead_letter_queue.arn),
            logging_config=LambdaFunctionLoggingConfig(log_format="Text", log_group=log_group.name),
            depends_on=[log_group, policy],
        )

    @property
    def arn(self) -> str:
        return self.function.arn
