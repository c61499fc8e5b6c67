"""Median wall time of `lc-cluster --help` and of a `plan` call, against a bare interpreter start.

Run: python bench/cli_latency.py [--runs N] [--compare REV]. Prints the figures and their ratios to a bare
interpreter; the targets are --help <= 0.3 s and plan <= 12 x bare. --compare measures a git revision of this
repository too (checked out in a temporary worktree and imported from there), interleaved with this tree's runs so
both see the same machine load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PLAN = ["plan", "longcat-flash-chat", "--gpu", "H800-80G", "--nodes", "2", "--json"]
COMMANDS = {"lc-cluster --help": ["--help"], "lc-cluster plan (2-node vLLM)": PLAN}
HELP_TARGET_S = 0.3
PLAN_TARGET_X = 12.0


def wall(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env, cwd="/")
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--compare", metavar="REV", help="also measure this git revision (e.g. HEAD~3)")
    args = parser.parse_args()
    trees = {"this tree": REPO}
    with tempfile.TemporaryDirectory() as scratch:
        if args.compare:
            old = Path(scratch) / "old"
            subprocess.run(["git", "-C", str(REPO), "worktree", "add", "-q", "--detach", str(old), args.compare],
                           check=True)  # fmt: skip
            trees = {args.compare: old, **trees}
        try:
            times: dict[tuple[str, str], list[float]] = {}
            bare: list[float] = []
            for _ in range(args.runs):
                bare.append(wall([sys.executable, "-c", "pass"], dict(os.environ)))
                for label, tree in trees.items():
                    # PYTHONPATH comes before the editable install's finder, so each tree imports its own package.
                    env = {**os.environ, "PYTHONPATH": str(tree)}
                    for name, cli_args in COMMANDS.items():
                        times.setdefault((label, name), []).append(
                            wall([sys.executable, "-m", "lc_cluster", *cli_args], env)
                        )
        finally:
            if args.compare:
                subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(old)], check=False)
    base = statistics.median(bare)
    print(f"{'tree':12} {'command':32} {'median s':>9} {'x bare':>7}  target")
    print(f"{'':12} {'python3 -c pass':32} {base:9.3f} {1.0:7.1f}")
    for (label, name), values in times.items():
        value = statistics.median(values)
        if name.endswith("--help"):
            verdict = "ok" if value <= HELP_TARGET_S else f"OVER {HELP_TARGET_S} s"
        else:
            verdict = "ok" if value / base <= PLAN_TARGET_X else f"OVER {PLAN_TARGET_X:g} x"
        print(f"{label:12} {name:32} {value:9.3f} {value / base:7.1f}  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
