"""Every AWS call a handler makes on the emulator, authorized by its deployed role.

moto answers every call with admin rights (its own request check passes the resource `*` for most
services and evaluates no condition it is not given), so a role missing a permission would pass here
and fail on AWS. `authorized_invoke` runs a deployed handler in-process, as ops.functions.invoke does
(its `handle` with the deployed function's configuration), but with its role's own credentials
(AssumeRole on the emulator; a boto3 session of them, common.aws.session_scope, so the process
environment is never touched) and a botocore hook that records each call; each call is then turned into the IAM requests AWS evaluates for it (action, resource ARN,
condition context, including what the call implies: iam:PassRole for a role it hands to SageMaker,
sagemaker:AddTags for tags on a create, kms:CreateGrant for a key an endpoint config names,
kms:GenerateDataKey for an SSE-KMS put) and evaluated against the role's deployed policies.

Why not a policy library: the maintained Python ones on the package index only parse, lint or expand
policies (policyuniverse, parliament, policy-sentry, py-iam-expand); none evaluates a request with
its resource and condition context. The evaluator here is small: action and resource wildcards
(moto's own matcher), explicit Deny over Allow, and the condition operators our policies use; a
policy with an operator it does not know fails the check rather than passing it.

A call with no mapping below fails too ("no IAM mapping"), so a handler cannot start using a new API
unchecked.
"""

from __future__ import annotations

import fnmatch
import json
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import boto3

from common import aws as common_aws
from contract.names import TeamContext
from emulator.clock import handler_clock
from ops.functions import deployed_configuration, load_handler


class Unauthorized(AssertionError):
    """A handler made calls its deployed role does not allow (each named)."""


@dataclass(frozen=True)
class Call:
    service: str  # the IAM prefix (botocore's signing name)
    operation: str
    params: dict[str, Any]

    def __str__(self) -> str:
        return f"{self.service}:{self.operation}({_brief(self.params)})"


@dataclass(frozen=True)
class Request:
    action: str
    resource: str
    context: dict[str, str] = field(default_factory=dict)


@dataclass
class Checked:
    """What was checked, per role: the calls and the IAM requests they became."""

    calls: list[Call] = field(default_factory=list)
    requests: dict[str, list[Request]] = field(default_factory=dict)
    statements: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def excess(self) -> dict[str, list[str]]:
        """Per role: `Sid action` of each allowed action no checked request used (a grant the loop never
        needed: excess, or needed by AWS itself, which the caller must list with its reason)."""
        found = {}
        for role, statements in self.statements.items():
            requests = self.requests.get(role, [])
            unused = []
            for statement in statements:
                if statement.get("Effect") != "Allow":
                    continue
                for action in _list(statement.get("Action")):
                    probe = {**statement, "Action": action}
                    if not any(_applies(probe, r) for r in requests):
                        unused.append(f"{statement.get('Sid', '?')} {action}")
            found[role.rsplit("/", 1)[-1]] = unused
        return found


@contextmanager
def recording(session: boto3.Session | None = None) -> Iterator[list[Call]]:
    """Record every API call made through clients created inside the block (of `session`, else boto3's
    default session)."""
    calls: list[Call] = []

    def record(params: dict[str, Any], model, **_: Any) -> None:
        service = model.service_model.signing_name or model.service_model.endpoint_prefix
        calls.append(Call(service, model.name, json.loads(json.dumps(params, default=str))))

    session = session or boto3._get_default_session()
    session.events.register("before-parameter-build", record, unique_id="mlp-iam-check")
    try:
        yield calls
    finally:
        session.events.unregister("before-parameter-build", unique_id="mlp-iam-check")


def role_arn_of(ctx: TeamContext, handler: str) -> str:
    return boto3.client("lambda").get_function_configuration(FunctionName=ctx.function_name(handler))["Role"]


