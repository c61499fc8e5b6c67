#!/usr/bin/env bash
# On a lent GPU machine (no registry), with SGLang brought along (bring-sglang.sh, sglang-site.sh): lc-cluster's
# canary for LongCat-Flash on SGLang, each run a line of summary.txt, everything in $OUT/canary-sglang-VERSION.tgz
# (a call brings back 8 files at most).
#   fixed: the plan as it is (it must pass); the processes' imports are recorded (import-trace/), so the wheels it
#     used are known (imports.txt);   image-transformers: the same with the image's transformers instead of SGLang's
#     pin;   mtp: with --mtp (NEXTN from the model's own MTP head);   bench: fixed, then SGLang's own benchmark
#     client with the decode-heavy load (SGLANG_EXTRAS=bench, its wheels brought too).
# CANARY_ARGS: more canary options for every run, split on spaces (a fix under test: --engine-arg=...).
# Usage: SGLANG_VERSION=0.5.16 RUNS="fixed mtp" bash scripts/gpu/canary-sglang.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/canary-sglang-out}
version=${SGLANG_VERSION:-0.5.17}
out=/tmp/canary-sglang/$version
rm -rf "$out" && mkdir -p "$out" "$OUT"
source scripts/gpu/sglang-site.sh || exit 1
pinned=$PYTHONPATH
{ date -u; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; python3 -V
  echo "nvcc: $(command -v nvcc) CUDA_HOME=${CUDA_HOME:-}"; nvcc --version | tail -n 2
  python3 -c 'import torch, transformers, sglang; print("torch", torch.__version__, "transformers",
  transformers.__version__, "sglang", sglang.__version__)'; python3 -m pip list --format=freeze; } >"$out/machine.txt" 2>&1
read -ra more <<<"${CANARY_ARGS:-}"
run() {
  local name=$1 start code
  shift
  start=$(date +%s)
  python3 -m lc_cluster canary longcat-flash-chat --engine sglang --engine-version "$version" --gpu H100-80G \
    --with-advice --out "/tmp/sgc-$version-$name" --ready-timeout "${CANARY_TIMEOUT:-420}" --json "${more[@]}" "$@" \
    >"$out/$name.json" 2>"$out/$name.err"
  code=$?
  tail -n 120 "/tmp/sgc-$version-$name/node-0.log" >"$out/$name.log-tail.txt" 2>/dev/null
  python3 scripts/gpu/canary-summary.py "sglang $version $name" "$code" "$(($(date +%s) - start))" "$out/$name.json" |
    tee -a "$out/summary.txt"
}
for name in ${RUNS:-fixed image-transformers mtp}; do
  export PYTHONPATH=$pinned
  case $name in
    fixed)
      rm -rf /tmp/sgc-imports && mkdir -p /tmp/sgc-imports
      PYTHONPATH=$PWD/scripts/gpu/import-trace:$pinned LC_IMPORTS_DIR=/tmp/sgc-imports run fixed
      python3 scripts/gpu/imports-used.py /tmp/sgc-imports >"$out/imports.txt" 2>&1 ;;
    image-transformers) PYTHONPATH=${pinned/$PWD\/.gpu-bring\/sglang-site-pins:/} run image-transformers ;;
    mtp) run mtp --mtp ;;
    bench) run bench --bench decode-heavy ;;
    *) echo "unknown run $name" >&2; exit 2 ;;
  esac
  # After each run: a call cut off at its time limit still brings back the runs that finished.
  tar czf "$OUT/canary-sglang-$version.tgz" -C /tmp/canary-sglang "$version"
done
