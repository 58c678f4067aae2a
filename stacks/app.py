"""Build the CDKTF app: one TeamStack per (team, environment), or only the stacks asked for."""
from __future__ import annotations

import os
from collections.abc import Iterable

from config.platform import PlatformConfig, stack_name

STACKS_ENV_VAR = "MLP_STACKS"


class UnknownStackError(ValueError):
    pass


def select_stacks(config: PlatformConfig, requested: Iterable[str] | None) -> list[tuple[str, str]]:
    """(team, environment) pairs to synthesize; `requested` names stacks like `fraud-dev` (None = all)."""
    pairs = [(t.name, e) for t in config.teams for e in t.environments]
    if not requested:
        return pairs
    wanted = [name.strip() for name in requested if name.strip()]
    known = {stack_name(t, e): (t, e) for t, e in pairs}
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise UnknownStackError(f"unknown stack(s) {unknown}; the config declares {sorted(known)}")
    return [known[name] for name in dict.fromkeys(wanted)]


def context_for(config: PlatformConfig, stack: str):
    """The TeamContext (names, tags) of a stack named `<team>-<env>`; what the stack and the CLI share."""
    from contract.names import TeamContext

    (team_name, env_name), = select_stacks(config, [stack])
    team = next(t for t in config.teams if t.name == team_name)
    environment = config.environment(env_name)
    return TeamContext(
        platform=config.platform.name,
        team=team.name,
        environment=environment.name,
        account_id=environment.account_id,
        region=config.platform.region,
        cost_center=team.cost_center,
        is_emulator=environment.is_emulator,
    )


def requested_from_env() -> list[str] | None:
    value = os.environ.get(STACKS_ENV_VAR, "")
    return value.split(",") if value.strip() else None


def build_app(config: PlatformConfig, requested: Iterable[str] | None = None, outdir: str | None = None):
    """Create the app and its stacks; nothing is written until the caller runs `app.synth()`."""
    pairs = select_stacks(config, requested)  # validate names before any construct exists
    # Imported late so the config path (validation, errors) stays jsii-free; `modules` first, as it
    # installs the fast provider loader and quiets jsii's Node 20 banner before jsii starts.
    import modules  # noqa: F401
    from cdktf import App

    from stacks.team_stack import TeamStack

    app = App(outdir=outdir) if outdir else App()
    teams = {t.name: t for t in config.teams}
    for team_name, env_name in pairs:
        TeamStack(app, config, teams[team_name], config.environment(env_name))
    return app
