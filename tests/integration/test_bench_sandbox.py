"""`bench` drives vLLM's own benchmark client against sandbox jobs: figures from the real CPU vLLM, and a failure
(exit 1) from a server that answers every request with no tokens."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import cli
from tests.integration.conftest import SANDBOX

SMALL = ["--input-len", "64", "--output-len", "32", "--prompts", "12", "--concurrency", "3"]


def _serve(*args: str) -> str:
    done = cli("serve", *args, "--json", timeout=600)
    job: dict[str, Any] = json.loads(done.stdout)
    assert done.returncode == 0, job
    return str(job["job_id"])


def test_bench_prints_figures_from_the_real_engine_and_keeps_a_history(sandbox: dict[str, Any], tmp_path: Path) -> None:
    job = _serve("tiny", "--cluster", SANDBOX, "--nodes", "2", "--gpus-per-node", "1")
    try:
        done = cli("bench", job, *SMALL, "--json", timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        result = json.loads(done.stdout)
        assert result["ok"] and result["problems"] == []
        assert (result["completed"], result["failed"], result["output_tokens"]) == (12, 0, 12 * 32)
        assert result["latency_ms"]["ttft_p99"] >= result["latency_ms"]["ttft_p50"] > 0
        assert result["output_tokens_per_s"] > 0 and result["gpus"] == 2
        assert result["tokens_per_s_per_gpu"] == result["output_tokens_per_s"] / 2
        history = Path(os.environ["LC_CLUSTER_STATE"]) / "bench-history.jsonl"
        assert json.loads(history.read_text().splitlines()[-1])["job_id"] == job
        shown = cli("bench", job, *SMALL, timeout=600)
        assert shown.returncode == 0 and "TTFT ms" in shown.stdout and "per GPU" in shown.stdout
        png = tmp_path / "history.png"
        plotted = cli("bench", "--plot", str(png), timeout=120)
        assert plotted.returncode == 0 and "2 runs" in plotted.stdout, plotted.stderr
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        cli("stop", job, timeout=120)


def test_a_server_that_answers_with_no_tokens_fails_the_bench(
    sandbox: dict[str, Any], recorder_cluster: str, tmp_path: Path
) -> None:
    """The stand-in answers like a decode engine whose KV transfer failed: every request 200, not one token."""
    doc = yaml.safe_load(Path(recorder_cluster).read_text())
    doc["network"]["api_bind"] = "0.0.0.0"  # SGLang serves on loopback unless told
    cluster = tmp_path / "everywhere.yaml"
    cluster.write_text(yaml.safe_dump(doc))
    job = _serve("longcat-flash-chat-fp8", "-e", "sglang", "--gpu", "H20-141G", "--cluster", str(cluster),
                 "--no-api-key")  # fmt: skip
    try:
        done = cli("bench", job, *SMALL, "--client", "vllm", "--tokenizer", "lc-cluster/tiny-llama", "--json",
                   timeout=600)  # fmt: skip
        assert done.returncode == 1, done.stdout + done.stderr
        result = json.loads(done.stdout)
        assert result["completed"] == 12 and result["output_tokens"] == 0
        assert result["problems"] == ["the server returned no output tokens at all"]
    finally:
        cli("stop", job, timeout=120)


def test_bench_refuses_bad_input_with_one_line(sandbox: dict[str, Any]) -> None:
    for args, message in ((["--scenario", "nope"], "--scenario"), (["--prompts", "0"], "--prompts")):
        done = cli("bench", "123", *args)
        assert done.returncode == 2 and message in done.stderr and len(done.stderr.strip().splitlines()) == 1
