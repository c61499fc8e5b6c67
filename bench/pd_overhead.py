"""What lc-cluster adds to starting several engine instances behind a router (a prefill/decode job's shape): `serve`
to ready against the same processes started by hand, in the same namespaces, in the order the job keeps (every
instance answers, then the router starts and answers).

On the CPU sandbox the instances are two vLLM replicas behind vllm-router (`--replicas 2`). A prefill/decode pair
cannot start on the CPU build: it has no KV connector that moves the cache between engines. The job runs the same
steps for PD: instances, the wait for all of them, then the router. On a GPU machine the PD pair itself ran through
the canary (docs/hardware/2026-11-24-h200x2-dp-ep-pd).

Run as root: python bench/pd_overhead.py [--runs 3]. It brings its sandbox up itself and takes it down after if it
was not up before. Prints medians and the ratio; the target is serve/direct <= 1.10, as for one instance
(bench/launch_overhead.py).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml
from launch_overhead import TARGET, TOPO, lc, stop_all

SERVE = ["serve", "tiny", "--cluster", TOPO.name, "--nodes", "2", "--gpus-per-node", "1", "--replicas", "2", "--json"]
NAMES = ("serve0.node-0", "serve1.node-1", "router.node-0")


def serve_once() -> tuple[float, dict[str, object]]:
    start = time.perf_counter()
    done = lc(*SERVE)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"serve failed: {done.stdout}{done.stderr}")
    return elapsed, json.loads(done.stdout)


def _start(cmd: dict[str, object], path: str, key: str) -> subprocess.Popen[bytes]:
    env = {k: str(v).replace("${LC_API_KEY}", key) for k, v in dict(cmd["env"]).items()}  # type: ignore[call-overload]
    netns = TOPO.nodes(2)[int(str(cmd["index"]))].netns
    return subprocess.Popen(
        ["nsenter", f"--net=/run/netns/{netns}", *cmd["argv"]],  # type: ignore[misc]
        env={**os.environ, **env, "PATH": f"{path}:{os.environ['PATH']}"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _wait(urls: list[str], deadline: float) -> None:
    for url in urls:
        probe = ["nsenter", f"--net=/run/netns/{TOPO.hub}", sys.executable, "-c",
                 f"import urllib.request as u; u.urlopen({url!r}, timeout=5)"]  # fmt: skip
        while subprocess.run(probe, capture_output=True, check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise SystemExit(f"{url} did not answer in 600 s")
            time.sleep(0.5)


def direct_once(job: dict[str, object], engine_bin: str, router_bin: str) -> float:
    """The served job's recorded commands, started by hand: both instances, then the router once they answer."""
    log_dir = Path(str(job["log_dir"]))
    cmds = {name: json.loads((log_dir / f"{name}.cmd.json").read_text()) for name in NAMES}
    key = "lck-bench-" + secrets.token_urlsafe(16)
    deadline = time.monotonic() + 600
    processes = []
    start = time.perf_counter()
    try:
        for name in NAMES[:2]:
            processes.append(_start(cmds[name], engine_bin, key))
        _wait([f"http://{cmds[name]['node_ip']}:8000/health" for name in NAMES[:2]], deadline)
        processes.append(_start(cmds["router.node-0"], router_bin, key))
        port = str(job["endpoint"]).rsplit(":", 1)[1]
        _wait([f"http://{cmds['router.node-0']['node_ip']}:{port}/health"], deadline)
        return time.perf_counter() - start
    finally:
        stop_all(processes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    was_up = json.loads(lc("sandbox", "status", "--name", TOPO.name, "--json").stdout)["up"]
    status = json.loads(lc("sandbox", "up", "--name", TOPO.name, "--nodes", "2", "--json").stdout)
    doc = yaml.safe_load(Path(status["cluster_file"]).read_text())
    engine_bin = doc["runtime"]["engine_venvs"]["vllm"] + "/bin"
    router_bin = doc["runtime"]["router_venv"] + "/bin"

    served, direct = [], []
    job: dict[str, object] = {}
    for _ in range(args.runs):
        elapsed, job = serve_once()
        served.append(round(elapsed, 1))
        lc("stop", str(job["job_id"]))
    for _ in range(args.runs):
        direct.append(round(direct_once(job, engine_bin, router_bin), 1))
    if not was_up:
        lc("sandbox", "down", "--name", TOPO.name)

    ratio = statistics.median(served) / statistics.median(direct)
    print(f"serve -> ready, 2 instances + vllm-router (median of {args.runs}): {statistics.median(served):6.1f} s  "
          f"runs {served}")  # fmt: skip
    print(f"by hand -> ready, same processes, same order (median of {args.runs}): {statistics.median(direct):6.1f} s  "
          f"runs {direct}")  # fmt: skip
    print(f"ratio serve/by hand: {ratio:.3f}   target <= {TARGET}: {'ok' if ratio <= TARGET else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
