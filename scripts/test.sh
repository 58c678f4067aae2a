#!/usr/bin/env bash
# Set up, lint (scripts/lint.sh: ruff and mypy), then run every test: unit (synth), Lambda handlers (moto), integration (real Terraform on
# the embedded emulator). Extra arguments go to pytest.
#
# Tests run in $MLP_TEST_WORKERS parallel pytest-xdist workers (default 3 on this project's 2-core machines; 0
# runs them in this process). An apply is mostly the provider's client-side waits, so the cores are idle
# while the applied stacks' and the cdktf workflow's workers wait: a third worker runs unit and handler
# tests meanwhile (measured, merged tree, 2026-11-28, two pairs of runs back to back on 2 cores: 374 s and
# 350 s of pytest on 3 workers against 391 s and 372 s on 2). `--dist loadgroup` keeps the tests that share an
# applied stack on one worker (tests/integration/conftest.py groups them).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/setup.sh"
cd "$root"
bash scripts/lint.sh   # ruff (lint + format check) and mypy: a finding fails before any test runs
exec .venv/bin/python -m pytest -n "${MLP_TEST_WORKERS:-3}" --dist loadgroup "$@"
