#!/usr/bin/env bash
# On a lent GPU machine (no Slurm, no registry): what doctor's job runs on each node, run by hand on this one. The
# role's node_facts.py reads the real /sys and /proc (GPUs, HCAs, driver, fabric manager, NVSwitches) and the live
# limits; the collective runs with this machine's torch and NCCL, one rank per GPU. Output under $OUT; doctor's
# verdicts on it are checked by tests/unit/test_day2_verdicts.py.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/doctor-out}
mkdir -p "$OUT"
# A shared host's GPUs: no NVLink multicast (KINDS.md).
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
{ date -u; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; python3 -V
  python3 -c 'import torch; print("torch", torch.__version__, "nccl", ".".join(map(str, torch.cuda.nccl.version())))'
  nvidia-smi topo -m; } >"$OUT/machine.txt" 2>&1
live=$(printf '{"engine": "%s", "cache_dir": "/tmp"}' "$(command -v python3)")
python3 lc_cluster/ansible/roles/node_facts/files/node_facts.py --live "$live" >"$OUT/facts.json" 2>"$OUT/facts.err"
echo "facts: exit $?"
gpus=$(nvidia-smi --list-gpus | wc -l)
for rank in $(seq 0 $((gpus - 1))); do
  SLURM_PROCID=$rank SLURM_NTASKS=$gpus SLURM_LOCALID=$rank MASTER_ADDR=127.0.0.1 MASTER_PORT=29555 \
    python3 lc_cluster/doctor/collective.py 256 10 >>"$OUT/collective.json" 2>>"$OUT/collective.err" &
done
wait
echo "collective over $gpus GPUs: $(cat "$OUT/collective.json")"
