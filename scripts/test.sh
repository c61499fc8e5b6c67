#!/usr/bin/env bash
# The project's test command: lint (ruff, ansible-lint), type check, then every test. CI runs exactly this (see .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
ruff check .
ruff format --check .
mypy lc_cluster
ansible-lint --offline --profile production lc_cluster/ansible
exec pytest -q "$@"