def role_statements(role_arn: str) -> list[dict[str, Any]]:
    """Every statement of the role's inline and attached policies, as deployed."""
    iam, name = boto3.client("iam"), role_arn.rsplit("/", 1)[-1]
    documents = [
        iam.get_role_policy(RoleName=name, PolicyName=p)["PolicyDocument"]
        for p in iam.list_role_policies(RoleName=name)["PolicyNames"]
    ]
    for attached in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
        version = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]["DefaultVersionId"]
        documents.append(iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=version)["PolicyVersion"]["Document"])
    statements = []
    for document in documents:
        document = json.loads(document) if isinstance(document, str) else document
        found = document.get("Statement", [])
        statements += found if isinstance(found, list) else [found]
    return statements


# Every call checked in this process (figures for the tests and the demo), unless a caller collects
# its own calls apart (`checked_into`): a test module whose figures must not depend on which other
# tests the same pytest-xdist worker ran.
CHECKED = Checked()
_COLLECTING: ContextVar[Checked] = ContextVar("mlp_iam_checked", default=CHECKED)


@contextmanager
def checked_into(checked: Checked) -> Iterator[Checked]:
    """Within the block, authorized_invoke records into `checked` instead of CHECKED."""
    token = _COLLECTING.set(checked)
    try:
        yield checked
    finally:
        _COLLECTING.reset(token)


def authorized_invoke(ctx: TeamContext, handler: str, event: Any) -> Any:
    """Invoke a deployed handler in-process under its role's credentials; raise Unauthorized naming each
    call the role does not allow (the handler's own exception, if any, is chained)."""
    role_arn = role_arn_of(ctx, handler)
    credentials = boto3.client("sts").assume_role(RoleArn=role_arn, RoleSessionName=f"{handler}-check")["Credentials"]
    session = boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=ctx.region,
    )
    configuration = deployed_configuration(ctx, handler)
    statements = role_statements(role_arn)
    error: Exception | None = None
    with common_aws.session_scope(session), recording(session) as calls:
        try:
            module = load_handler(handler)
            with handler_clock(module):  # the played time, where the demo plays one (emulator.clock)
                result = module.handle(event, configuration)
        except Exception as raised:
            error = raised
    checked = _COLLECTING.get()
    checked.statements[role_arn] = statements
    denied = check_calls(calls, statements, ctx, checked, role_arn)
    if denied:
        raise Unauthorized(
            f"{handler} (role {role_arn}) made calls its role does not allow:\n  " + "\n  ".join(denied)
        ) from error
    if error is not None:
        raise error
    return result


def check_calls(
    calls: list[Call], statements: list[dict[str, Any]], ctx: TeamContext, checked: Checked | None = None, role_arn: str = ""
) -> list[str]:
    denied = []
    for call in calls:
        try:
            requests = requests_of(call, ctx)
        except KeyError as missing:
            denied.append(f"{call}: no IAM mapping for {missing} (emulator/iam_check.py)")
            continue
        for request in requests:
            verdict = evaluate(statements, request)
            if verdict is not True:
                why = "explicitly denied" if verdict is False else "no statement allows it"
                denied.append(f"{call}: {request.action} on {request.resource} {request.context or ''} ({why})")
        if checked is not None:
            checked.calls.append(call)
            checked.requests.setdefault(role_arn, []).extend(requests)
    return denied


# --- evaluation ------------------------------------------------------------------------------------


def evaluate(statements: list[dict[str, Any]], request: Request) -> bool | None:
    """True allowed, False explicitly denied, None implicitly denied (IAM's order: Deny wins)."""
    allowed = False
    for statement in statements:
        if not _applies(statement, request):
            continue
        if statement.get("Effect") == "Deny":
            return False
        allowed = True
    return True if allowed else None


