"""Team isolation: no IAM policy in team A's stack grants anything on team B's resources in the same
account, for every ordered pair of stacks of the example config and of generated multi-team configs
(hypothesis: team names built to nest, such as `fraud-dev` or `fraud-dev-tools` beside `fraud`, and
environments that share an account). A generated config is either refused by validation with a located
problem naming the nesting or clash, or synthesized and checked over all its pairs; a positive control
synthesizes a nesting config that bypasses validation and shows the check finds the grants.

Statements are evaluated with moto's IAM evaluator (`moto.iam.access_control.IAMPolicy`), which matches
wildcards in actions and resources, instead of hand-written string matching. Terraform tokens in A's
policies (`${aws_s3_bucket.x.arn}`, `${aws_kms_key.k.arn}`, ...) are resolved to the concrete ARN of the
resource *in A's own stack* (from that resource's `bucket`/`name`); a token that cannot be resolved is
replaced by an ARN that can only be A's, so a literal ARN or wildcard is what could reach B.

Conservative by design: moto 5.2.5 does evaluate some Condition operators (and answers DENIED when the
request carries no matching context value), so every Condition block is *removed* from identity-policy
statements before evaluation: a statement whose only protection against cross-team access is a
condition (e.g. `s3:prefix`) is treated as if the condition were absent. Each Allow statement is
evaluated on its own, so a Deny elsewhere cannot hide an Allow. Known evaluator limits: moto turns `*`
into a regex and does not escape other regex characters (`.` then matches any character, which only
makes matching broader), and IAM's `?` wildcard is not supported (no statement here uses it).

Trust policies (aws_iam_role assume_role_policy) have no Resource, so the question there is who may
assume A's role: no statement may name one of B's principals, and where a role trusts the account root
(any principal of the account, B's roles included), the Condition *is* the isolation control: it is
evaluated with B's principal tags and must not admit them (and must admit A's, so the check can fail).
moto treats a context key that the request does not carry as satisfying the condition (AWS does not), so
an untagged principal is not modelled; the check is about B's principals, which carry Team=B.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto.iam.access_control import IAMPolicy, PermissionResult

from config.platform import ConfigError, parse_config, resource_prefix, stack_name
from tests.config_cases import example
from tests.synth import synth

# The last test reports figures the others gathered in this process: keep the module on one xdist worker.
pytestmark = pytest.mark.xdist_group("test_team_isolation")

TOKEN = re.compile(r"\$\{([a-z0-9_]+)\.([^.}]+)\.(arn|id|name|bucket)\}")

# Representative actions per kind of resource: reads, writes and administration.
ACTIONS = {
    "s3-bucket": ["s3:ListBucket", "s3:ListBucketVersions", "s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucket"],
    "s3-object": ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"],
    "kms": [
        "kms:Decrypt",
        "kms:Encrypt",
        "kms:GenerateDataKey",
        "kms:ReEncryptFrom",
        "kms:CreateGrant",
        "kms:DescribeKey",
        "kms:PutKeyPolicy",
        "kms:ScheduleKeyDeletion",
    ],
    "ecr": [
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
        "ecr:DescribeImages",
        "ecr:PutImage",
        "ecr:InitiateLayerUpload",
        "ecr:BatchDeleteImage",
    ],
    "model-package-group": [
        "sagemaker:CreateModelPackage",
        "sagemaker:DescribeModelPackageGroup",
        "sagemaker:ListModelPackages",
        "sagemaker:DeleteModelPackageGroup",
    ],
    "model-package": [
        "sagemaker:CreateModelPackage",
        "sagemaker:DescribeModelPackage",
        "sagemaker:UpdateModelPackage",
        "sagemaker:DeleteModelPackage",
    ],
    "feature-group": [
        "sagemaker:PutRecord",
        "sagemaker:GetRecord",
        "sagemaker:DeleteRecord",
        "sagemaker:DescribeFeatureGroup",
        "sagemaker:UpdateFeatureGroup",
    ],
    "endpoint": [
        "sagemaker:UpdateEndpoint",
        "sagemaker:InvokeEndpoint",
        "sagemaker:DescribeEndpoint",
        "sagemaker:DeleteEndpoint",
        "sagemaker:UpdateEndpointWeightsAndCapacities",
    ],
    "endpoint-config": ["sagemaker:CreateEndpointConfig", "sagemaker:DescribeEndpointConfig", "sagemaker:DeleteEndpointConfig"],
    "model": ["sagemaker:CreateModel", "sagemaker:DescribeModel", "sagemaker:DeleteModel"],
    "training-job": [
        "sagemaker:CreateTrainingJob",
        "sagemaker:DescribeTrainingJob",
        "sagemaker:StopTrainingJob",
        "sagemaker:ListTags",
        "sagemaker:AddTags",
    ],
    "table": [
        "dynamodb:PutItem",
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:Query",
        "dynamodb:Scan",
    ],
    "parameter": ["ssm:GetParameter", "ssm:GetParameters", "ssm:PutParameter", "ssm:DeleteParameter"],
    "role": ["iam:PassRole", "sts:AssumeRole", "iam:PutRolePolicy", "iam:TagRole", "iam:UpdateAssumeRolePolicy"],
    "topic": ["sns:Publish", "sns:Subscribe", "sns:SetTopicAttributes"],
    "queue": ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:PurgeQueue"],
}

FIGURES = Counter()


def environment_pairs(config):
    """(env, account, region, team A, team B) for every ordered pair of teams sharing an environment."""
    for environment in config.environments:
        teams = [t.name for t in config.teams if environment.name in t.environments]
        for a, b in itertools.permutations(teams, 2):
            yield environment.name, environment.account_id, config.platform.region, a, b


def account_pairs(config):
    """((team A, env A), (team B, env B), account) for every ordered pair of distinct stacks in one account."""
    stacks = [(t, config.environment(e)) for t in config.teams for e in t.environments]
    for (ta, ea), (tb, eb) in itertools.permutations(stacks, 2):
        if ea.account_id == eb.account_id:
            yield (ta, ea.name), (tb, eb.name), ea.account_id


def expected_pairs(config):
    """How many ordered stack pairs share an account: sum over accounts of n * (n - 1)."""
    per_account = Counter(config.environment(e).account_id for t in config.teams for e in t.environments)
    return sum(n * (n - 1) for n in per_account.values())


def team_resources(platform, team, environment, account, region, spec=None):
    """(kind, ARN) of every resource of `team` in `environment` that another team must not touch (CONTRACTS.md).
    `spec` (the TeamSpec) gives the team's own feature sets and model package groups."""
    prefix = resource_prefix(platform, team, environment)
    feature_sets = (
        [s.name for s in spec.settings.features.feature_sets] if spec and spec.settings.features else ["transactions", "sessions"]
    )
    groups = list(spec.settings.registry.model_package_groups) if spec else ["models"]
    arn = lambda service, rest: f"arn:aws:{service}:{region}:{account}:{rest}"
    found = []
    for purpose in ("raw", "curated", "artifacts", "logs"):
        bucket = f"{prefix}-{purpose}-{account}"
        found += [("s3-bucket", f"arn:aws:s3:::{bucket}")]
        found += [
            ("s3-object", f"arn:aws:s3:::{bucket}/{key}")
            for key in ("models/r1/model.tar.gz", "training/part-0.csv", "features/definitions.json", "x")
        ]
    found += [("kms", arn("kms", f"key/{team}-{environment}-key-id")), ("kms", arn("kms", f"alias/{prefix}"))]
    found += [("ecr", arn("ecr", f"repository/{prefix}-{repo}")) for repo in ("training", "inference")]
    found += [("model-package-group", arn("sagemaker", f"model-package-group/{prefix}-{g}")) for g in groups]
    found += [("model-package", arn("sagemaker", f"model-package/{prefix}-{g}/1")) for g in groups]
    found += [("feature-group", arn("sagemaker", f"feature-group/{prefix}-{name}")) for name in feature_sets]
    found += [
        ("endpoint", arn("sagemaker", f"endpoint/{prefix}")),
        ("endpoint-config", arn("sagemaker", f"endpoint-config/{prefix}-v1-abcdef12")),
        ("model", arn("sagemaker", f"model/{prefix}-v1")),
        ("training-job", arn("sagemaker", f"training-job/{prefix}-20240101t000000z-abcdef")),
        ("table", arn("dynamodb", f"table/{prefix}-runs")),
        ("topic", arn("sns", f"{prefix}-alerts")),
        ("queue", arn("sqs", f"{prefix}-retrain-dlq")),
    ]
    found += [
        ("parameter", arn("ssm", f"parameter/{platform}/{team}/{environment}/{name}"))
        for name in ("training-recipe", "serving-recipe", "deployed-model")
    ]
    found += [
        ("role", f"arn:aws:iam::{account}:role/{prefix}-{role}")
        for role in ("sagemaker", "retrain-role", "register-role", "deploy-role", "feature-ingestion", "feature-store")
    ]
    return found


