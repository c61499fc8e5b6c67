#!/usr/bin/env bash
# Issue 11 item 3 (and issue 13 with two GPUs) on a lent GPU machine: lc-cluster's own Slurm sandbox with the
# machine's GPUs as its nodes' GRES (`sandbox up --real-gpus`), the GPU build of vLLM brought along
# (engine-site.sh), Slurm and munge brought along (slurm-site.sh); then `serve`, `ask`, `status`, `stop` of the
# catalog's tiny-longcat (the canary's LongCat-Flash architecture) through it, and what the GPU holds afterwards.
#   one: one node, one GPU;   dp: two nodes of one GPU, DP 2 + EP, then node 1's engine killed;
#   bench: bench/gpu_launch.py on one node (lc-cluster against the same argv by hand).
# Output under $OUT, in few files (a lent machine returns eight): machine.txt, WHAT.txt, WHAT-logs.txt.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/sandbox-serve-out}
what=${1:?one, dp or bench}
mkdir -p "$OUT"
# ENGINE=sglang serves with the SGLang set (sglang-site.sh, SGLANG_VERSION) instead of vLLM 0.22.0's.
engine=${ENGINE:-vllm}
case $engine in
  vllm) source scripts/gpu/engine-site.sh || exit 1; version=0.22.0 ;;
  sglang) source scripts/gpu/sglang-site.sh || exit 1; version=${SGLANG_VERSION:-0.5.17} ;;
  *) echo "ENGINE is vllm or sglang" >&2; exit 2 ;;
esac
# The brought folders on the path, in order (the checkout itself last, for lc_cluster).
IFS=: read -r -a sites <<<"${PYTHONPATH%:"$PWD"}"
source scripts/gpu/slurm-site.sh || exit 1
# The engine's venv, as an operator's would be: its python sees the brought site, then what the machine's python
# has (torch, transformers, tokenizers: the image's /opt/torch/.venv), and its bin/ has the engine's commands. (The
# wheels went to a --target folder: the machine's python has no ensurepip.)
venv=$PWD/.gpu-bring/venv-$engine-$version
if [ ! -f "$venv/.ready" ]; then
  python3 -m venv --without-pip "$venv" || exit 1
  { printf '%s\n' "${sites[@]}"; python3 -c 'import site; print("\n".join(site.getsitepackages()))'; } \
    >"$(echo "$venv"/lib/python3*/site-packages)/lc-gpu-site.pth"
  for f in "${sites[@]/%//bin/*}"; do
    [ -f "$f" ] || continue
    if [ "$(head -c2 "$f")" = "#!" ]; then sed "1s|^#!.*$|#!$venv/bin/python|" "$f" >"$venv/bin/$(basename "$f")"
    else cp "$f" "$venv/bin/"; fi
    chmod +x "$venv/bin/$(basename "$f")"
  done
  touch "$venv/.ready"
fi
lc() { python3 -m lc_cluster "$@"; }
state=/root/.local/state/lc-cluster/sandboxes/gpu
case $what in
  one|bench) nodes=1; shape=(--nodes 1) ;;
  dp) nodes=2; shape=(--nodes 2 --dp 2) ;;
  *) echo "one, dp or bench" >&2; exit 2 ;;
esac
report=$OUT/$what.txt
logs=$OUT/$what-logs.txt
{ date -u; nvidia-smi -L; nvidia-smi --query-gpu=driver_version --format=csv,noheader; python3 -V; slurmd -V; ip -V
  "$venv/bin/python" -c "import torch, $engine; print('torch', torch.__version__, '$engine', $engine.__version__)"; } \
  >"$OUT/machine.txt" 2>&1
now() { date +%s.%N; }
took() { python3 -c 'import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 1))' "$1" "$2"; }
t0=$(now)
echo "== sandbox up --name gpu --nodes $nodes --gpus-per-node 1 --real-gpus" >"$report"
if ! lc sandbox up --name gpu --nodes "$nodes" --gpus-per-node 1 --real-gpus --engine-venv "$engine=$venv" \
  --router-venv "$venv" >>"$report" 2>&1; then
  tail -n 30 "$state"/log/*.out >>"$report" 2>&1; cat "$report"; exit 1
fi
t1=$(now)
echo "sandbox up: $(took "$t0" "$t1") s" >>"$report"
{ echo "== gres.conf"; cat "$state/gres.conf"; } >>"$report"
if [ "$what" = bench ]; then
  echo "== bench/gpu_launch.py" >>"$report"
  python3 bench/gpu_launch.py --cluster gpu --engine "$engine" --engine-version "$version" >>"$report" 2>&1
  echo "bench exit $?" >>"$report"
else
  echo "== serve tiny-longcat --cluster gpu --engine $engine --engine-version $version --with-advice ${shape[*]} --json" \
    >>"$report"
  lc serve tiny-longcat --cluster gpu --engine "$engine" --engine-version "$version" --with-advice "${shape[@]}" --json \
    >"$OUT/serve.json" \
    2>>"$logs"
  rc=$?
  t2=$(now)
  cat "$OUT/serve.json" >>"$report"
  job=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["job_id"])' "$OUT/serve.json" 2>/dev/null)
  echo "serve exit $rc, job $job, serve to ready $(took "$t1" "$t2") s" >>"$report"
  if [ -n "$job" ]; then
    { echo "== ask"; lc ask --cluster gpu "$job" "Say hello."; echo "ask exit $?"
      echo "== status"; lc status --cluster gpu "$job"
      echo "== nvidia-smi while serving"; nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv
      for f in "$state"/jobs/"$job"/node-*.cmd.json; do echo "== $(basename "$f")"; cat "$f"; done; } >>"$report" 2>&1
    for n in $(seq 0 $((nodes - 1))); do
      { echo "== node $n's log: what it says of its GPU, DP, EP and errors"
        grep -aiE "EP rank|DP rank|expert|CUDA_VISIBLE|device|Error|Traceback|startup complete" \
          "$state/jobs/$job/node-$n.log" | head -n 60; } >>"$logs" 2>&1
    done
    if [ "$what" = dp ]; then
      # Node 1's engine killed: the job must end, and its record name node 1.
      { echo "== kill node 1's engine"; pkill -9 -f -- "--data-parallel-start-rank 1"; echo "pkill exit $?"; sleep 30
        lc status --cluster gpu "$job"; } >>"$report" 2>&1
    fi
    { echo "== stop"; lc stop --cluster gpu "$job"; echo "stop exit $?"; } >>"$report" 2>&1
  fi
fi
sleep 5
{ echo "== nvidia-smi after stop"; nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv
  nvidia-smi | tail -n 6; } >>"$report" 2>&1
{ for f in "$state"/log/*; do echo "== $f"; tail -n 15 "$f"; done; } >>"$logs" 2>&1
{ echo "== sandbox down"; lc sandbox down --name gpu; } >>"$report" 2>&1
rm -f "$OUT/serve.json"
cat "$report"
