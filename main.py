#!/usr/bin/env python3
"""ML platform blueprint: the CDKTF app (what `cdktf.json` runs) and the platform's command line.

    python main.py [synth] [--config FILE] [--stacks fraud-dev,recsys-dev] [--outdir DIR]
    python main.py validate [--config FILE]
    python main.py emulator [--port N]          # run the embedded AWS emulator in the foreground
    python main.py demo                         # the main job on the embedded emulator

`cdktf synth|diff|deploy` runs `python main.py` with no arguments: the config comes from $MLP_CONFIG
(else platform.yaml) and the stacks from $MLP_STACKS (else all of them).
"""
from __future__ import annotations

import argparse
import sys

from stacks.app import UnknownStackError, build_app, requested_from_env
from stacks.config import ConfigError, load_config


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

    run_forever(port=args.port)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from emulator.demo import run_demo

    return run_demo(config_path=args.config, stack=args.stack)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="main.py", description=__doc__.split("\n\n")[0])
    root.add_argument("--config", help="platform YAML (default: $MLP_CONFIG or platform.yaml)")
    sub = root.add_subparsers(dest="command")

    synth = sub.add_parser("synth", help="synthesize stacks into cdktf.out (the default command)")
    for p in (root, synth):
        p.add_argument("--stacks", help="comma-separated stack names (default: $MLP_STACKS or all)")
        p.add_argument("--outdir", help="output folder (default: cdktf.out, or $CDKTF_OUTDIR under the cdktf CLI)")
    synth.set_defaults(run=_synth)

    sub.add_parser("validate", help="validate the config and list its stacks").set_defaults(run=_validate)

    emulator = sub.add_parser("emulator", help="run the embedded AWS emulator (moto server) in the foreground")
    emulator.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    emulator.set_defaults(run=_emulator)

    demo = sub.add_parser("demo", help="deploy a team stack to the embedded emulator and drive the ML loop")
    demo.add_argument("--stack", default="fraud-local", help="the emulator stack to deploy (default: fraud-local)")
    demo.set_defaults(run=_demo)

    root.set_defaults(run=_synth)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    for name in ("stacks", "outdir"):
        if not hasattr(args, name):
            setattr(args, name, None)
    try:
        return args.run(args)
    except ConfigError as error:
        print(f"error: invalid platform config {error}", file=sys.stderr)
        return 2
    except UnknownStackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
