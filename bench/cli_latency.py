"""Median wall time of `lc-cluster --help` and of a `plan` call, against a bare interpreter start.

Run: python bench/cli_latency.py [--runs N]. Prints the figures and ratios; the target is < 0.3 s for both.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "python3 -c pass": [sys.executable, "-c", "pass"],
    "lc-cluster --help": [sys.executable, "-m", "lc_cluster", "--help"],
    "lc-cluster plan (2-node vLLM)": [
        sys.executable,
        "-m",
        "lc_cluster",
        "plan",
        "longcat-flash-chat",
        "--gpu",
        "H800-80G",
        "--nodes",
        "2",
        "--json",
    ],
}
TARGET_S = 0.3


def median_wall(argv: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    medians = {name: median_wall(argv, args.runs) for name, argv in COMMANDS.items()}
    bare = medians["python3 -c pass"]
    print(f"{'command':34} {'median s':>9} {'x bare':>7}  target")
    for name, value in medians.items():
        verdict = "" if name.startswith("python3") else ("ok" if value < TARGET_S else f"OVER {TARGET_S} s")
        print(f"{name:34} {value:9.3f} {value / bare:7.1f}  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