def _applies(statement: dict[str, Any], request: Request) -> bool:
    actions, resources = _list(statement.get("Action")), _list(statement.get("Resource"))
    if not any(fnmatch.fnmatchcase(request.action.lower(), a.lower()) for a in actions):
        return False
    if not any(fnmatch.fnmatchcase(request.resource, r) for r in resources):
        return False
    return _conditions_hold(statement.get("Condition") or {}, request.context)


def _conditions_hold(condition: dict[str, dict[str, Any]], context: dict[str, str]) -> bool:
    lowered = {k.lower(): v for k, v in context.items()}
    for operator, tests in condition.items():
        check = OPERATORS.get(operator.removesuffix("IfExists"))
        if check is None:
            raise Unauthorized(f"condition operator {operator} is not understood by emulator/iam_check.py")
        for key, expected in tests.items():
            actual = lowered.get(key.lower())
            if actual is None:
                if operator.endswith("IfExists"):
                    continue
                return False
            if not any(check(actual, str(e).lower() if isinstance(e, bool) else str(e)) for e in _list(expected)):
                return False
    return True


OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda actual, expected: actual == expected,
    "StringLike": lambda actual, expected: fnmatch.fnmatchcase(actual, expected),
    "Bool": lambda actual, expected: actual.lower() == expected.lower(),
    "ArnEquals": lambda actual, expected: actual == expected,
    "ArnLike": lambda actual, expected: fnmatch.fnmatchcase(actual, expected),
}


def _list(value: Any) -> list:
    return value if isinstance(value, list) else [] if value is None else [value]


def _brief(params: dict[str, Any]) -> str:
    names = (
        "Name",
        "TableName",
        "Bucket",
        "Key",
        "ModelName",
        "EndpointName",
        "EndpointConfigName",
        "TrainingJobName",
        "ModelPackageName",
        "ModelPackageGroupName",
        "TopicArn",
        "repositoryName",
        "Namespace",
        "ResourceId",
        "Prefix",
    )
    return ", ".join(f"{k}={params[k]}" for k in names if k in params)


# --- calls -> IAM requests -------------------------------------------------------------------------


def requests_of(call: Call, ctx: TeamContext) -> list[Request]:
    """The IAM requests AWS evaluates for one call (KeyError names an unmapped service or operation)."""
    return MAPPINGS[call.service](call, ctx)


def _sagemaker(call: Call, ctx: TeamContext) -> list[Request]:
    p, op, arn = call.params, call.operation, lambda r: ctx.arn("sagemaker", r.lower())
    action = f"sagemaker:{op}"
    resource_of = {
        "DescribeTrainingJob": lambda: [arn(f"training-job/{p['TrainingJobName']}")],
        "CreateTrainingJob": lambda: [arn(f"training-job/{p['TrainingJobName']}")],
        "StopTrainingJob": lambda: [arn(f"training-job/{p['TrainingJobName']}")],
        "ListTrainingJobs": lambda: ["*"],  # no resource-level permissions (AWS's service authorization table)
        "ListTags": lambda: [p["ResourceArn"]],
        "CreateModelPackage": lambda: [
            arn(f"model-package-group/{p['ModelPackageGroupName']}"),
            arn(f"model-package/{p['ModelPackageGroupName']}/*"),
        ],
        # By name in the caller's account, or by ARN (another account's group: a promotion's source).
        "ListModelPackages": lambda: [
            p["ModelPackageGroupName"]
            if p["ModelPackageGroupName"].startswith("arn:")
            else arn(f"model-package-group/{p['ModelPackageGroupName']}")
        ],
        "DescribeModelPackage": lambda: [
            p["ModelPackageName"] if p["ModelPackageName"].startswith("arn:") else arn(f"model-package/{p['ModelPackageName']}")
        ],
        "DescribeModel": lambda: [arn(f"model/{p['ModelName']}")],
        "CreateModel": lambda: [arn(f"model/{p['ModelName']}")],
        "DescribeEndpointConfig": lambda: [arn(f"endpoint-config/{p['EndpointConfigName']}")],
        "CreateEndpointConfig": lambda: [arn(f"endpoint-config/{p['EndpointConfigName']}")],
        "DescribeEndpoint": lambda: [arn(f"endpoint/{p['EndpointName']}")],
        "DeleteEndpoint": lambda: [arn(f"endpoint/{p['EndpointName']}")],
        "CreateEndpoint": lambda: [arn(f"endpoint/{p['EndpointName']}"), arn(f"endpoint-config/{p['EndpointConfigName']}")],
        "UpdateEndpoint": lambda: [arn(f"endpoint/{p['EndpointName']}"), arn(f"endpoint-config/{p['EndpointConfigName']}")],
    }[op]
    resources = resource_of()
    requests = [Request(action, r) for r in resources]
    if p.get("Tags"):  # tags on a create are an AddTags on the new resource
        requests.append(Request("sagemaker:AddTags", resources[0]))
    role = p.get("RoleArn") or p.get("ExecutionRoleArn")
    if role:  # SageMaker acts as this role: the caller must be allowed to pass it
        requests.append(Request("iam:PassRole", role, {"iam:PassedToService": "sagemaker.amazonaws.com"}))
    for key in {p.get("KmsKeyId"), (p.get("DataCaptureConfig") or {}).get("KmsKeyId")} - {None}:
        # SageMaker creates grants on the key for the endpoint's volume / capture, with the caller's rights.
        requests.append(Request("kms:CreateGrant", _key_arn(key, ctx), {"kms:GrantIsForAWSResource": "true"}))
    return requests


