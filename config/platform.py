"""The platform configuration: one YAML file, validated by pydantic v2 before anything is synthesized.

A bad file gets every problem at once, each with its path in the YAML (`teams[1].name`) and what is
expected (see `ConfigError`). Settings that have a sensible default are optional; a field is required
only where no default could be right (names, account ids, owners).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import AfterValidator, Field, StringConstraints, ValidationError, model_validator

from config.aws_limits import AWS_REGIONS, MAX_EMAIL_SUBSCRIBERS
from config.base import Strict, fail
from config.deploy import deploy_problems
from config.features import FeaturesSpec
from config.ml import (
    BudgetSettings,
    MonitoringSettings,
    RetrainingSettings,
    ServingSettings,
    TrainingSettings,
)
from config.off_hours import OffHoursSpec
from config.promotion import PromotionSpec, promotion_problems
from contract.names import TeamContext, owner_slug

DEFAULT_CONFIG_FILE = Path(__file__).resolve().parent.parent / "platform.yaml"
CONFIG_ENV_VAR = "MLP_CONFIG"
EMULATOR_ENDPOINT_ENV_VAR = "MLP_EMULATOR_ENDPOINT"

# Bucket names are `<platform>-<team>-<env>-<purpose>-<account>` and may not exceed 63 characters;
# the longest purpose is "artifacts", so the three names together get what is left.
MAX_BUCKET_NAME = 63
LONGEST_BUCKET_SUFFIX = len("-artifacts-") + 12
MAX_PREFIX = MAX_BUCKET_NAME - LONGEST_BUCKET_SUFFIX

Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$", min_length=2, max_length=20)]
AccountId = Annotated[str, StringConstraints(pattern=r"^\d{12}$")]
# One address: no list separators (`,` `;`), spaces, quotes, angle brackets or template characters.
Email = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9._+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,63}$", max_length=254)
]


def _known_region(region: str) -> str:
    if region not in AWS_REGIONS:
        raise ValueError(f"{region!r} is not a region of the aws partition; one of {sorted(AWS_REGIONS)}")
    return region


Region = Annotated[str, StringConstraints(max_length=32), AfterValidator(_known_region)]


class PlatformSpec(Strict):
    name: Name = Field(description="Short platform name, the first part of every resource name.")
    region: Region = Field(description="AWS region of every stack.")


class StateBackendSpec(Strict):
    """Remote state for a real environment: an S3 bucket with native S3 locking (Terraform >= 1.10)."""

    bucket: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]
    key_prefix: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_./-]+$")] = "ml-platform"
    region: Region | None = Field(default=None, description="Region of the state bucket; the platform region if unset.")
    kms_key_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9:/_-]{1,2048}$")] | None = Field(
        default=None, description="KMS key (id, ARN or alias) for the state objects; S3-managed keys if unset."
    )


class EnvironmentSpec(Strict):
    name: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9]{1,9}$")]
    account_id: AccountId
    emulator_endpoint: Annotated[str, StringConstraints(pattern=r"^https?://[^\s/]+(:\d+)?/?$")] | None = Field(
        default=None,
        description="URL of an AWS emulator (the embedded moto server or LocalStack). "
        f"Overridden at synth time by ${EMULATOR_ENDPOINT_ENV_VAR}, since the embedded emulator picks a free port.",
    )
    state_backend: StateBackendSpec | None = None
    auto_approve_models: bool = Field(default=False, description="Register new models as Approved (deploys at once).")
    production: bool = Field(default=False, description="Serves real traffic: never switched off (off-hours, budget breach).")
    off_hours: OffHoursSpec | None = Field(
        default=None, description="Non-production only: when the team endpoints run; outside it they are deleted (no GPU bills)."
    )

    @property
    def is_emulator(self) -> bool:
        return self.emulator_endpoint is not None

    @model_validator(mode="after")
    def _production_never_switched_off(self) -> EnvironmentSpec:
        if self.production and self.off_hours is not None:
            fail(
                "environment",
                [
                    (
                        ("off_hours",),
                        "a production environment is never switched off: remove off_hours "
                        "(or set production: false if this environment serves no real traffic)",
                        "off_hours",
                    )
                ],
            )
        return self

    @model_validator(mode="after")
    def _real_environments_need_remote_state(self) -> EnvironmentSpec:
        if not self.is_emulator and self.state_backend is None:
            raise ValueError(
                "a real environment (no emulator_endpoint) needs state_backend: {bucket: ...} so its state is shared and locked"
            )
        return self


class DataSettings(Strict):
    noncurrent_version_days: int = Field(default=90, ge=1, le=3650, description="Days a replaced object version is kept.")
    access_log_days: int = Field(default=365, ge=1, le=3650, description="Days S3 access logs are kept.")
    kms_deletion_window_days: int = Field(default=30, ge=7, le=30)


class RegistrySettings(Strict):
    model_package_groups: list[Name] = Field(
        default_factory=lambda: ["models"],
        min_length=1,
        description="Model package groups of the team; the first is the one the retraining loop registers into.",
    )
    image_retention_count: int = Field(default=50, ge=1, le=1000, description="Tagged images kept per repository.")
    untagged_image_days: int = Field(default=14, ge=1, le=365)

    @model_validator(mode="after")
    def _unique_groups(self) -> RegistrySettings:
        fail(
            "registry",
            [
                (("model_package_groups", i), f"duplicate model package group {name!r}", name)
                for i, name in enumerate(self.model_package_groups)
                if name in self.model_package_groups[:i]
            ],
        )
        return self


class TeamSettings(Strict):
    data: DataSettings = DataSettings()
    registry: RegistrySettings = RegistrySettings()
    training: TrainingSettings = TrainingSettings()
    serving: ServingSettings = ServingSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    retraining: RetrainingSettings = RetrainingSettings()
    budget: BudgetSettings = BudgetSettings()
    features: FeaturesSpec | None = Field(default=None, description="Feature sets and the model's inputs (one definition).")
    log_retention_days: int = Field(default=365, description="CloudWatch log retention for the team's log groups.")

    @model_validator(mode="after")
    def _retention_is_a_cloudwatch_value(self) -> TeamSettings:
        allowed = {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}
        if self.log_retention_days not in allowed:
            raise ValueError(f"log_retention_days must be one of CloudWatch's values {sorted(allowed)}")
        thresholds = self.monitoring.feature_thresholds
        inputs = self.features.model_inputs.features if self.features else []
        problems = [
            (
                ("monitoring", "feature_thresholds", name),
                f"{name!r} is not a model input (features.model_inputs.features: {inputs})"
                if inputs
                else "feature_thresholds need features: declare features.model_inputs (each input gets a drift alarm)",
                value,
            )
            for name, value in thresholds.items()
            if name not in inputs
        ]
        fail("settings", problems)
        return self


class TeamSpec(Strict):
    name: Name
    cost_center: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:/=+@-]{1,64}$")]
    owners: list[Email] = Field(
        min_length=1,
        max_length=MAX_EMAIL_SUBSCRIBERS,
        description=f"E-mails that receive the team's alerts (at most {MAX_EMAIL_SUBSCRIBERS}: AWS Budgets' limit).",
    )
    environments: list[str] = Field(min_length=1, description="Names of the platform environments this team uses.")
    settings: TeamSettings = TeamSettings()
    promotions: list[PromotionSpec] = Field(
        default_factory=list, description="Promotion paths of approved models between the team's environments (dev -> prod)."
    )

    def promotion_from(self, source: str, target: str) -> PromotionSpec | None:
        return next((p for p in self.promotions if p.source == source and p.target == target), None)

    @model_validator(mode="after")
    def _owners_distinct(self) -> TeamSpec:
        """Each owner is an SNS subscription whose construct id is the slug of the address."""
        seen: dict[str, str] = {}
        problems = []
        for i, owner in enumerate(self.owners):
            slug = owner_slug(owner)
            if slug in seen:
                problems.append(
                    (
                        ("owners", i),
                        f"{owner!r} repeats owner {seen[slug]!r} (same address once lower-cased and slugged: {slug})",
                        owner,
                    )
                )
            seen.setdefault(slug, owner)
        fail("team", problems)
        return self


class PlatformConfig(Strict):
    platform: PlatformSpec
    environments: list[EnvironmentSpec] = Field(min_length=1)
    teams: list[TeamSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _cross_references(self) -> PlatformConfig:
        problems: list[str] = []
        env_names = [e.name for e in self.environments]
        problems += _duplicates("environments", env_names)
        problems += _duplicates("teams", [t.name for t in self.teams])
        for i, team in enumerate(self.teams):
            problems += _duplicates(f"teams[{i}].environments", team.environments)
            for j, env_name in enumerate(team.environments):
                if env_name not in env_names:
                    problems.append(f"teams[{i}].environments[{j}]: unknown environment {env_name!r}; declared: {env_names}")
                    continue
                prefix = resource_prefix(self.platform.name, team.name, env_name)
                if len(prefix) > MAX_PREFIX:
                    problems.append(
                        f"teams[{i}].name: {prefix!r} (platform-team-environment) is {len(prefix)} characters; "
                        f"at most {MAX_PREFIX} fit in an S3 bucket name"
                    )
            problems += promotion_problems(f"teams[{i}]", team)
        if not problems:  # names across stacks and rendered sizes, once every reference resolves
            problems += deploy_problems(self)
        if problems:
            raise ValueError("\n".join(problems))  # one line per problem, each with its own path
        return self

    def environment(self, name: str) -> EnvironmentSpec:
        return next(e for e in self.environments if e.name == name)

    def stack_names(self) -> list[str]:
        return [stack_name(t.name, e) for t in self.teams for e in t.environments]

    def team_context(self, team: str, environment: str) -> TeamContext:
        """The names and tags (contract.names.TeamContext) of one team in one environment."""
        spec = next(t for t in self.teams if t.name == team)
        env = self.environment(environment)
        return TeamContext(
            platform=self.platform.name,
            team=spec.name,
            environment=env.name,
            account_id=env.account_id,
            region=self.platform.region,
            cost_center=spec.cost_center,
            is_emulator=env.is_emulator,
        )


class UnknownStackError(ValueError):
    pass


def select_stacks(config: PlatformConfig, requested: Iterable[str] | None) -> list[tuple[str, str]]:
    """(team, environment) pairs of the stacks named like `fraud-dev` in `requested` (None = all)."""
    pairs = [(t.name, e) for t in config.teams for e in t.environments]
    if not requested:
        return pairs
    wanted = [name.strip() for name in requested if name.strip()]
    known = {stack_name(t, e): (t, e) for t, e in pairs}
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise UnknownStackError(f"unknown stack(s) {unknown}; the config declares {sorted(known)}")
    return [known[name] for name in dict.fromkeys(wanted)]


def context_for(config: PlatformConfig, stack: str) -> TeamContext:
    """The TeamContext (names, tags) of a stack named `<team>-<env>`; what the stack and the CLI share."""
    ((team_name, env_name),) = select_stacks(config, [stack])
    return config.team_context(team_name, env_name)


def _duplicates(where: str, names: list[str]) -> list[str]:
    seen: set[str] = set()
    duplicates = []
    for name in names:
        if name in seen:
            duplicates.append(f"{where}: duplicate name {name!r}")
        seen.add(name)
    return duplicates


def stack_name(team: str, environment: str) -> str:
    return f"{team}-{environment}"


def resource_prefix(platform: str, team: str, environment: str) -> str:
    return f"{platform}-{team}-{environment}"


class ConfigError(Exception):
    """The config file is unreadable or invalid. `problems` holds one line per problem, path first."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: {len(problems)} problem(s)\n" + "\n".join(f"  - {p}" for p in problems))


