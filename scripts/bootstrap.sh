#!/usr/bin/env bash
# Create .venv with lc-cluster and its test tools. Idempotent: re-installs only when pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "lc-cluster needs Python >= 3.11; set PYTHON to one" >&2
  exit 2
}
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -e "$stamp" ]; then
  [ -x .venv/bin/python ] || "$python" -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]' 2>&1 | grep -v '^WARNING: Location' || true
  .venv/bin/python -c 'import lc_cluster, typer, pydantic, pytest, hypothesis'
  rm -f .venv/.installed-*
  touch "$stamp"
fi