def _s3(call: Call, ctx: TeamContext) -> list[Request]:
    p, op = call.params, call.operation
    bucket, obj = f"arn:aws:s3:::{p['Bucket']}", f"arn:aws:s3:::{p['Bucket']}/{p.get('Key', '')}"
    prefix = {"s3:prefix": p.get("Prefix", "")}
    if op == "PutObject":
        requests = [Request("s3:PutObject", obj, {"s3:x-amz-server-side-encryption": p.get("ServerSideEncryption", "")})]
        if p.get("ServerSideEncryption") == "aws:kms":
            requests.append(Request("kms:GenerateDataKey", _key_arn(p.get("SSEKMSKeyId") or "", ctx)))
        return requests
    if op == "CopyObject":  # a read of the source (version), a put of the copy
        source = p["CopySource"]
        if isinstance(source, str):  # botocore's own form by now: "bucket/key[?versionId=v]", URL-quoted
            path, _, query = source.partition("?versionId=")
            bucket, _, key = urllib.parse.unquote(path).partition("/")
            source = {"Bucket": bucket, "Key": key, "VersionId": urllib.parse.unquote(query) or None}
        read = Request(
            "s3:GetObjectVersion" if source.get("VersionId") else "s3:GetObject",
            f"arn:aws:s3:::{source['Bucket']}/{source['Key']}",
        )
        return [read, *_s3(Call("s3", "PutObject", p), ctx)]
    return {
        "GetObject": lambda: [Request("s3:GetObjectVersion" if p.get("VersionId") else "s3:GetObject", obj)],
        "HeadObject": lambda: [Request("s3:GetObjectVersion" if p.get("VersionId") else "s3:GetObject", obj)],
        "ListObjectsV2": lambda: [Request("s3:ListBucket", bucket, prefix)],
        "ListObjects": lambda: [Request("s3:ListBucket", bucket, prefix)],
        "ListObjectVersions": lambda: [Request("s3:ListBucketVersions", bucket, prefix)],
    }[op]()


def _key_arn(key: str, ctx: TeamContext) -> str:
    if key.startswith("alias/"):  # IAM authorizes the key an alias names (looked up with the checker's credentials)
        return boto3.client("kms", region_name=ctx.region).describe_key(KeyId=key)["KeyMetadata"]["Arn"]
    return key if key.startswith("arn:") else ctx.arn("kms", f"key/{key}")


