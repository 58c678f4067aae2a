"""Build the CDKTF app: one TeamStack per (team, environment), or only the stacks asked for."""

from __future__ import annotations

import os
from collections.abc import Iterable

from config.platform import PlatformConfig, select_stacks

STACKS_ENV_VAR = "MLP_STACKS"


def requested_from_env() -> list[str] | None:
    value = os.environ.get(STACKS_ENV_VAR, "")
    return value.split(",") if value.strip() else None


def build_app(config: PlatformConfig, requested: Iterable[str] | None = None, outdir: str | None = None):
    """Create the app and its stacks; nothing is written until the caller runs `app.synth()`."""
    pairs = select_stacks(config, requested)  # validate names before any construct exists
    # Imported late so the config path (validation, errors) stays jsii-free; `modules` first, as it
    # installs the fast provider loader and quiets jsii's Node 20 banner before jsii starts.
    from cdktf import App

    import modules  # noqa: F401
    from stacks.team_stack import TeamStack

    app = App(outdir=outdir) if outdir else App()
    teams = {t.name: t for t in config.teams}
    for team_name, env_name in pairs:
        TeamStack(app, config, teams[team_name], config.environment(env_name))
    return app
