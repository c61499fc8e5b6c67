#!/usr/bin/env bash
# Here (a machine that reaches PyPI), the vLLM wheels a lent GPU machine needs, in pieces of 60 MiB that each fit one
# call's transfer. With no VERSION: the 0.22.0 set of shared/reference/gpu-wheels-vllm-0.22.0.txt, into
# .gpu-bring/p00, p01, ... (engine-site.sh installs it there). With VERSION: only the wheels that release changes
# against that set (vllm itself and the pins that differ, as pip resolves them for the machine's Python 3.12 and
# torch 2.11), into .gpu-bring/vllm-VERSION/q00, q01, ... (engine-overlay.sh). Each piece folder is carried in its
# own call. Idempotent: a finished set (its .done) is kept.
# Usage: bash scripts/gpu/bring-vllm.sh [VERSION]
set -euo pipefail
cd "$(dirname "$0")/../.."
base_list=../shared/reference/gpu-wheels-vllm-0.22.0.txt
version=${1:-}
# The project's venv (scripts/bootstrap.sh) has pip and packaging.
py=${PYTHON:-.venv/bin/python}
source scripts/gpu/pieces.sh
if [ -z "$version" ]; then
  dest=.gpu-bring prefix=p name=gpuw-part-
  pins=$(grep -v '^#' "$base_list")
else
  dest=.gpu-bring/vllm-$version prefix=q name=gpuw-$version-part-
  # vllm itself, then each wheel of the 0.22.0 set that its requirements no longer accept, at the newest release
  # they do (pip cannot resolve the whole closure for the machine: its torch 2.11 pins NVIDIA wheels PyPI no longer
  # has). A name outside the set is the image's (torch, transformers, numpy, ...) or left out on purpose (the list's
  # header says which); a dependency new in the release would show as an ImportError there.
  meta=$(mktemp -d)
  "$py" -m pip download -q --no-deps "${wheel_platform[@]}" -d "$meta" "vllm==$version"
  pins=$("$py" - "$meta"/vllm-*.whl "$base_list" <<'EOF2'
import sys, zipfile
from packaging.requirements import Requirement
from packaging.markers import default_environment
base = dict(l.strip().lower().split("==") for l in open(sys.argv[2]) if "==" in l and not l.startswith("#"))
env = {**default_environment(), "python_version": "3.12", "python_full_version": "3.12.3", "sys_platform": "linux",
       "platform_system": "Linux", "platform_machine": "x86_64", "extra": ""}
wheel = zipfile.ZipFile(sys.argv[1])
text = wheel.read(next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))).decode()
print(f"vllm=={sys.argv[1].rsplit('/', 1)[-1].split('-')[1]}")
for line in text.splitlines():
    if not line.startswith("Requires-Dist: "):
        continue
    req = Requirement(line.removeprefix("Requires-Dist: "))
    name = req.name.lower().replace("_", "-")
    if (req.marker and not req.marker.evaluate(env)) or name.startswith(("torch", "nvidia-", "triton")):
        continue
    if name in base and not req.specifier.contains(base[name], prereleases=True):
        print(f"{name}{req.specifier}")
EOF2
)
  rm -rf "$meta"
fi
if [ -f "$dest/.done" ]; then echo "$dest: already brought"; exit 0; fi
wheels=$(mktemp -d)
mapfile -t wanted <<<"$pins"
"$py" -m pip download -q --no-deps "${wheel_platform[@]}" -d "$wheels" "${wanted[@]}"
pack_pieces "$wheels" "$dest" "$prefix" "$name"
