#!/usr/bin/env bash
# The README's first command: install, bring the local sandbox up (real Slurm, 2 nodes, CPU vLLM), serve the tiny
# model with data parallelism over both nodes, and ask it a question through the head's OpenAI API.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
# The sandbox's name (LC_CLUSTER_SANDBOX, default 'sandbox'): the tests run one of their own beside it.
name=${LC_CLUSTER_SANDBOX:-sandbox}

lc-cluster sandbox up --name "$name" --nodes 2
job=$(lc-cluster serve tiny --cluster "$name" --nodes 2 --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["job_id"])')
echo
echo "Q: What does a GPU cluster do?"
# --cluster: job ids are Slurm's, unique per cluster only (another cluster of yours may have one of the same number).
echo "A: $(lc-cluster ask --cluster "$name" "$job" "What does a GPU cluster do?")"
echo "   (the tiny model has random weights: the answer proves the path, not the model)"
echo
lc-cluster status --cluster "$name" "$job"
cat <<HINT

Next:  lc-cluster logs --cluster $name $job --node 1   # the worker's engine log
       lc-cluster stop --cluster $name $job            # stop the job
       lc-cluster sandbox down --name $name   # remove the sandbox (caches stay in ~/.cache/lc-cluster)
HINT