def _simple(resource: Callable[[Call, TeamContext], str], context: Callable[[Call], dict] = lambda c: {}):
    def requests(call: Call, ctx: TeamContext) -> list[Request]:
        return [Request(f"{call.service}:{call.operation}", resource(call, ctx), context(call))]

    return requests


def _autoscaling(call: Call, ctx: TeamContext) -> list[Request]:
    p, action = call.params, f"application-autoscaling:{call.operation}"
    if call.operation == "RegisterScalableTarget":
        _REGISTERED_TAGS[p["ResourceId"]] = dict(p.get("Tags") or {})
        tags = {f"aws:RequestTag/{k}": v for k, v in (p.get("Tags") or {}).items()}
        return [Request(action, "*", tags)]
    if call.operation in ("PutScalingPolicy", "DeregisterScalableTarget"):
        return [Request(action, "*", {f"aws:ResourceTag/{k}": v for k, v in _target_tags(p["ResourceId"]).items()})]
    return {"DescribeScalableTargets": lambda: [Request(action, "*")]}[call.operation]()


# Tags each target was registered with: calls are evaluated after they ran, when a deregistered target
# no longer answers for its tags (AWS evaluates them before).
_REGISTERED_TAGS: dict[str, dict[str, str]] = {}


def _target_tags(resource_id: str) -> dict[str, str]:
    """The scalable target's tags as the emulator holds them (the ResourceTag context of a policy call),
    or as it was registered when it is gone since (a DeregisterScalableTarget call)."""
    client = boto3.client("application-autoscaling")
    for target in client.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[resource_id])["ScalableTargets"]:
        return client.list_tags_for_resource(ResourceARN=target["ScalableTargetARN"]).get("Tags", {})
    return _REGISTERED_TAGS.get(resource_id, {})


def _cloudwatch(call: Call, ctx: TeamContext) -> list[Request]:
    """CloudWatch (botocore's signing name "monitoring"); PutMetricData has no resources, only a namespace;
    DescribeAlarms is authorized per alarm named (all alarms, `*`, when it names none)."""
    p = call.params
    return {
        "PutMetricData": lambda: [Request("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": p["Namespace"]})],
        "DescribeAlarms": lambda: (
            [Request("cloudwatch:DescribeAlarms", ctx.arn("cloudwatch", f"alarm:{name}")) for name in p.get("AlarmNames", [])]
            or [Request("cloudwatch:DescribeAlarms", "*")]
        ),
    }[call.operation]()


MAPPINGS: dict[str, Callable[[Call, TeamContext], list[Request]]] = {
    "sagemaker": _sagemaker,
    "s3": _s3,
    "dynamodb": _simple(lambda c, ctx: ctx.arn("dynamodb", f"table/{c.params['TableName']}")),
    "ssm": _simple(lambda c, ctx: ctx.arn("ssm", f"parameter{c.params['Name']}")),
    "sns": _simple(lambda c, ctx: c.params["TopicArn"]),
    # The repository of `registryId` (another account's, for a promotion's pulls), else the caller's.
    "ecr": _simple(
        lambda c, ctx: (
            f"arn:aws:ecr:{ctx.region}:{c.params.get('registryId') or ctx.account_id}:repository/{c.params['repositoryName']}"
        )
    ),
    # DescribeKey by alias is authorized on the key the alias names.
    "kms": _simple(lambda c, ctx: _key_arn(c.params["KeyId"], ctx)),
    "monitoring": _cloudwatch,
    "events": _simple(lambda c, ctx: ctx.arn("events", f"rule/{c.params['Name']}")),
    # DescribeBudget is authorized as budgets:ViewBudget on the budget (a global ARN, no region).
    "budgets": lambda c, ctx: [
        Request("budgets:ViewBudget", ctx.arn("budgets", f"budget/{c.params['BudgetName']}", region=False))
    ],
    "application-autoscaling": _autoscaling,
}
