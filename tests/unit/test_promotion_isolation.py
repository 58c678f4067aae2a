"""Cross-account isolation of the promotion paths: the grants modules/promotion creates reach exactly the
team's own source, for exactly the team's principals of the target account, and only to read.

- Resource side: every resource policy of every stack (bucket, key, ECR repository, model package group)
  is evaluated for a principal of every account of the config carrying every team's tag: a principal of
  another account is admitted only when it carries the stack's own team and its account is a promotion
  target of the stack; and then only for read actions (positive control: it is admitted to read).
- Identity side: the promoter policy of every target stack grants nothing on the resources of any stack
  that is not its declared source (other teams of either account, the team's other environments);
  statements are evaluated without their conditions (conservative), except the source-key Decrypt,
  whose `Resource` cannot name a key id the target does not know: its condition (through S3, for the
  source's two buckets only) is the control, evaluated with each foreign bucket as encryption context.
"""

from __future__ import annotations

import itertools
import json

import pytest

from config.platform import resource_prefix, stack_name
from emulator.iam_check import Request, evaluate
from tests.unit.test_team_isolation import ACTIONS, permitted, resolve_tokens, team_resources

pytestmark = pytest.mark.xdist_group("test_promotion_isolation")
READS = {
    "s3:GetObject",
    "s3:GetObjectVersion",
    "kms:Decrypt",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
    "ecr:BatchCheckLayerAvailability",
    "sagemaker:DescribeModelPackage",
    "sagemaker:DescribeModelPackageGroup",
    "sagemaker:ListModelPackages",
}
OBJECT_KEYS = (
    "models/r1/output/model.tar.gz",
    "code/abc.tar.gz",
    "manifests/r1.json",
    "baselines/r1.json",
    "training/part-0.csv",
    "features/definitions.json",
    "promoted/dev/training/x.csv",
    "checkpoints/x",
    "x",
)


def stacks_of(config):
    """(team spec, environment spec) of every stack."""
    return [(t, config.environment(e)) for t in config.teams for e in t.environments]


def targets_of(team, environment_name):
    return {p.target for p in team.promotions if p.source == environment_name}


def resource_policies(stack, account, region):
    """(kind, resource ARNs, policy document) of every resource policy of the stack, tokens resolved."""
    found = []
    for body in stack.resources("aws_s3_bucket_policy").values():
        document = json.loads(resolve_tokens(body["policy"], stack, account, region))
        bucket = document["Statement"][0]["Resource"][0]  # every policy starts with the TLS-only deny on the bucket
        found.append(("s3", [bucket, *(f"{bucket}/{key}" for key in OBJECT_KEYS)], document))
    for body in stack.resources("aws_kms_key").values():
        found.append(("kms", [f"arn:aws:kms:{region}:{account}:key/{stack.name}"], json.loads(body["policy"])))
    for body in stack.resources("aws_ecr_repository_policy").values():
        repository = resolve_tokens(body["repository"], stack, account, region)
        found.append(("ecr", [f"arn:aws:ecr:{region}:{account}:repository/{repository}"], json.loads(body["policy"])))
    for body in stack.resources("aws_sagemaker_model_package_group_policy").values():
        group = body["model_package_group_name"]
        found.append(
            (
                "sagemaker",
                [
                    f"arn:aws:sagemaker:{region}:{account}:model-package-group/{group}",
                    f"arn:aws:sagemaker:{region}:{account}:model-package/{group}/1",
                ],
                json.loads(body["resource_policy"]),
            )
        )
    return found


def admitted(document, principal_account, team, action, resource, region):
    """Whether an Allow of the resource policy admits a role of `principal_account` tagged Team=`team`
    (Deny statements only take access away: left out, so a grant cannot hide behind one)."""
    role = f"arn:aws:iam::{principal_account}:role/operator"
    statements = []
    for statement in document["Statement"]:
        principal = statement.get("Principal")
        principals = principal.get("AWS", []) if isinstance(principal, dict) else [principal]
        principals = principals if isinstance(principals, list) else [principals]
        if statement["Effect"] == "Allow" and any(p in ("*", role, f"arn:aws:iam::{principal_account}:root") for p in principals):
            statements.append({"Resource": resource, **statement})
    context = {
        "aws:PrincipalArn": role,
        "aws:PrincipalAccount": principal_account,
        "aws:PrincipalTag/Team": team,
        "kms:ViaService": f"s3.{region}.amazonaws.com",
    }
    return evaluate(statements, Request(action, resource, context)) is True


ALL_ACTIONS = sorted({a for actions in ACTIONS.values() for a in actions} | READS | {"ecr:PutImage", "kms:Encrypt"})


def test_resource_policies_admit_only_the_teams_target_principals_and_only_to_read(example_config, stacks):
    region = example_config.platform.name and example_config.platform.region
    accounts = sorted({e.account_id for e in example_config.environments})
    teams = [t.name for t in example_config.teams]
    foreign_grants, granted, checked = [], set(), 0
    for team, environment in stacks_of(example_config):
        stack = stacks[stack_name(team.name, environment.name)]
        allowed_accounts = {example_config.environment(t).account_id for t in targets_of(team, environment.name)}
        for kind, resources, document in resource_policies(stack, environment.account_id, region):
            for account, tag, action, resource in itertools.product(accounts, teams, ALL_ACTIONS, resources):
                if account == environment.account_id or not action.startswith(kind):
                    continue  # the stack's own account: IAM policies decide (tests/unit/test_team_isolation.py)
                checked += 1
                if admitted(document, account, tag, action, resource, region):
                    granted.add((stack.name, account, tag, action))
                    if tag != team.name or account not in allowed_accounts or action not in READS:
                        foreign_grants.append((stack.name, account, tag, action, resource))
    assert checked > 10_000
    assert foreign_grants == []
    # Positive control: the promotion path's target principals do get their reads on the source.
    expected = {
        ("fraud-dev", "222222222222", "fraud", a)
        for a in ("s3:GetObjectVersion", "kms:Decrypt", "ecr:BatchGetImage", "sagemaker:DescribeModelPackage")
    }
    assert expected <= granted, expected - granted


