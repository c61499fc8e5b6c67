"""What lc-cluster adds to a start: `serve` to ready on the sandbox against the same engine processes started by
hand in the same namespaces; plus `sandbox up` cold and warm, and the memory of the DP=2 job.

Run as root: python bench/launch_overhead.py [--runs 3]. It brings the sandbox up itself and takes it down after
if it was not up before. Prints medians and ratios; the target is serve/direct <= 1.10.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from lc_cluster.sandbox.topology import Topology

# The bench's own sandbox, beside any other.
TOPO = Topology.named("lcbench")
SERVE = ["serve", "tiny", "--cluster", TOPO.name, "--nodes", "2", "--gpus-per-node", "1", "--json"]
TARGET = 1.10


def lc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lc_cluster", *args], capture_output=True, text=True, check=False)


def timed(action: object) -> float:
    start = time.perf_counter()
    action()  # type: ignore[operator]
    return time.perf_counter() - start


def rss_mib(job_id: str) -> float:
    """Resident memory of every process the job started (the batch script marks each engine)."""
    marker = f"LC_CLUSTER_JOB={job_id}".encode()
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                fields = (entry / "status").read_text().split("VmRSS:")[1].split()
                total += int(fields[0])
        except (OSError, IndexError):
            continue
    return total / 1024


def available_mib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return 0.0


def serve_once() -> tuple[float, dict[str, object], float, float]:
    before = available_mib()
    start = time.perf_counter()
    done = lc(*SERVE)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"serve failed: {done.stdout}{done.stderr}")
    job = json.loads(done.stdout)
    return elapsed, job, rss_mib(str(job["job_id"])), before - available_mib()


def start_direct(
    job: dict[str, object], venv_bin: str, topo: Topology, nodes: int, gpus: dict[int, str] | None = None,
    key: str | None = None,
) -> tuple[list[subprocess.Popen[bytes]], float]:  # fmt: skip
    """The recorded commands of a served job, started directly in the nodes' namespaces (node i with GPUS[i] as
    its CUDA_VISIBLE_DEVICES, what Slurm gave it); returns them once the head answers, and the seconds that took.
    KEY, the job's own API key, stands where the record shows ${LC_API_KEY} (an engine that reads the key from the
    job's key file, as SGLang does, gets the job's key there, so the client must send that one)."""
    log_dir = Path(str(job["log_dir"]))
    commands = [json.loads((log_dir / f"node-{i}.cmd.json").read_text()) for i in range(nodes)]
    netns = {i: host.netns for i, host in enumerate(topo.nodes(nodes))}
    processes = []
    start = time.perf_counter()
    for cmd in commands:
        recorded = {k: v.replace("${LC_API_KEY}", key) for k, v in cmd["env"].items()} if key else cmd["env"]
        env = {**os.environ, **recorded, "PATH": f"{venv_bin}:{os.environ['PATH']}"}
        if gpus:
            env["CUDA_VISIBLE_DEVICES"] = gpus[cmd["index"]]
        processes.append(
            subprocess.Popen(
                ["nsenter", f"--net=/run/netns/{netns[cmd['index']]}", *cmd["argv"]],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
    url = f"{job['endpoint']}/health"
    probe = ["nsenter", f"--net=/run/netns/{topo.hub}", sys.executable, "-c",
             f"import urllib.request as u; u.urlopen({url!r}, timeout=5)"]  # fmt: skip
    deadline = time.monotonic() + 900
    while subprocess.run(probe, capture_output=True, check=False).returncode != 0:
        if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
            stop_all(processes)
            raise SystemExit("direct start did not become ready")
        time.sleep(0.5)
    return processes, time.perf_counter() - start


def direct_once(job: dict[str, object], venv_bin: str) -> float:
    processes, elapsed = start_direct(job, venv_bin, TOPO, 2)
    stop_all(processes)
    return elapsed


def stop_all(processes: list[subprocess.Popen[bytes]]) -> None:
    """Each started process's group: SIGTERM, then SIGKILL after 30 s; then a pause for their ports to be free."""
    for process in processes:
        os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
    time.sleep(2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    was_up = json.loads(lc("sandbox", "status", "--name", TOPO.name, "--json").stdout)["up"]
    if was_up:
        lc("sandbox", "down", "--name", TOPO.name)
    cold = timed(lambda: lc("sandbox", "up", "--name", TOPO.name, "--nodes", "2"))
    warm = timed(lambda: lc("sandbox", "up", "--name", TOPO.name, "--nodes", "2"))
    cluster = Path(json.loads(lc("sandbox", "status", "--name", TOPO.name, "--json").stdout)["cluster_file"])
    venv_bin = cluster.read_text().split("vllm: ")[1].split()[0] + "/bin"

    served, direct, memory, used = [], [], [], []
    job: dict[str, object] = {}
    for _ in range(args.runs):
        elapsed, job, mib, drop = serve_once()
        served.append(elapsed)
        memory.append(mib)
        used.append(drop)
        lc("stop", str(job["job_id"]))
    for _ in range(args.runs):
        direct.append(direct_once(job, venv_bin))
    if not was_up:
        lc("sandbox", "down", "--name", TOPO.name)

    ratio = statistics.median(served) / statistics.median(direct)
    print(f"sandbox up, cold (caches kept): {cold:7.1f} s")
    print(f"sandbox up, warm:               {warm:7.1f} s   ({warm / cold:.2f} x cold)")
    print(f"serve -> ready, DP=2 (median of {args.runs}): {statistics.median(served):6.1f} s  runs {served}")
    print(f"direct start -> ready (median of {args.runs}): {statistics.median(direct):6.1f} s  runs {direct}")
    print(f"ratio serve/direct: {ratio:.3f}   target <= {TARGET}: {'ok' if ratio <= TARGET else 'MISSED'}")
    print(f"DP=2 job memory at ready (max): RSS of its processes {max(memory) / 1024:.2f} GiB, machine's "
          f"MemAvailable drop {max(used) / 1024:.2f} GiB   target < 10 GiB")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
