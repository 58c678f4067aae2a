#!/usr/bin/env python3
"""ML platform blueprint: the CDKTF app (what `cdktf.json` runs) and the platform's command line.

    python main.py [synth] [--config FILE] [--stacks fraud-dev,recsys-dev] [--outdir DIR]
    python main.py validate [--config FILE]
    python main.py bootstrap dev                # once per account: the state bucket and key a first deploy needs
    python main.py emulator [--port N]          # run the embedded AWS emulator in the foreground
    python main.py demo                         # the main job on the embedded emulator
    python main.py demo-promotion               # dev -> prod across two emulated accounts, end to end
    python main.py lineage fraud-dev [--json]   # which exact model is in production
    python main.py rebuild fraud-dev [--version N]   # retrain with exactly that model's inputs
    python main.py train fraud-dev              # a training run now, on the current data and code
    python main.py publish-code fraud-dev       # pack the team's model code, upload it, point runs at it
    python main.py promote fraud --from dev --to prod --version N   # an Approved model into prod, pending its approval

bootstrap, lineage, train and rebuild talk to AWS with the usual credentials, or to an emulator when AWS_ENDPOINT_URL
is set.

`cdktf synth|diff|deploy` runs `python main.py` with no arguments: the config comes from $MLP_CONFIG
(else platform.yaml) and the stacks from $MLP_STACKS (else all of them).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from config.platform import ConfigError, UnknownStackError, load_config
from ops.code_bundle import BundleError
from ops.errors import BootstrapError, DataRefused, LineageError, PromotionError
from stacks.app import build_app, requested_from_env

CLI_CONFIG_DIR = Path(__file__).resolve().parent / ".mlp" / "terraform"


def _synth(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    requested = args.stacks.split(",") if args.stacks else requested_from_env()
    app = build_app(config, requested, outdir=args.outdir)
    app.synth()
    return 0


def _validate(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    names = config.stack_names()
    print(f"{args.config or 'config'} is valid: {len(config.teams)} team(s), {len(names)} stack(s): {', '.join(names)}")
    return 0


def _emulator(args: argparse.Namespace) -> int:
    from emulator.server import run_forever
    from emulator.terraform import TerraformError, write_cli_config

    # Terraform (and `npx cdktf deploy`) install the provider from the offline mirror with this CLI config.
    try:
        print(f"Terraform CLI config (offline provider mirror):\n  export TF_CLI_CONFIG_FILE={write_cli_config(CLI_CONFIG_DIR)}")
    except TerraformError as error:
        print(f"warning: no Terraform CLI config written: {error}", file=sys.stderr)
    run_forever(port=args.port)
    return 0


def _bootstrap(args: argparse.Namespace) -> int:
    import json

    from ops.bootstrap import bootstrap

    print(json.dumps(bootstrap(load_config(args.config), args.environment), indent=2))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from emulator.demo import run_demo

    return run_demo(config_path=args.config, stack=args.stack)


def _demo_promotion(args: argparse.Namespace) -> int:
    from emulator.promotion import run_promotion_demo

    return run_promotion_demo(config_path=args.config)


def _lineage(args: argparse.Namespace) -> int:
    import json

    from config.platform import context_for
    from ops.lineage import render, trace

    lineage = trace(context_for(load_config(args.config), args.stack))
    print(json.dumps(lineage.as_dict(), indent=2) if args.json else render(lineage, args.stack))
    return 0


def _rebuild(args: argparse.Namespace) -> int:
    import json

    from config.platform import context_for
    from ops.training_runs import rebuild

    result = rebuild(context_for(load_config(args.config), args.stack), args.version)
    print(json.dumps(result, indent=2))
    return 0


def _train(args: argparse.Namespace) -> int:
    import json

    from config.platform import context_for
    from ops.training_runs import train

    config = load_config(args.config)
    print(json.dumps(train(context_for(config, args.stack), source_dir_of(config, args.stack), args.reason), indent=2))
    return 0


def source_dir_of(config, stack: str) -> Path:
    """The stack's team's model code directory (`training.source_dir`, default model_code/<team>)."""
    from config.ml import source_dir_path
    from config.platform import context_for

    team = context_for(config, stack).team
    settings = next(t for t in config.teams if t.name == team).settings
    return source_dir_path(settings.training.source_dir, team)


def _publish_code(args: argparse.Namespace) -> int:
    import json

    from config.platform import context_for
    from ops.code_publish import publish_code

    config = load_config(args.config)
    print(json.dumps(publish_code(context_for(config, args.stack), source_dir_of(config, args.stack)), indent=2))
    return 0


def _promote(args: argparse.Namespace) -> int:
    import json

    from ops.promote import promote

    print(json.dumps(promote(load_config(args.config), args.team, args.source, args.target, args.version), indent=2))
    return 0


def _cost(args: argparse.Namespace) -> int:
    import datetime as dt

    from config.platform import context_for
    from ops.cost import report

    until = _utc(args.until) if args.until else dt.datetime.now(dt.UTC)
    since = _utc(args.since) if args.since else until.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    print("\n".join(report(context_for(load_config(args.config), args.stack), since, until).lines()))
    return 0


def _utc(text: str):
    import datetime as dt

    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise SystemExit(f"error: {text!r} is not an ISO date or time (2026-11-01 or 2026-11-01T08:00)") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _resume(args: argparse.Namespace) -> int:
    import json

    from config.platform import context_for
    from ops.functions import invoke

    event = {"source": "mlp.operator", "action": "resume", "requested_by": args.requested_by}
    print(json.dumps(invoke(context_for(load_config(args.config), args.stack), "deploy", event), indent=2, default=str))
    return 0


def parser() -> argparse.ArgumentParser:
    # Options are accepted before or after the command (`main.py --config F validate` and
    # `main.py validate --config F`): the subcommands declare them again with SUPPRESS as default, so a
    # value given before the command is not reset by the subcommand's default. (Separate parser objects:
    # argparse's `parents` shares action objects, and set_defaults on one would change the other.)
    def options(synth: bool, default: object) -> argparse.ArgumentParser:
        holder = argparse.ArgumentParser(add_help=False, argument_default=default)
        holder.add_argument("--config", help="platform YAML (default: $MLP_CONFIG or platform.yaml)")
        if synth:
            holder.add_argument("--stacks", help="comma-separated stack names (default: $MLP_STACKS or all)")
            holder.add_argument("--outdir", help="output folder (default: cdktf.out, or $CDKTF_OUTDIR under the cdktf CLI)")
        return holder

    common, synth_options = options(False, argparse.SUPPRESS), options(True, argparse.SUPPRESS)
    root = argparse.ArgumentParser(prog="main.py", description=__doc__.split("\n\n")[0], parents=[options(True, None)])
    sub = root.add_subparsers(dest="command")

    sub.add_parser("synth", parents=[synth_options], help="synthesize stacks into cdktf.out (the default command)").set_defaults(
        run=_synth
    )
    sub.add_parser("validate", parents=[common], help="validate the config and list its stacks").set_defaults(run=_validate)

    bootstrap = sub.add_parser("bootstrap", help="create what a fresh account needs before the first deploy (idempotent)")
    bootstrap.add_argument("environment", help="an environment of the config, e.g. dev")
    bootstrap.set_defaults(run=_bootstrap)

    emulator = sub.add_parser("emulator", help="run the embedded AWS emulator (moto server) in the foreground")
    emulator.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    emulator.set_defaults(run=_emulator)

    demo = sub.add_parser("demo", parents=[common], help="deploy a team stack to the embedded emulator and drive the ML loop")
    demo.add_argument("--stack", default="fraud-local", help="the emulator stack to deploy (default: fraud-local)")
    demo.set_defaults(run=_demo)

    sub.add_parser(
        "demo-promotion",
        parents=[common],
        help="promote a model between two emulated accounts (fraud-local -> fraud-localprod), deploy, trace and rebuild it there",
    ).set_defaults(run=_demo_promotion)

    lineage = sub.add_parser("lineage", parents=[common], help="print endpoint -> model -> training job -> data manifest")
    lineage.add_argument("stack", help="<team>-<env>")
    lineage.add_argument("--json", action="store_true")
    lineage.set_defaults(run=_lineage)

    train = sub.add_parser("train", parents=[common], help="start a training run now on the current data (not rate-limited)")
    train.add_argument("stack", help="<team>-<env>")
    train.add_argument("--reason", default="operator", help="recorded as the run's trigger")
    train.set_defaults(run=_train)

    publish = sub.add_parser(
        "publish-code", parents=[common], help="pack the team's model code, upload it by sha256, point new runs at it"
    )
    publish.add_argument("stack", help="<team>-<env>")
    publish.set_defaults(run=_publish_code)

    rebuild = sub.add_parser("rebuild", parents=[common], help="start a training job with exactly a registered model's inputs")
    rebuild.add_argument("stack", help="<team>-<env>")
    rebuild.add_argument("--version", type=int, help="model package version (default: the deployed one)")
    rebuild.set_defaults(run=_rebuild)

    promote = sub.add_parser(
        "promote",
        parents=[common],
        help="copy an Approved model package into another environment's "
        "account (a declared promotion path), pending approval there",
    )
    promote.add_argument("team", help="the team, e.g. fraud")
    promote.add_argument("--from", dest="source", required=True, help="source environment, e.g. dev")
    promote.add_argument("--to", dest="target", required=True, help="target environment, e.g. prod")
    promote.add_argument("--version", type=int, required=True, help="model package version in the source")
    promote.set_defaults(run=_promote)

    cost = sub.add_parser(
        "cost", parents=[common], help="GPU hours and their on-demand price (training, serving), with the budget"
    )
    cost.add_argument("stack", help="<team>-<env>")
    cost.add_argument("--since", help="ISO date/time, UTC unless it says (default: the first of this month)")
    cost.add_argument("--until", help="ISO date/time (default: now)")
    cost.set_defaults(run=_cost)

    resume = sub.add_parser("resume", parents=[common], help="after a budget pause: retraining rules on, the endpoint back")
    resume.add_argument("stack", help="<team>-<env>")
    resume.add_argument("--requested-by", default="operator", help="recorded in the handler's log")
    resume.set_defaults(run=_resume)

    root.set_defaults(run=_synth)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except ConfigError as error:
        print(f"error: invalid platform config {error}", file=sys.stderr)
        return 2
    except UnknownStackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (LineageError, BootstrapError, BundleError, DataRefused, PromotionError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except Exception as error:
        message = operation_error(error)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 1


def operation_error(error: Exception) -> str | None:
    """One line for a failure of AWS or of the data it holds (unreachable endpoint, missing credentials,
    an undeployed stack, no training data), else None (a bug: let the traceback show)."""
    module = type(error).__module__
    if module.startswith(("botocore", "boto3")) or module in ("common.manifest", "common.training", "contract.recipes"):
        hint = ""
        if "ResourceNotFoundException" in str(error) and "Function not found" in str(error):
            hint = " (is the stack deployed? `npx cdktf deploy <team>-<env>`)"
        return f"{' '.join(str(error).split())}{hint}"
    return None


if __name__ == "__main__":
    sys.exit(main())