def resolve_tokens(text, stack, account, region):
    """Replace every `${type.name.arn}` token by the ARN of that resource in `stack` (the policy's own stack)."""

    def arn_of(match):
        resource_type, name, _ = match.groups()
        body = stack.resources(resource_type).get(name)
        if body is None:
            raise AssertionError(f"{stack.name}: token {match.group(0)} names no resource of the stack")
        named = body.get("bucket") or body.get("name")
        if named and "${" not in named:
            if resource_type == "aws_s3_bucket":
                return f"arn:aws:s3:::{named}"
            if resource_type == "aws_ecr_repository":
                return f"arn:aws:ecr:{region}:{account}:repository/{named}"
            if resource_type == "aws_iam_role":
                return f"arn:aws:iam::{account}:role/{named}"
            if resource_type == "aws_sns_topic":
                return f"arn:aws:sns:{region}:{account}:{named}"
            if resource_type == "aws_sqs_queue":
                return f"arn:aws:sqs:{region}:{account}:{named}"
            if resource_type == "aws_cloudwatch_log_group":
                return f"arn:aws:logs:{region}:{account}:log-group:{named}"
            if resource_type == "aws_dynamodb_table":
                return f"arn:aws:dynamodb:{region}:{account}:table/{named}"
        # A key (its id is random) or anything else: an ARN that is A's own and matches nothing of B.
        return f"arn:aws:unresolved:{region}:{account}:{stack.name}/{resource_type}/{name}"

    return TOKEN.sub(arn_of, text)


