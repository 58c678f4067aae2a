#!/usr/bin/env bash
# Set up, then run every test: unit (synth), Lambda handlers (moto), integration (real Terraform on
# the embedded emulator). Extra arguments go to pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/setup.sh"
cd "$root"
exec .venv/bin/python -m pytest "$@"
