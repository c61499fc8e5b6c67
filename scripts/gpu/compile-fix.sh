#!/usr/bin/env bash
# On a lent GPU machine (no registry), with the engine brought along (bring-vllm.sh, engine-site.sh): what each way
# around LongCat-Flash's compile defect (longcat-zero-expert-compile) costs, on one vLLM release. Each setting is a
# canary of the plan with that setting instead of the table's, then the decode-heavy load through vLLM's own
# benchmark client (256 requests of 512 in / 128 out, 64 at once) on the same start; "table" is the plan's own fix.
# Every file (the canary's --json, its stderr, the engine log's tail, the machine's facts) goes into one tarball,
# $OUT/compile-fix-VERSION.tgz (a call brings back 8 files at most); a line per setting is printed.
# Usage: VLLM_VERSION=0.23.0 SETTINGS="table eager fdo" bash scripts/gpu/compile-fix.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/compile-fix-out}
version=${VLLM_VERSION:-0.22.0}
out=/tmp/compile-fix/$version
rm -rf "$out" && mkdir -p "$out" "$OUT"
source scripts/gpu/engine-site.sh || exit 1
if [ "$version" != 0.22.0 ]; then source scripts/gpu/engine-overlay.sh "$version" || exit 1; fi
{ date -u; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; python3 -V
  python3 -c 'import torch, transformers, vllm; print("torch", torch.__version__, "transformers",
  transformers.__version__, "vllm", vllm.__version__)'; } >"$out/machine.txt" 2>&1
for setting in ${SETTINGS:-eager fdo full}; do
  case $setting in
    eager) fix=(--engine-arg=--enforce-eager) ;;
    fdo) fix=('--engine-arg=--compilation-config={"mode":0,"cudagraph_mode":"FULL_DECODE_ONLY"}') ;;
    full) fix=('--engine-arg=--compilation-config={"mode":0,"cudagraph_mode":"FULL"}') ;;
    table) fix=() ;;  # the plan's own fix, whatever the quirk table holds for this release
    *) echo "unknown setting $setting" >&2; exit 2 ;;
  esac
  skip=(--skip-quirk longcat-zero-expert-compile)
  [ "$setting" = table ] && skip=()
  start=$(date +%s)
  python3 -m lc_cluster canary longcat-flash-chat --engine-version "$version" --gpu H100-80G --with-advice \
    "${skip[@]}" "${fix[@]}" --bench decode-heavy --out "/tmp/cf-$version-$setting" \
    --ready-timeout "${CANARY_TIMEOUT:-300}" --json >"$out/$setting.json" 2>"$out/$setting.err"
  code=$?
  tail -n 80 "/tmp/cf-$version-$setting/node-0.log" >"$out/$setting.log-tail.txt" 2>/dev/null
  python3 scripts/gpu/canary-summary.py "$version $setting" "$code" "$(($(date +%s) - start))" "$out/$setting.json" |
    tee -a "$out/summary.txt"
done
tar czf "$OUT/compile-fix-$version.tgz" -C /tmp/compile-fix "$version"