def identity_statements(stack, account, region):
    """(address, statement) for every Allow statement of the stack's role policies, tokens resolved."""
    for name, body in stack.resources("aws_iam_role_policy").items():
        document = json.loads(resolve_tokens(body["policy"], stack, account, region))
        statements = document["Statement"]
        for statement in statements if isinstance(statements, list) else [statements]:
            if statement.get("Effect") == "Allow":
                yield f"aws_iam_role_policy.{name}", statement


def permitted(statement, action, resource):
    """Whether `statement`, with its Condition removed (conservative), allows `action` on `resource`."""
    unconditional = {k: v for k, v in copy.deepcopy(statement).items() if k != "Condition"}
    policy = IAMPolicy(json.dumps({"Version": "2012-10-17", "Statement": [unconditional]}))
    return policy.is_action_permitted(action, resource) == PermissionResult.PERMITTED


def cross_team_grants(statements, foreign_resources):
    """Every (address, Sid, action, resource) that a statement of A allows on B's resources."""
    violations = []
    for address, statement in statements:
        FIGURES["statements"] += 1
        for kind, resource in foreign_resources:
            for action in ACTIONS[kind]:
                FIGURES["evaluations"] += 1
                if permitted(statement, action, resource):
                    violations.append((address, statement.get("Sid"), action, resource))
    return violations


def grants_between_stacks(config, stacks):
    """Every grant of a stack's role policies on another stack's resources in the same account."""
    platform, region = config.platform.name, config.platform.region
    violations, checked = [], 0
    for (team_a, env_a), (team_b, env_b), account in account_pairs(config):
        FIGURES["pairs"] += 1
        checked += 1
        stack = stacks[stack_name(team_a.name, env_a)]
        statements = list(identity_statements(stack, account, region))
        assert statements, f"{stack.name}: no role policy statements found; the test would prove nothing"
        foreign = team_resources(platform, team_b.name, env_b, account, region, team_b)
        violations += [(stack.name, stack_name(team_b.name, env_b), *v) for v in cross_team_grants(statements, foreign)]
    assert checked == expected_pairs(config)
    return violations


def test_no_team_policy_grants_anything_on_another_teams_resources(example_config, stacks):
    assert grants_between_stacks(example_config, stacks) == []


# Team names built from parts that nest (`fraud`, `fraud-dev`, `fraud-dev-tools`, ...).
NESTING_NAMES = st.lists(st.sampled_from(["fraud", "dev", "tools", "qa"]), min_size=1, max_size=2).map("-".join)
GENERATED = Counter()
MAX_TEAM_NAME = 20  # config/platform.py Name


