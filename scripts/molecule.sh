#!/usr/bin/env bash
# Molecule for the roles (all, or those named): each in a systemd container from the project's own Debian image,
# with packages from the project's mirror. Installs podman and builds the image and the mirror on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh

export LC_MOLECULE_MIRROR CONTAINERS_CONF
eval "$(.venv/bin/python -m lc_cluster.sandbox.molecule_env)"
# The containers' network namespace is made for this run and goes with it.
trap 'ip netns delete "$LC_MOLECULE_NETNS" 2>/dev/null || true' EXIT
export PATH="$PWD/.venv/bin:$PATH"  # molecule starts ansible-playbook by name

roles=("$@")
[ ${#roles[@]} -gt 0 ] || mapfile -t roles < <(cd roles && ls -d */molecule | cut -d/ -f1)
for role in "${roles[@]}"; do
  echo "== molecule: $role"
  (cd "roles/$role" && molecule test)
done
