"""What lc-cluster adds on a real GPU: `serve` to ready, and output tokens/s under the engine's own benchmark client
(`vllm bench serve`, or `python -m sglang.bench_serving` with --engine sglang: random prompts of fixed lengths, EOS
ignored, concurrency 64) through `lc-cluster bench`, against
the same recorded argv started by hand in the same namespace on the same GPU, measured by the same client by hand.
A run counts only when no request failed and every request produced all its output tokens.

Run as root on a machine whose sandbox is up with its GPUs (scripts/gpu/sandbox-serve.sh bench does both):
    python bench/gpu_launch.py --cluster gpu --engine-version 0.22.0 [--nodes 2 --dp 2]
    python bench/gpu_launch.py --cluster gpu --engine sglang --engine-version 0.5.17
Prints both figures and their ratios; targets: ready serve/direct <= 1.10, tokens/s lc/direct >= 0.95.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from launch_overhead import lc, start_direct, stop_all

from lc_cluster.catalog import load_catalog
from lc_cluster.cluster import load_cluster
from lc_cluster.engines import get_engine
from lc_cluster.engines.base import BenchLoad
from lc_cluster.jobs import records
from lc_cluster.sandbox.real_gpus import machine_gpus, node_devices
from lc_cluster.sandbox.topology import Topology

READY_TARGET = 1.10
TOKENS_TARGET = 0.95


def valid(doc: dict[str, Any], load: BenchLoad) -> str | None:
    """Why a benchmark run does not count, or None."""
    if doc.get("failed", 0):
        return f"{doc['failed']} requests failed"
    if doc.get("completed") != load.prompts or doc.get("total_output_tokens") != load.prompts * load.output_len:
        return f"{doc.get('completed')} of {load.prompts} completed, {doc.get('total_output_tokens')} output tokens"
    return None


def by_hand(
    job: dict[str, Any], args: argparse.Namespace, load: BenchLoad, venv_bin: str
) -> tuple[float, dict[str, Any]]:
    """The job's recorded commands started directly, then the engine's client run directly against them."""
    cluster = load_cluster(args.cluster)
    topo = Topology.named(cluster.name)
    # Each node's GPUs as the sandbox gave them to Slurm.
    devices = node_devices(machine_gpus(), args.nodes, args.gpus_per_node)
    gpus = {i: ",".join(d.removeprefix("/dev/nvidia") for d in node) for i, node in enumerate(devices)}
    key = records.find(str(job["job_id"]), cluster.name).api_key() or ""
    processes, ready = start_direct(job, venv_bin, topo, args.nodes, gpus, key)
    try:
        model = load_catalog().model(args.model)
        with tempfile.TemporaryDirectory(prefix="lc-gpu-bench-") as work:
            result = f"{work}/result.json"
            argv = get_engine(args.engine).bench_argv(job["endpoint"], model.source, model.source, load, result)
            env = {**os.environ, "PATH": f"{venv_bin}:{os.environ['PATH']}", "HF_HUB_OFFLINE": "1",
                   "HF_HOME": str(cluster.paths.model_cache), "OPENAI_API_KEY": key}  # fmt: skip
            subprocess.run(["nsenter", f"--net=/run/netns/{topo.hub}", *argv], env=env, capture_output=True,
                           check=False, timeout=1800)  # fmt: skip
            doc = json.loads(Path(result).read_text().strip().splitlines()[-1])
    finally:
        stop_all(processes)
    return ready, doc


def through_lc(args: argparse.Namespace, load: BenchLoad, shape: list[str]) -> tuple[float, dict[str, Any], Any]:
    """`serve` timed to ready, then `lc-cluster bench` against it, then `stop`."""
    start = time.perf_counter()
    started = lc("serve", args.model, "--cluster", args.cluster, "--engine", args.engine, "--engine-version",
                 args.engine_version, "--with-advice", *shape, "--json")  # fmt: skip
    if started.returncode != 0:
        raise SystemExit(f"serve failed: {started.stdout}{started.stderr}")
    ready = time.perf_counter() - start
    job = json.loads(started.stdout)
    bench = lc("bench", str(job["job_id"]), "--cluster", args.cluster, "--prompts", str(load.prompts),
               "--input-len", str(load.input_len), "--output-len", str(load.output_len),
               "--concurrency", str(load.concurrency), "--json")  # fmt: skip
    lc("stop", "--cluster", args.cluster, str(job["job_id"]))
    if bench.returncode != 0:
        raise SystemExit(f"lc-cluster bench failed: {bench.stdout}{bench.stderr}")
    return ready, json.loads(bench.stdout), job


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cluster", default="gpu")
    parser.add_argument("--model", default="tiny-longcat")
    parser.add_argument("--engine", default="vllm", choices=["vllm", "sglang"])
    parser.add_argument("--engine-version", default="0.22.0")
    parser.add_argument("--nodes", type=int, default=1)
    parser.add_argument("--gpus-per-node", type=int, default=1)
    parser.add_argument("--dp", type=int, default=None)
    parser.add_argument("--prompts", type=int, default=512)
    parser.add_argument("--input-len", type=int, default=256)
    parser.add_argument("--output-len", type=int, default=256)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    load = BenchLoad(args.input_len, args.output_len, args.prompts, args.concurrency)
    shape = ["--nodes", str(args.nodes), "--gpus-per-node", str(args.gpus_per_node)]
    shape += ["--dp", str(args.dp)] if args.dp else []
    cluster = load_cluster(args.cluster)
    venv_bin = f"{cluster.runtime.engine_venvs[args.engine]}/bin"

    # The first start on a machine fills the kernel caches (Triton's MoE kernels JIT-compile at the first batches of
    # each shape), which every later start then reads: it runs once untimed, so the two compared runs both start warm.
    cold_ready, cold, _ = through_lc(args, load, shape)
    served_ready, served, job = through_lc(args, load, shape)
    direct_ready, direct = by_hand(job, args, load, venv_bin)
    print(f"first (cold caches) lc-cluster run, not compared: ready {cold_ready:.1f} s, "
          f"{float(cold['output_tokens_per_s']):.1f} output tokens/s")  # fmt: skip

    print(f"{args.model} on {args.nodes} x {args.gpus_per_node} GPU, {args.engine} {args.engine_version}; load: {load}")
    as_client_wrote = {"failed": served["failed"], "completed": served["completed"],
                       "total_output_tokens": served["output_tokens"]}  # fmt: skip
    problem = valid(as_client_wrote, load) or valid(direct, load)
    print(f"serve -> ready:   lc-cluster {served_ready:6.1f} s   by hand {direct_ready:6.1f} s   "
          f"ratio {served_ready / direct_ready:.3f} (target <= {READY_TARGET})")  # fmt: skip
    lc_tps, direct_tps = float(served["output_tokens_per_s"]), float(direct["output_throughput"])
    print(f"output tokens/s:  lc-cluster {lc_tps:8.1f}   by hand {direct_tps:8.1f}   "
          f"ratio {lc_tps / direct_tps:.3f} (target >= {TOKENS_TARGET})")  # fmt: skip
    print(
        f"requests: lc-cluster {served['completed']} completed, {served['output_tokens']} output tokens; "
        f"by hand {direct['completed']} completed, {direct['total_output_tokens']} output tokens"
    )
    print(f"validity: {'ok' if problem is None else 'INVALID: ' + problem}")
    return 0 if problem is None else 1


if __name__ == "__main__":
    sys.exit(main())
