"""Provisioning time: a cold `lc-cluster up` and a re-run on 2 and on 4 bare sandbox hosts.

Run as root: python bench/up_scaling.py [--top N]. It uses a sandbox of its own ('lcupbench'), beside any other.
Prints the times, the ratios against the targets (a re-run <= 25% of a cold run; a re-run on 4 nodes <= 1.5 x the
time of one on 2), the cold runs' scaling, and where each run spent its time: the CPU of the controller and of the
hosts, and the slowest tasks, summed over hosts.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time


def lc(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "lc_cluster", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"lc-cluster {' '.join(args)} failed: {done.stderr[-2000:]}")
    return done


NAME = "lcupbench"


def busy_cpu_s() -> float:
    """CPU seconds this machine has spent busy (user, nice, system, irq, softirq), all cores together."""
    with open("/proc/stat") as stat:
        fields = stat.readline().split()[1:8]
    user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in fields)
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def timed_up(inventory: str, what: str, top: int) -> float:
    start, busy, children = time.perf_counter(), busy_cpu_s(), os.times()
    result = json.loads(lc("up", "-i", inventory, "--json").stdout)
    elapsed = time.perf_counter() - start
    # The controller is lc-cluster and everything it starts (ansible-playbook, its forks, ssh); the hosts' modules
    # run in their containers, outside this process tree, so they are the rest of the machine's busy time.
    after = os.times()
    controller = (after.children_user + after.children_system) - (children.children_user + children.children_system)
    hosts = busy_cpu_s() - busy - controller
    print(
        f"  {what}: {elapsed:.1f} s; CPU: controller {controller:.1f} s, hosts {hosts:.1f} s "
        f"({(controller + hosts) / elapsed:.2f} of {os.cpu_count()} cores busy)"
    )
    print("  slowest tasks (s, summed over hosts):")
    for row in result["slowest_tasks"][:top]:
        print(f"    {row['seconds']:6.1f}  {row['task']}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--top", type=int, default=8)
    args = parser.parse_args()
    results = {}
    for nodes in (2, 4):
        status = json.loads(lc("sandbox", "up", "--bare", "--name", NAME, "--nodes", str(nodes), "--json").stdout)
        try:
            cold = timed_up(status["inventory"], f"{nodes} nodes, cold", args.top)
            rerun = timed_up(status["inventory"], f"{nodes} nodes, re-run", args.top)
        finally:
            lc("sandbox", "down", "--name", NAME)
        results[nodes] = (cold, rerun)
        print(f"{nodes} nodes + controller: cold up {cold:6.1f} s, re-run {rerun:6.1f} s ({rerun / cold:.0%} of cold)")
    (cold2, rerun2), (cold4, rerun4) = results[2], results[4]
    print(f"re-run / cold: {rerun2 / cold2:.0%} (2 nodes), {rerun4 / cold4:.0%} (4 nodes)   target <= 25%")
    print(f"re-run, 4 nodes / 2 nodes: {rerun4 / rerun2:.2f}   target <= 1.5")
    print(f"cold up, 4 nodes / 2 nodes: {cold4 / cold2:.2f}")
    # Sandbox hosts run their modules on this machine: with fewer cores than hosts, time grows with the host count
    # (5 hosts / 3 hosts = 1.67 when CPU-bound), which a cluster whose hosts have their own CPUs does not show.
    print(
        f"this machine has {os.cpu_count()} cores for 3 and 5 hosts and the controller; "
        f"CPU-bound scaling would be {5 / 3:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