@st.composite
def multi_team_configs(draw):
    data = example()
    shared = draw(st.booleans())  # dev and local in one account: stacks of both environments must not nest
    if shared:
        data["environments"][2]["account_id"] = data["environments"][0]["account_id"]
    first = draw(NESTING_NAMES)
    # Half the time a second team is built to nest in the first one's dev or local prefix.
    nesting = st.sampled_from(["dev", "local"]).map(lambda env: f"{first}-{env}") | st.sampled_from(
        ["dev-tools", "local-qa"]
    ).map(lambda tail: f"{first}-{tail}")
    names = list(dict.fromkeys([first, *draw(st.lists(NESTING_NAMES | nesting, min_size=1, max_size=2))]))
    names = [name for name in names if len(name) <= MAX_TEAM_NAME]  # longer names are refused for their length
    if len(names) < 2:
        names.append(f"{first}-qa")
    template = data["teams"][1]  # recsys: features and defaults
    teams = []
    for name in names:
        team = copy.deepcopy(template)
        team.update(
            name=name,
            owners=[f"{name}@example.com"],
            environments=draw(st.lists(st.sampled_from(["dev", "local"]), min_size=1, max_size=2, unique=True)),
        )
        teams.append(team)
    data["teams"] = teams
    return data


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=multi_team_configs())
def test_generated_multi_team_configs_are_refused_or_isolated(tmp_path_factory, data):
    GENERATED["configs"] += 1
    try:
        config = parse_config(data)
    except ConfigError as error:
        GENERATED["refused (nesting)"] += 1
        assert error.problems and all("nests inside" in p or "is also" in p for p in error.problems), error.problems
        return
    GENERATED["synthesized"] += 1
    stacks = synth(config, tmp_path_factory.mktemp("teams"))
    GENERATED["pairs checked"] += expected_pairs(config)
    assert grants_between_stacks(config, stacks) == []


def test_positive_control_a_nesting_config_that_skips_validation_is_flagged(tmp_path):
    """fraud and fraud-dev-tools in dev (what validation now refuses), built without validation: the
    check finds fraud-dev's wildcards on fraud-dev-tools-dev's resources, so it can fail."""
    data = example()
    data["teams"] = [data["teams"][1], copy.deepcopy(data["teams"][1])]
    data["teams"][0].update(name="fraud", environments=["dev"])
    data["teams"][1].update(name="tools", environments=["dev"])
    config = parse_config(data)
    nested = config.teams[1].model_copy(update={"name": "fraud-dev-tools"})
    config = config.model_copy(update={"teams": [config.teams[0], nested]})
    with pytest.raises(ConfigError, match="nests inside"):
        parse_config(config.model_dump(mode="json"))
    violations = grants_between_stacks(config, synth(config, tmp_path))
    assert any(a == "fraud-dev" and b == "fraud-dev-tools-dev" for a, b, *_ in violations), violations


def test_each_team_can_reach_its_own_resources(example_config, stacks):
    """The evaluator and the token resolution work: A's statements do allow A's own core resources."""
    platform = example_config.platform.name
    for environment, account, region, a, _ in environment_pairs(example_config):
        stack = stacks[stack_name(a, environment)]
        prefix = resource_prefix(platform, a, environment)
        statements = [s for _, s in identity_statements(stack, account, region)]
        expected = [
            ("s3:GetObject", f"arn:aws:s3:::{prefix}-artifacts-{account}/manifests/r1.json"),
            ("s3:PutObject", f"arn:aws:s3:::{prefix}-artifacts-{account}/baselines/r1.json"),
            ("sagemaker:CreateModelPackage", f"arn:aws:sagemaker:{region}:{account}:model-package/{prefix}-models/1"),
            ("sagemaker:UpdateEndpoint", f"arn:aws:sagemaker:{region}:{account}:endpoint/{prefix}"),
            ("dynamodb:PutItem", f"arn:aws:dynamodb:{region}:{account}:table/{prefix}-runs"),
            ("ssm:GetParameter", f"arn:aws:ssm:{region}:{account}:parameter/{platform}/{a}/{environment}/training-recipe"),
            ("ecr:BatchGetImage", f"arn:aws:ecr:{region}:{account}:repository/{prefix}-training"),
        ]
        for action, resource in expected:
            assert any(permitted(s, action, resource) for s in statements), f"{stack.name}: {action} on {resource}"


