"""`bench --plot`: every run in the history as a point of output tokens/s per GPU against p99 TTFT, one series per
model and scenario, so a change of engine release, layout or cluster shows as a point that moved."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lc_cluster.errors import LcError


def read_history(path: Path) -> list[dict[str, Any]]:
    runs = []
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise LcError(f"no benchmark history at {path}: run 'lc-cluster bench JOB' first") from None
    for line in lines:
        try:
            runs.append(json.loads(line))
        except ValueError:
            continue  # a line cut short by a crash; the others still count
    return runs


def plot(history: Path, out: Path) -> int:
    """Write the PNG; return how many runs it shows."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display on a login node
        import matplotlib.pyplot as plt
    except ImportError:
        raise LcError("--plot needs matplotlib: pip install 'lc-cluster[plot]'") from None
    runs = [r for r in read_history(history) if r.get("latency_ms", {}).get("ttft_p99") is not None]
    if not runs:
        raise LcError(f"{history} has no run with latencies to plot")
    series: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        series.setdefault(f"{run['model']} {run['scenario']} ({run['engine']})", []).append(run)
    figure, axes = plt.subplots(figsize=(8, 5))
    for label, points in sorted(series.items()):
        axes.plot(
            [p["latency_ms"]["ttft_p99"] for p in points], [p["tokens_per_s_per_gpu"] for p in points],
            marker="o", linestyle="", label=label,
        )  # fmt: skip
    axes.set_xlabel("TTFT p99 (ms)")
    axes.set_ylabel("output tokens/s per GPU")
    axes.set_title("lc-cluster bench history")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize="small")
    try:
        figure.savefig(out, dpi=100)
    except OSError as exc:
        raise LcError(f"cannot write {out}: {exc.strerror}") from None
    finally:
        plt.close(figure)
    return len(runs)
