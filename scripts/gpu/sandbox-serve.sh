#!/usr/bin/env bash
# Issue 11 item 3 (and issue 13 with two GPUs) on a lent GPU machine: lc-cluster's own Slurm sandbox with the
# machine's GPUs as its nodes' GRES (`sandbox up --real-gpus`), the GPU build of vLLM brought along
# (engine-site.sh), Slurm and munge brought along (slurm-site.sh); then `serve`, `ask`, `status`, `stop` of the
# catalog's tiny-longcat (the canary's LongCat-Flash architecture) through it, and what the GPUs hold afterwards.
# Usage: sandbox-serve.sh one|dp. Output under $OUT.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/sandbox-serve-out}
what=${1:?one or dp}
mkdir -p "$OUT"
source scripts/gpu/engine-site.sh || exit 1
source scripts/gpu/slurm-site.sh || exit 1
# The engine's venv, as an operator's would be: its python sees the brought site, then what the machine's python
# has (torch, transformers, tokenizers: the image's /opt/torch/.venv), and its bin/ has the engine's commands. (The
# wheels went to a --target folder: the machine's python has no ensurepip.)
venv=$PWD/.gpu-bring/venv
if [ ! -f "$venv/.ready" ]; then
  python3 -m venv --without-pip "$venv" || exit 1
  { echo "$PWD/.gpu-bring/site"; python3 -c 'import site; print("\n".join(site.getsitepackages()))'; } \
    >"$(echo "$venv"/lib/python3*/site-packages)/lc-gpu-site.pth"
  for f in .gpu-bring/site/bin/*; do
    if [ "$(head -c2 "$f")" = "#!" ]; then sed "1s|^#!.*$|#!$venv/bin/python|" "$f" >"$venv/bin/$(basename "$f")"
    else cp "$f" "$venv/bin/"; fi
    chmod +x "$venv/bin/$(basename "$f")"
  done
  touch "$venv/.ready"
fi
lc() { python3 -m lc_cluster "$@"; }
case $what in
  one) shape=(--nodes 1) ;;
  dp) shape=(--nodes 2 --dp 2) ;;
  *) echo "one or dp" >&2; exit 2 ;;
esac
nodes=${shape[1]}
{ date -u; nvidia-smi -L; python3 -V; slurmd -V; ip -V; } >"$OUT/machine.txt" 2>&1
now() { date +%s.%N; }
took() { python3 -c 'import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 1))' "$1" "$2"; }
t0=$(now)
lc sandbox up --name gpu --nodes "$nodes" --gpus-per-node 1 --real-gpus --engine-venv "vllm=$venv" \
  --router-venv "$venv" >"$OUT/$what-sandbox-up.txt" 2>&1 || { echo "sandbox up failed"; tail -5 "$OUT/$what-sandbox-up.txt"
        tail -n 30 /root/.local/state/lc-cluster/sandboxes/gpu/log/*.out; exit 1; }
t1=$(now)
cp /root/.local/state/lc-cluster/sandboxes/gpu/gres.conf "$OUT/$what-gres.conf" 2>/dev/null
lc serve tiny-longcat --cluster gpu --engine-version 0.22.0 --with-advice "${shape[@]}" --json \
  >"$OUT/$what-serve.json" 2>"$OUT/$what-serve.err"
rc=$?
t2=$(now)
job=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["job_id"])' "$OUT/$what-serve.json" 2>/dev/null)
echo "serve rc=$rc job=$job; sandbox up $(took "$t0" "$t1") s, serve to ready $(took "$t1" "$t2") s" \
  | tee "$OUT/$what-summary.txt"
if [ -n "$job" ]; then
  lc ask --cluster gpu "$job" "Say hello." >>"$OUT/$what-summary.txt" 2>&1; echo "ask rc=$?" >>"$OUT/$what-summary.txt"
  lc status --cluster gpu "$job" >>"$OUT/$what-summary.txt" 2>&1
  nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv >"$OUT/$what-gpu-serving.txt" 2>&1
  for n in $(seq 0 $((nodes - 1))); do
    lc logs --cluster gpu "$job" --node "$n" 2>&1 | grep -aiE "EP rank|DP rank|expert|cuda|Error|Traceback|ready|Uvicorn" \
      | head -n 60 >"$OUT/$what-node$n.log.txt"
  done
  if [ "$what" = dp ]; then
    # Kill node 1's engine: the job must end, and serve's record name node 1.
    pkill -f -- "--data-parallel-start-rank 1" ; sleep 20
    lc status --cluster gpu "$job" --json >"$OUT/$what-after-kill.json" 2>&1
  fi
  lc stop --cluster gpu "$job" >>"$OUT/$what-summary.txt" 2>&1; echo "stop rc=$?" >>"$OUT/$what-summary.txt"
fi
sleep 5
nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv >"$OUT/$what-gpu-after-stop.txt" 2>&1
nvidia-smi >>"$OUT/$what-gpu-after-stop.txt" 2>&1
cp -r /root/.local/state/lc-cluster/sandboxes/gpu/log "$OUT/$what-slurm-log" 2>/dev/null
for f in /root/.local/state/lc-cluster/sandboxes/gpu/jobs/*/*; do
  [ -f "$f" ] && tail -n 40 "$f" >"$OUT/$what-job-$(basename "$(dirname "$f")")-$(basename "$f").tail.txt"
done
lc sandbox down --name gpu >>"$OUT/$what-summary.txt" 2>&1
cat "$OUT/$what-summary.txt"