@pytest.mark.parametrize(
    "statement",
    [
        {"Sid": "TooBroad", "Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::mlp-recsys-dev-*"},
        {"Sid": "WildKey", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": "arn:aws:kms:us-east-1:111111111111:key/*"},
        {
            "Sid": "AnyGroup",
            "Effect": "Allow",
            "Action": ["sagemaker:Create*"],
            "Resource": "arn:aws:sagemaker:us-east-1:111111111111:model-package/*",
        },
        {
            "Sid": "ConditionIgnored",
            "Effect": "Allow",
            "Action": "ssm:GetParameter",
            "Resource": "arn:aws:ssm:us-east-1:111111111111:parameter/mlp/*",
            "Condition": {"StringEquals": {"aws:ResourceTag/Team": "fraud"}},
        },
    ],
)
def test_positive_control_a_cross_team_statement_is_flagged(statement):
    """The same helper flags hand-made violations, so the isolation test can fail."""
    foreign = team_resources("mlp", "recsys", "dev", "111111111111", "us-east-1")
    violations = cross_team_grants([("hand-made", statement)], foreign)
    assert violations, f"{statement['Sid']} was not flagged"


def test_positive_control_token_of_the_other_team_is_flagged(stacks):
    """Token resolution is not a blanket pass: a token naming a bucket called like B's resolves to B's ARN."""
    stack = stacks["fraud-dev"]
    name = next(n for n, body in stack.resources("aws_s3_bucket").items() if "-artifacts-" in body["bucket"])
    resolved = resolve_tokens(f"${{aws_s3_bucket.{name}.arn}}/*", stack, "111111111111", "us-east-1")
    assert resolved == "arn:aws:s3:::mlp-fraud-dev-artifacts-111111111111/*"
    patched = copy.deepcopy(stack)
    patched.document["resource"]["aws_s3_bucket"][name]["bucket"] = "mlp-recsys-dev-artifacts-111111111111"
    statement = {
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": resolve_tokens(f"${{aws_s3_bucket.{name}.arn}}/*", patched, "111111111111", "us-east-1"),
    }
    assert cross_team_grants([("patched", statement)], team_resources("mlp", "recsys", "dev", "111111111111", "us-east-1"))


def trust_statements(stack):
    for name, body in stack.resources("aws_iam_role").items():
        statements = json.loads(body["assume_role_policy"])["Statement"]
        for statement in statements if isinstance(statements, list) else [statements]:
            yield name, body["name"], statement


def test_no_trust_policy_admits_another_teams_principals(example_config, stacks):
    platform = example_config.platform.name
    for environment, account, region, a, b in environment_pairs(example_config):
        stack = stacks[stack_name(a, environment)]
        foreign_prefix = resource_prefix(platform, b, environment)
        foreign_roles = [arn for kind, arn in team_resources(platform, b, environment, account, region) if kind == "role"]
        for name, role_name, statement in trust_statements(stack):
            FIGURES["trust_statements"] += 1
            assert foreign_prefix not in json.dumps(statement.get("Principal")), f"{stack.name}: {name} trusts {b}"
            principals = statement.get("Principal", {})
            aws_principals = principals.get("AWS", []) if isinstance(principals, dict) else [principals]
            aws_principals = aws_principals if isinstance(aws_principals, list) else [aws_principals]
            for principal in aws_principals:
                # Only the account itself may be trusted by ARN (never a role of another team, never "*").
                assert principal == f"arn:aws:iam::{account}:root", f"{stack.name}: {name} trusts {principal}"
                policy = IAMPolicy(json.dumps({"Version": "2012-10-17", "Statement": [statement]}))
                role_arn = f"arn:aws:iam::{account}:role/{role_name}"
                # The account root admits every principal of the account, B's roles included: the
                # Condition is the isolation control here, so it is evaluated with B's and A's tags.
                for foreign_role in foreign_roles:
                    result = policy.is_action_permitted(
                        "sts:AssumeRole", role_arn, principal, {"aws:PrincipalTag/Team": b, "aws:PrincipalArn": foreign_role}
                    )
                    assert result != PermissionResult.PERMITTED, f"{stack.name}: {name} admits {foreign_role}"
                own = policy.is_action_permitted("sts:AssumeRole", role_arn, principal, {"aws:PrincipalTag/Team": a})
                assert own == PermissionResult.PERMITTED, f"{stack.name}: {name} does not even admit {a}"


def test_no_team_policy_lets_a_principal_retag_itself(example_config, stacks):
    """Roles trusted through `aws:PrincipalTag/Team` are only isolated if no team can set that tag."""
    for environment, account, region, a, _ in environment_pairs(example_config):
        stack = stacks[stack_name(a, environment)]
        for address, statement in identity_statements(stack, account, region):
            for action in ("iam:TagRole", "iam:TagUser", "iam:UntagRole", "sts:TagSession"):
                for resource in (
                    f"arn:aws:iam::{account}:role/anything",
                    f"arn:aws:iam::{account}:user/anyone",
                    f"arn:aws:sts::{account}:assumed-role/x/y",
                ):
                    assert not permitted(statement, action, resource), f"{stack.name}: {address} {action} on {resource}"


def test_zz_report_figures():
    print(
        f"\nteam isolation: {FIGURES['pairs']} ordered stack pairs, {FIGURES['statements']} statement checks, "
        f"{FIGURES['evaluations']} action/resource evaluations, {FIGURES['trust_statements']} trust statements; "
        f"generated configs: {dict(GENERATED)}"
    )
    assert FIGURES["evaluations"] > 0
