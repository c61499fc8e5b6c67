#!/usr/bin/env bash
# The README's first command: install, bring the local sandbox up (real Slurm, 2 nodes, CPU vLLM), serve the tiny
# model with data parallelism over both nodes, and ask it a question through the head's OpenAI API.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"

lc-cluster sandbox up --nodes 2
job=$(lc-cluster serve tiny --cluster sandbox --nodes 2 --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["job_id"])')
echo
echo "Q: What does a GPU cluster do?"
echo "A: $(lc-cluster ask "$job" "What does a GPU cluster do?")"
echo "   (the tiny model has random weights: the answer proves the path, not the model)"
echo
lc-cluster status "$job"
cat <<HINT

Next:  lc-cluster logs $job --node 1    # the worker's engine log
       lc-cluster stop $job             # stop the job
       lc-cluster sandbox down        # remove the sandbox (caches stay in ~/.cache/lc-cluster)
HINT