def _yaml_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(part)):
            continue  # pydantic's internal markers such as "function-after[...]"
        else:
            path += f".{part}" if path else str(part)
    return path or "<root>"


def _describe(error: dict[str, Any]) -> str:
    path = _yaml_path(error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key (check the spelling; see the example platform.yaml)"
    elif error["type"] == "string_pattern_mismatch":
        message = f"{error['input']!r} does not match {error['ctx']['pattern']}"
    if path == "<root>" and error["type"] == "value_error":
        return message  # cross-reference problems: one line each, each with its own path
    return f"{path}: {message}"


def parse_config(data: Any, source: str = "<config>") -> PlatformConfig:
    """Validate an already-parsed YAML document; raise ConfigError listing every problem."""
    try:
        return PlatformConfig.model_validate(data)
    except ValidationError as exc:
        lines: list[str] = []
        for error in exc.errors(include_url=False):
            lines.extend(_describe(error).splitlines())
        raise ConfigError(source, lines) from None


def load_config(path: str | os.PathLike[str] | None = None) -> PlatformConfig:
    """Load the config from `path`, else $MLP_CONFIG, else platform.yaml at the repository root."""
    chosen = Path(path or os.environ.get(CONFIG_ENV_VAR) or DEFAULT_CONFIG_FILE)
    try:
        text = chosen.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ConfigError(str(chosen), [f"<root>: cannot read the file: {exc.strerror}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(str(chosen), [f"<root>: not UTF-8 text (byte {exc.start} is {exc.object[exc.start]:#04x})"]) from None
    try:
        data = yaml.load(text, Loader=_ConfigLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(str(chosen), [_yaml_problem(exc, text)]) from None
    except RecursionError:
        raise ConfigError(str(chosen), ["<root>: not valid YAML: nested too deeply"]) from None
    if not isinstance(data, dict):
        raise ConfigError(str(chosen), ["<root>: expected a mapping with platform, environments and teams"])
    config = parse_config(data, str(chosen))
    return with_emulator_override(config)


class _ConfigLoader(yaml.SafeLoader):
    """YAML's safe loader, narrowed to what a config needs, each refusal located (line, column):

    - no implicit timestamps: `2024-02-30` stays text (and gets a path-named error from validation)
      instead of failing to become a date inside the YAML parser;
    - no explicit tags (`!!timestamp`, `!!bool maybe`, `!!int four`, `!!python/...`): the config needs
      none, and PyYAML raises plain exceptions (no location) when a tagged value does not convert;
    - no duplicate keys: PyYAML keeps the last one silently (a second `name:` would rename a team);
    - no integers longer than MAX_INT_DIGITS digits: Python refuses to convert more than 4,300 digits,
      and no setting needs more than a few.
    """

    MAX_INT_DIGITS = 30

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        tag = getattr(event, "tag", None)
        if tag is not None and not isinstance(event, yaml.AliasEvent):
            raise yaml.composer.ComposerError(
                None,
                None,
                f"explicit tag {tag!r} is not accepted (write the plain value; the schema gives it its type)",
                event.start_mark,
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            first: dict[Any, Any] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    earlier = first.setdefault(key, key_node.start_mark)
                except TypeError:
                    continue  # an unhashable key: the base class reports it, located
                if earlier is not key_node.start_mark:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r} (first at line {earlier.line + 1})", key_node.start_mark
                    )
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: Any) -> int:
        text = self.construct_scalar(node)
        if sum(c.isdigit() for c in text) > self.MAX_INT_DIGITS:
            raise yaml.constructor.ConstructorError(
                None, None, f"integer of {sum(c.isdigit() for c in text)} digits is out of range", node.start_mark
            )
        return super().construct_yaml_int(node)


_ConfigLoader.add_constructor("tag:yaml.org,2002:int", _ConfigLoader.construct_yaml_int)
_ConfigLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _yaml_problem(exc: yaml.YAMLError, text: str) -> str:
    """One line naming where the YAML is broken (line and column) and why."""
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:
        line, column = mark.line + 1, mark.column + 1
    elif getattr(exc, "position", None) is not None:  # reader errors (e.g. a control character)
        before = text[: exc.position]
        line, column = before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1
    else:
        return "<root>: not valid YAML: " + " ".join(str(exc).split())
    reason = getattr(exc, "problem", None) or getattr(exc, "reason", None) or str(exc)
    return f"line {line}, column {column}: not valid YAML: {' '.join(str(reason).split())}"


def with_emulator_override(config: PlatformConfig) -> PlatformConfig:
    """Point every emulator environment at $MLP_EMULATOR_ENDPOINT when it is set (a free port chosen at run time)."""
    endpoint = os.environ.get(EMULATOR_ENDPOINT_ENV_VAR)
    if not endpoint:
        return config
    environments = [e.model_copy(update={"emulator_endpoint": endpoint}) if e.is_emulator else e for e in config.environments]
    return config.model_copy(update={"environments": environments})
