#!/usr/bin/env bash
# Lint, format check and types: any finding fails (CI runs this from scripts/test.sh before the tests).
# Configured in pyproject.toml. Fix locally with: .venv/bin/ruff check --fix . && .venv/bin/ruff format .
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
.venv/bin/ruff check --no-fix .
.venv/bin/ruff format --check .
.venv/bin/mypy   # the runtime and contract packages (pyproject.toml [tool.mypy] files)
