"""Plan and render time of a wide-EP prefill/decode deployment at 16, 128 and 1024 GPUs.

Run: python bench/plan_scale.py [--runs N]. For each size it plans LongCat-Flash FP8 on SGLang with DeepEP (half
the nodes prefill, half decode, each role one DP-attention instance over its nodes, on 8 x H20-141G nodes, where
8 GPUs per role fit) and renders the job's batch script, in process: the work `plan` and `serve --dry-run` do past
the interpreter's start. Prints the median of each step, the script's size and the ratio to 16 GPUs; the goal is
well under a second at 1024.
"""

from __future__ import annotations

import argparse
import statistics
import time

from lc_cluster.cluster import ClusterFile
from lc_cluster.deployment import Asked, deploy, resolve
from lc_cluster.jobs.job import build_job

GPUS_PER_NODE = 8
SIZES = (16, 128, 1024)
GOAL_S = 1.0


def asked(gpus: int) -> Asked:
    # Half the nodes each role, so EP (8, 64, 512) divides LongCat-Flash's 512 routed experts at every size.
    nodes = gpus // GPUS_PER_NODE
    role = f"nodes={nodes // 2},dp={gpus // 2}"
    return Asked(model="longcat-flash-chat-fp8", engine="sglang", engine_version="0.5.17", gpu="H20-141G",
                 nodes=nodes, prefill=role, decode=role, a2a="deepep")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    cluster = ClusterFile.model_validate(
        {"name": "bench", "gpu": "H20-141G", "gpus_per_node": GPUS_PER_NODE, "paths": {"log_dir": "/shared/logs"}}
    )
    base = None
    print(f"{'GPUs':>5} {'nodes':>5} {'processes':>9} {'plan s':>8} {'render s':>9} {'total s':>8} {'script KiB':>10} "
          f"{'x 16 GPUs':>9}")  # fmt: skip
    worst = 0.0
    for gpus in SIZES:
        plans, renders, size, processes = [], [], 0, 0
        for _ in range(args.runs):
            start = time.perf_counter()
            deployment = deploy(resolve(asked(gpus), cluster))
            planned = time.perf_counter()
            script = build_job(deployment, cluster).script
            plans.append(planned - start)
            renders.append(time.perf_counter() - planned)
            size, processes = len(script), len(deployment.processes)
        plan_s, render_s = statistics.median(plans), statistics.median(renders)
        total = plan_s + render_s
        base = base or total
        worst = max(worst, total)
        print(f"{gpus:>5} {gpus // GPUS_PER_NODE:>5} {processes:>9} {plan_s:>8.3f} {render_s:>9.3f} {total:>8.3f} "
              f"{size / 1024:>10.0f} {total / base:>9.1f}")  # fmt: skip
    print(f"goal: under {GOAL_S:g} s at {SIZES[-1]} GPUs: {'met' if worst < GOAL_S else 'NOT met'} ({worst:.3f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
