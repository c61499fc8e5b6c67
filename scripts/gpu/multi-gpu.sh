#!/usr/bin/env bash
# Issue 13 on a lent host with two GPUs (no registry; the engine brought along, engine-site.sh): lc-cluster's canary
# for LongCat-Flash's architecture with the plan of
#   dp: two nodes of one GPU each, DP 2 + EP 2 (node 1 headless, --data-parallel-start-rank 1), each node on its GPU;
#   pd: one node of two GPUs, a prefill and a decode instance of one GPU each, NixlConnector, vllm-router in front;
#   pd1: the same plan on a machine of one GPU, both engines on it with half its memory each.
# Usage: multi-gpu.sh dp|pd|pd1. Output under $OUT (the lent machine returns few files: one JSON, one log digest each).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/multi-out}
what=${1:?dp, pd or pd1}
mkdir -p "$OUT"
# Engine statistics every second: the decode engine's 'External prefix cache hit rate' is the KV it received.
export VLLM_LOG_STATS_INTERVAL=1
source scripts/gpu/engine-site.sh || exit 1
{ date -u; nvidia-smi -L; nvidia-smi topo -m; python3 -V
  python3 -c 'import torch, vllm; print("torch", torch.__version__, "vllm", vllm.__version__, "gpus",
  torch.cuda.device_count())'; } >"$OUT/machine.txt" 2>&1
case $what in
  dp) shape=(--nodes 2 --gpus-per-node 1) ;;
  pd) shape=(--gpus-per-node 2 --prefill gpus=1 --decode gpus=1 --kv-connector nixl) ;;
  pd1) shape=(--gpus-per-node 2 --gpus-here 1 --prefill gpus=1 --decode gpus=1 --kv-connector nixl) ;;
  *) echo "dp, pd or pd1" >&2; exit 2 ;;
esac
python3 -m lc_cluster canary longcat-flash-chat --engine-version 0.22.0 --gpu "${GPU:-H200-141G}" --with-advice \
  --ready-timeout "${CANARY_TIMEOUT:-420}" --json "${shape[@]}" --out "/tmp/canary-$what" >"$OUT/$what.json" 2>"$OUT/$what.err"
echo "$what: exit $?"
for log in /tmp/canary-"$what"/*.log; do
  echo "=== $log: what it says of DP, EP and the KV transfer"
  grep -aiE "expert.parallel|EP rank|ep_size|ep size|data.parallel|DP rank|nixl|kv.transfer|kv_connector|handshake|remote|External prefix|Traceback|Error" \
    "$log" | head -n 80
  echo "--- last lines"
  tail -n 30 "$log"
done >"$OUT/$what.logs.txt" 2>&1
