#!/usr/bin/env bash
# On a lent GPU machine (no registry), with the engine brought along (engine-site.sh), run lc-cluster's canary for
# LongCat-Flash: with the quirk table's fixes (it must pass), without the compile fix (it must fail as the table
# says), and with MTP (the drafter's known failure). Output under $OUT. VLLM_VERSION=0.23.0 runs another release,
# whose changed wheels were brought too (engine-overlay.sh); MTP=0 leaves the MTP run out, RUNS="mtp" runs only it
# (a lent machine gives one command ten minutes).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/canary-out}
mkdir -p "$OUT"
source scripts/gpu/engine-site.sh || exit 1
version=${VLLM_VERSION:-0.22.0}
if [ "$version" != 0.22.0 ]; then source scripts/gpu/engine-overlay.sh "$version" || exit 1; fi
{ date -u; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; python3 -V
  python3 -c 'import torch, transformers, vllm; print("torch", torch.__version__, "transformers",
  transformers.__version__, "vllm", vllm.__version__)'; } >"$OUT/machine.txt" 2>&1
run() {
  local name=$1
  shift
  python3 -m lc_cluster canary longcat-flash-chat --engine-version "$version" --gpu H100-80G --out "/tmp/canary-$name" \
    --ready-timeout "${CANARY_TIMEOUT:-420}" --json "$@" >"$OUT/$name.json" 2>"$OUT/$name.err"
  echo "$name: exit $?"
  tail -n 60 "/tmp/canary-$name/node-0.log" >"$OUT/$name.log-tail.txt" 2>/dev/null
}
for name in ${RUNS:-fixed no-compile-fix $([ "${MTP:-1}" = 1 ] && echo mtp)}; do
  case $name in
    fixed) run fixed --with-advice ;;
    no-compile-fix) run no-compile-fix --with-advice --skip-quirk longcat-zero-expert-compile ;;
    mtp) run mtp --with-advice --mtp ;;
    *) echo "unknown run $name" >&2; exit 2 ;;
  esac
done
