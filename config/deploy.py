"""Checks only the whole config can make: names across the stacks of one account, and the size of the
documents a stack renders. They run after every model of the config is valid (PlatformConfig), so
`validate` implies that synth succeeds and AWS accepts what it writes.

Why prefixes must not nest: every name of a stack starts with its prefix `<platform>-<team>-<env>`, and
its IAM statements, EventBridge filters and handler ownership checks match `<prefix>-*`. If another
stack's prefix starts with `<prefix>-` (team `fraud-dev` next to team `fraud` in environment `dev`,
or team `fraud-dev-tools`), those wildcards match the other team's resources. Such configs are refused;
names of valid configs are unchanged (renaming would replace every resource).
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from config.aws_limits import COMPOSITE_ALARM_RULE_CHARS, KMS_KEY_ID_LENGTH, SSM_STANDARD_VALUE_BYTES, terraform_jsonencode_size
from contract.layout import DEFINITIONS_KEY

if TYPE_CHECKING:
    from config.platform import PlatformConfig


def deploy_problems(config: PlatformConfig) -> list[str]:
    """One line per problem, each starting with the path of the field to change."""
    from config.recipes import learning_recipe, training_recipe

    problems: list[str] = []
    owners: dict[str, dict[str, str]] = defaultdict(dict)  # account -> name -> (path, stack) that owns it
    stacks_by_account: dict[str, list[tuple[str, str]]] = defaultdict(list)  # account -> [(prefix, path)]
    for i, team in enumerate(config.teams):
        settings = team.settings
        for j, env_name in enumerate(team.environments):
            environment = config.environment(env_name)
            ctx = config.team_context(team.name, env_name)
            where = f"teams[{i}]"
            stack = f"{team.name}-{env_name}"
            stacks_by_account[environment.account_id].append((ctx.prefix, f"{where}.environments[{j}]", stack))

            names = [
                (ctx.model_package_group_name(g), f"{where}.settings.registry.model_package_groups[{k}]", "model package group")
                for k, g in enumerate(settings.registry.model_package_groups)
            ]
            if settings.features:
                names += [
                    (ctx.feature_group_name(s.name).lower(), f"{where}.settings.features.feature_sets[{k}].name", "feature group")
                    for k, s in enumerate(settings.features.feature_sets)
                ]
            for name, path, kind in names:
                taken = owners[environment.account_id].get(f"{kind}:{name}")
                if taken and taken[1] != stack:
                    problems.append(
                        f"{path}: {kind} {name!r} of stack {stack} is also {taken[1]}'s ({taken[0]}) in account {environment.account_id}"
                    )
                owners[environment.account_id].setdefault(f"{kind}:{name}", (path, stack))

            key_arn = ctx.arn("kms", "key/" + "0" * KMS_KEY_ID_LENGTH)
            recipe = training_recipe(
                settings.training,
                learning_recipe(settings.retraining, settings.monitoring),
                repository_url=ctx.repository_url("training"),
                inference_repository_url=ctx.repository_url("inference"),
                artifacts_bucket=ctx.bucket_name("artifacts"),
                definitions_key=DEFINITIONS_KEY,
                curated_bucket=ctx.bucket_name("curated"),
                kms_key_arn=key_arn,
                role_arn=f"arn:aws:iam::{ctx.account_id}:role/{ctx.execution_role_name}",
            )
            size = terraform_jsonencode_size(recipe.to_document())
            if size > SSM_STANDARD_VALUE_BYTES:
                problems.append(
                    f"{where}.settings.training: the training recipe of {stack} is {size} bytes; a standard SSM parameter "
                    f"holds {SSM_STANDARD_VALUE_BYTES} (shorten hyperparameters or the VPC lists)"
                )

            inputs = list(settings.features.model_inputs.features) if settings.features else []
            rule = ctx.drift_alarm_rule(inputs)
            if len(rule) > COMPOSITE_ALARM_RULE_CHARS:
                problems.append(
                    f"{where}.settings.features.model_inputs.features: the drift composite alarm rule of {stack} is "
                    f"{len(rule)} characters; CloudWatch takes {COMPOSITE_ALARM_RULE_CHARS} (fewer or shorter inputs)"
                )

    for account, prefixes in stacks_by_account.items():
        problems += _nested_prefixes(account, prefixes)
    return problems


def _nested_prefixes(account: str, prefixes: list[tuple[str, str, str]]) -> list[str]:
    """Stacks of one account whose prefixes are equal, or where one is the other's followed by `-`."""
    by_prefix = {prefix: (path, stack) for prefix, path, stack in prefixes}
    problems = []
    for prefix, path, stack in prefixes:
        parts = prefix.split("-")
        for cut in range(1, len(parts)):
            shorter = "-".join(parts[:cut])
            if shorter in by_prefix and by_prefix[shorter][1] != stack:
                other_path, other = by_prefix[shorter]
                problems.append(
                    f"{path}: stack {stack} (names {prefix}-*) nests inside stack {other} (names {shorter}-*, "
                    f"{other_path}) in account {account}: {other}'s IAM wildcards and event filters would match "
                    f"{stack}'s resources; rename the team"
                )
    seen: dict[str, str] = {}
    for prefix, path, stack in prefixes:
        if prefix in seen and seen[prefix] != stack:
            problems.append(
                f"{path}: stack {stack} has the same resource prefix {prefix!r} as stack {seen[prefix]} in account {account}"
            )
        seen.setdefault(prefix, stack)
    return problems
