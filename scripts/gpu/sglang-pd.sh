#!/usr/bin/env bash
# Issue 22 item 5 on a lent machine of one GPU, with SGLang and its PD set brought along (bring-sglang.sh 0.5.17 and
# pd; sglang-site.sh): lc-cluster's canary of a prefill and a decode instance sharing the GPU (each with its part of
# the memory), the Mooncake transfer engine over TCP (no RDMA device there: MOONCAKE_PROTOCOL=tcp), sglang-router in
# front. Then what each engine's log says of the KV transfer. Everything in $OUT/sglang-pd.tgz; a summary line.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/sglang-pd-out}
version=${SGLANG_VERSION:-0.5.17}
out=/tmp/sglang-pd/$version
rm -rf "$out" /tmp/sgpd && mkdir -p "$out" "$OUT"
SGLANG_EXTRAS="${SGLANG_EXTRAS:-} pd" source scripts/gpu/sglang-site.sh || exit 1
export MOONCAKE_PROTOCOL=tcp
start=$(date +%s)
python3 -m lc_cluster canary longcat-flash-chat --engine sglang --engine-version "$version" --gpu H100-80G \
  --with-advice --gpus-per-node 2 --gpus-here 1 --prefill gpus=1 --decode gpus=1 --kv-connector mooncake \
  --out /tmp/sgpd --ready-timeout "${CANARY_TIMEOUT:-480}" --json >"$out/pd.json" 2>"$out/pd.err"
code=$?
python3 scripts/gpu/canary-summary.py "sglang $version pd (mooncake tcp)" "$code" "$(($(date +%s) - start))" \
  "$out/pd.json" | tee "$out/summary.txt"
for log in /tmp/sgpd/*.log; do
  name=$(basename "$log" .log)
  tail -n 80 "$log" >"$out/$name.log-tail.txt"
  { echo "== $name: transfer, bootstrap and errors"
    grep -aiE "mooncake|bootstrap|transfer|kv ?cache|disagg|prealloc|#transfer|Error|Traceback" "$log" | head -n 40
  } >>"$out/summary.txt"
done
tar czf "$OUT/sglang-pd.tgz" -C /tmp/sglang-pd "$version"
cat "$out/summary.txt"
