#!/usr/bin/env bash
# The main job on the embedded emulator: set up, then deploy the example team and drive its ML loop.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/setup.sh"
cd "$root"
exec .venv/bin/python main.py demo "$@"