def test_a_resource_statement_admitting_another_team_would_be_flagged():
    document = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::222222222222:root"},
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::b/*",
                "Condition": {"StringEquals": {"aws:PrincipalTag/Team": "recsys"}},
            }
        ]
    }
    assert admitted(document, "222222222222", "recsys", "s3:GetObject", "arn:aws:s3:::b/x", "us-east-1")
    assert not admitted(document, "222222222222", "fraud", "s3:GetObject", "arn:aws:s3:::b/x", "us-east-1")


def promoter_statements(stack, account, region):
    for body in stack.resources("aws_iam_policy").values():
        if body["name"].endswith("-promote"):
            yield from json.loads(resolve_tokens(body["policy"], stack, account, region))["Statement"]


def grants_on(statement, kind, resource, bucket_arns, region):
    actions = ACTIONS[kind]
    if kind == "kms" and statement.get("Condition"):
        contexts = [
            {"kms:ViaService": f"s3.{region}.amazonaws.com", "kms:EncryptionContext:aws:s3:arn": b}
            for bucket in bucket_arns
            for b in (bucket, f"{bucket}/x")
        ]
        return [a for a in actions for c in contexts if evaluate([statement], Request(a, resource, c)) is True]
    return [a for a in actions if permitted(statement, a, resource)]


def test_promoter_policies_reach_only_their_declared_sources(example_config, stacks):
    platform, region = example_config.platform.name, example_config.platform.region
    promoters, violations = 0, []
    for team, environment in stacks_of(example_config):
        stack = stacks[stack_name(team.name, environment.name)]
        statements = list(promoter_statements(stack, environment.account_id, region))
        sources = {p.source for p in team.promotions if p.target == environment.name}
        assert bool(statements) == bool(sources), stack.name
        promoters += bool(statements)
        for other_team, other_env in stacks_of(example_config):
            if (other_team.name, other_env.name) == (team.name, environment.name) or (
                other_team.name == team.name and other_env.name in sources
            ):
                continue
            prefix = resource_prefix(platform, other_team.name, other_env.name)
            buckets = [f"arn:aws:s3:::{prefix}-{p}-{other_env.account_id}" for p in ("raw", "curated", "artifacts", "logs")]
            for kind, resource in team_resources(
                platform, other_team.name, other_env.name, other_env.account_id, region, other_team
            ):
                for statement in statements:
                    for action in grants_on(statement, kind, resource, buckets, region):
                        violations.append((stack.name, other_env.name, other_team.name, statement.get("Sid"), action, resource))
    assert promoters == 2  # fraud-prod and fraud-localprod
    assert violations == []


def test_promoter_policy_reads_its_source_and_writes_only_its_own(example_config, stacks):
    region = example_config.platform.region
    statements = list(promoter_statements(stacks["fraud-prod"], "222222222222", region))
    can = lambda action, resource, context=None: evaluate(statements, Request(action, resource, context or {})) is True
    assert can("s3:GetObjectVersion", "arn:aws:s3:::mlp-fraud-dev-curated-111111111111/training/a.csv")
    assert can("sagemaker:ListModelPackages", "arn:aws:sagemaker:us-east-1:111111111111:model-package-group/mlp-fraud-dev-models")
    assert can("ecr:BatchGetImage", "arn:aws:ecr:us-east-1:111111111111:repository/mlp-fraud-dev-training")
    assert can(
        "kms:Decrypt",
        "arn:aws:kms:us-east-1:111111111111:key/k",
        {
            "kms:ViaService": "s3.us-east-1.amazonaws.com",
            "kms:EncryptionContext:aws:s3:arn": "arn:aws:s3:::mlp-fraud-dev-artifacts-111111111111",
        },
    )
    assert not can(
        "kms:Decrypt",
        "arn:aws:kms:us-east-1:111111111111:key/k",
        {
            "kms:ViaService": "s3.us-east-1.amazonaws.com",
            "kms:EncryptionContext:aws:s3:arn": "arn:aws:s3:::mlp-recsys-dev-artifacts-111111111111",
        },
    )
    for action, resource in (
        ("s3:PutObject", "arn:aws:s3:::mlp-fraud-dev-artifacts-111111111111/models/x"),
        ("ecr:PutImage", "arn:aws:ecr:us-east-1:111111111111:repository/mlp-fraud-dev-training"),
        ("sagemaker:UpdateModelPackage", "arn:aws:sagemaker:us-east-1:111111111111:model-package/mlp-fraud-dev-models/1"),
        ("s3:GetObject", "arn:aws:s3:::mlp-fraud-dev-raw-111111111111/x"),
    ):
        assert not can(action, resource), (action, resource)
    assert can("s3:PutObject", "arn:aws:s3:::mlp-fraud-prod-curated-222222222222/promoted/dev/training/a.csv")
    assert not can("s3:PutObject", "arn:aws:s3:::mlp-fraud-prod-curated-222222222222/training/a.csv")
    assert can("sagemaker:CreateModelPackage", "arn:aws:sagemaker:us-east-1:222222222222:model-package/mlp-fraud-prod-models/2")
