#!/usr/bin/env bash
# Set up from nothing: Python venv with the pinned packages, the pinned cdktf CLI, and the location of
# the Terraform provider mirror. Safe to run again (it only installs what is missing or changed).
# Source it (`. scripts/setup.sh`) to keep the environment it exports.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

python_bin="${PYTHON:-python3.11}"
command -v "$python_bin" >/dev/null 2>&1 || python_bin=python3
"$python_bin" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' 2>/dev/null || {
  echo "setup: Python 3.11 is required (found: $("$python_bin" --version 2>&1))" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$python_bin" -m venv .venv
fi
stamp=.venv/.requirements.sha256
want="$(sha256sum requirements.txt | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing Python packages (requirements.txt)"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
  echo "$want" > "$stamp"
fi

# A virtualenv with the packages of one requirements file, reinstalled when the file changes.
venv_for() {  # venv_for <dir> <requirements file> <what it is for>
  [ -x "$1/bin/python" ] || "$python_bin" -m venv "$1"
  local want; want="$(sha256sum "$2" | cut -d' ' -f1)"
  if [ "$(cat "$1/.requirements.sha256" 2>/dev/null)" != "$want" ]; then
    echo "setup: installing $3 ($2)"
    "$1/bin/python" -m pip install --quiet --disable-pip-version-check -r "$2"
    echo "$want" > "$1/.requirements.sha256"
  fi
}
# The policy scanner (checkov) in a virtualenv of its own: it pins an older boto3.
venv_for .venv-scan requirements-scan.txt "the policy scanner"
# The model-code venv (PyTorch CPU, numpy, pandas, scikit-learn; about 1.3 GB): plays the Python of AWS's
# PyTorch framework containers. Only the tests that run the reference models use it, in child
# processes (emulator/container.py); the Lambdas, synth and CLI never import it.
venv_for .venv-models requirements-models.txt "the model-code packages"
# The SageMaker Python SDK extra (sagemaker-core; about 450 MB, 53 packages): a notebook's kernel for
# notebook_sdk/. Its own virtualenv: it wants a newer boto3 than the project pins.
venv_for .venv-sdk requirements-sdk.txt "the SageMaker Python SDK extra"

if command -v npm >/dev/null 2>&1; then
  if [ ! -x node_modules/.bin/cdktf ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "setup: installing cdktf-cli (package-lock.json)"
    npm ci --no-audit --no-fund --loglevel=error >/dev/null
  fi
else
  echo "setup: npm not found: skipping cdktf-cli (python main.py synthesizes without it)" >&2
fi

command -v terraform >/dev/null 2>&1 || { echo "setup: terraform (>= 1.10) is required on PATH" >&2; exit 1; }

# Terraform cannot reach its registry here: providers come from a local filesystem mirror.
if [ -z "${MLP_TF_PROVIDER_MIRROR:-}" ]; then
  found="$(find / -path /proc -prune -o -type f -name 'terraform-provider-aws_v5.100.0*' -print 2>/dev/null | head -n 1 || true)"
  if [ -n "$found" ]; then
    # <mirror>/registry.terraform.io/hashicorp/aws/5.100.0/<os_arch>/terraform-provider-aws_...
    export MLP_TF_PROVIDER_MIRROR="$(cd "$(dirname "$found")/../../../../.." && pwd)"
  else
    echo "setup: no hashicorp/aws 5.100.0 provider mirror found; set MLP_TF_PROVIDER_MIRROR" >&2; exit 1
  fi
fi
export MLP_TF_PROVIDER_MIRROR
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20
export CHECKPOINT_DISABLE=1  # cdktf and terraform: no version check calls (no network here)
echo "setup: ready (provider mirror: $MLP_TF_PROVIDER_MIRROR)"
