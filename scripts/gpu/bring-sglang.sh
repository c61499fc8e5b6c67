#!/usr/bin/env bash
# Here (a machine that reaches PyPI), the SGLang wheels a lent GPU machine needs beside its image (Python 3.12,
# torch 2.11.0+cu130, CUDA 13.0 with nvcc), in pieces of 60 MiB that each fit one call's transfer (pieces.sh).
# SET names a list beside this script, gpu-wheels-sglang-SET.txt, brought into .gpu-bring/sglang-SET/p00, p01, ...:
#   0.5.17 (the default): the server's set, which sglang-site.sh installs;
#   another release (0.5.16): the wheels it changes against the 0.5.17 set, installed over a copy of that site;
#   bench: what `python -m sglang.bench_serving` imports beyond the server;
#   pd: the Mooncake transfer engine (CUDA 13 build) and sglang-router, for a prefill/decode pair.
# Idempotent: a finished set (its .done) is kept. sglang-kernel and xgrammar are repacked without what Hopper never
# loads on the engine's path (the 0.5.17 list's header says why).
# Usage: bash scripts/gpu/bring-sglang.sh [SET]
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/gpu/pieces.sh
set=${1:-0.5.17}
py=${PYTHON:-.venv/bin/python}
list=scripts/gpu/gpu-wheels-sglang-$set.txt dest=.gpu-bring/sglang-$set
[ -f "$list" ] || { echo "no wheel list $list: write one (the header of gpu-wheels-sglang-0.5.17.txt says how)" >&2; exit 2; }
if [ -f "$dest/.done" ]; then echo "$dest: already brought"; exit 0; fi
wheels=$(mktemp -d)
mapfile -t wanted < <(grep -vE '^(#|$)' "$list")
"$py" -m pip download -q --no-deps "${wheel_platform[@]}" -d "$wheels" "${wanted[@]}"
"$py" - "$wheels" <<'EOF2'
import pathlib, sys, zipfile
# What Hopper never loads on the engine's path, cut out of the wheels that carry it (the 0.5.17 list's header says why).
# sglang-kernel: FlashAttention-3 (the fa3/dsa attention backends only; 1.1 GB unpacked), infllm (built for CPython
# 3.10: cannot load on 3.12), and the Blackwell (sm100) build, which sgl_kernel.load_utils loads only on compute
# capability 10+. xgrammar: its static library (65 MB), which only a C++ build links; Python loads the bindings.
DROPPED = {"sglang_kernel-": ("sgl_kernel/flash_ops.", "sgl_kernel/infllm_ops", "sgl_kernel/sm100/"),
           "xgrammar-": ("xgrammar/lib/libxgrammar.a",)}
for prefix, dropped in DROPPED.items():
    for path in pathlib.Path(sys.argv[1]).glob(f"{prefix}*.whl"):
        with zipfile.ZipFile(path) as old:
            items = [(info, old.read(info)) for info in old.infolist() if not info.filename.startswith(dropped)]
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as new:
            for info, data in items:
                if info.filename.endswith(".dist-info/RECORD"):
                    data = b"".join(line + b"\n" for line in data.splitlines() if not line.decode().startswith(dropped))
                new.writestr(info, data)
EOF2
pack_pieces "$wheels" "$dest" p "sgw-$set-"
