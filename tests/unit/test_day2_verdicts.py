"""The verdicts `doctor` and `bench` reach from what nodes and benchmark clients report: pure, every branch."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from lc_cluster.bench.client import read_figures
from lc_cluster.bench.run import BenchResult
from lc_cluster.bench.scenarios import load
from lc_cluster.catalog.loader import load_catalog
from lc_cluster.doctor import checks
from lc_cluster.doctor.checks import Expected
from lc_cluster.errors import LcError, WorldError

H100 = load_catalog().gpu("H100")


def _port(name: str, state: str = "ACTIVE", rate: float = 400.0) -> dict[str, Any]:
    return {"name": name, "port": 1, "state": state, "rate_gbps": rate}


@pytest.mark.parametrize(
    ("model", "ok"),
    [("NVIDIA H100 80GB HBM3", True), ("NVIDIA H100-SXM", True), ("NVIDIA H200", False), ("NVIDIA H1000", False)],
)
def test_the_gpu_model_is_matched_as_a_word(model: str, ok: bool) -> None:
    assert H100.named_by(model) is ok


def test_a_missing_gpu_fails_the_count() -> None:
    want = Expected(gpu=H100, gpus_per_node=8, hcas=None)
    facts = {"gpus": [{"model": "NVIDIA H100 80GB HBM3"}] * 7}
    check = checks.gpus(facts, want)
    assert check.ok is False and "7 x" in check.detail and "Xid" in check.fix


def test_a_port_that_trained_slower_is_named() -> None:
    want = Expected(gpu=H100, gpus_per_node=8, hcas=None)
    check = checks.ib_ports({"hcas": [_port("mlx5_0"), _port("mlx5_1", rate=200.0)]}, want)
    assert check.ok is False and "mlx5_1 at 200.0 Gb/s" in check.detail


def test_pinned_hcas_must_exist_and_others_are_not_judged() -> None:
    facts = {"hcas": [_port("mlx5_0"), _port("mlx5_9", state="DOWN")]}
    assert checks.ib_ports(facts, Expected(gpu=H100, gpus_per_node=8, hcas=("mlx5_0",))).ok is True
    missing = checks.ib_ports(facts, Expected(gpu=H100, gpus_per_node=8, hcas=("mlx5_3",)))
    assert missing.ok is False and "mlx5_3 not on this node" in missing.detail


def test_no_nvswitch_means_no_fabric_manager_to_judge() -> None:
    assert checks.fabric_manager({"nvswitches": 0, "versions": {}}).ok is None
    assert checks.fabric_manager({"nvswitches": 4, "versions": {"driver": "570.1", "fabric_manager": None}}).ok is False


def test_the_fabric_floor_comes_from_the_slowest_nodes_active_ports() -> None:
    nodes = [{"hcas": [_port("a"), _port("b")]}, {"hcas": [_port("a"), _port("b", state="DOWN")]}]
    assert checks.expected_busbw_gbs(nodes, ranks_per_node=1) == 400 / 8 * 0.5
    assert checks.expected_busbw_gbs([{"hcas": []}], ranks_per_node=8) is None


def _result(**changes: Any) -> BenchResult:
    base: dict[str, Any] = {
        "job_id": "1", "model": "tiny", "engine": "vllm", "client": "vllm", "scenario": "chat-short",
        "load": load("chat-short", {"prompts": 10, "output_len": 100}), "gpus": 8, "completed": 10, "failed": 0,
        "output_tokens": 1000, "duration_s": 1.0, "latency_ms": {}, "output_tokens_per_s": 3600.0, "date": 0.0,
        "gpu_hour_usd": 2.0,
    }  # fmt: skip
    return BenchResult(**{**base, **changes})


def test_bench_passes_only_complete_answers() -> None:
    assert _result().problems == []
    assert _result(output_tokens=0).problems == ["the server returned no output tokens at all"]
    assert "cut short" in _result(output_tokens=500).problems[0]
    assert "1 of 10 requests failed (boom)" in _result(failed=1, first_error="boom").problems[0]


def test_bench_cost_per_million_tokens() -> None:
    # 8 GPUs at $2/h = $16/h for 3600 tok/s * 3600 s = 12.96 M tokens.
    assert _result().usd_per_million_tokens == pytest.approx(16 / 12.96)
    assert _result(gpu_hour_usd=None).usd_per_million_tokens is None
    assert _result().tokens_per_s_per_gpu == 450.0 and _result().tokens_per_s_per_user == 360.0


def test_scenario_overrides_are_checked() -> None:
    assert load("seed-5k").input_len == 5000
    with pytest.raises(LcError, match="--scenario"):
        load("nope")
    with pytest.raises(LcError, match="--concurrency"):
        load("chat-short", {"concurrency": 0})


def test_the_real_h100_node_passes_every_check_that_applies() -> None:
    """What node_facts.py --live read on a lent H100 VM (docs/hardware/2026-11-23-h100-doctor/)."""
    import json
    from pathlib import Path

    facts = json.loads((Path(__file__).parents[2] / "docs/hardware/2026-11-23-h100-doctor/facts.json").read_text())
    verdicts = {c.name: c.ok for c in checks.judge(facts, Expected(gpu=H100, gpus_per_node=1, hcas=None), "python3")}
    assert verdicts == {
        "gpus": True, "driver": True, "fabric_manager": None, "ib_ports": None, "peermem": None,
        "memlock": True, "shm": True, "engine": True,
    }  # fmt: skip
    assert checks.judge(facts, Expected(gpu=H100, gpus_per_node=8, hcas=None), None)[0].ok is False


def test_plan_says_when_the_endpoint_is_loopback_only() -> None:
    from tests.conftest import cli

    args = ["plan", "longcat-flash-chat-fp8", "-e", "sglang", "--gpu", "H20-141G"]
    assert "127.0.0.1 only" in " ".join(cli(*args).stdout.split())
    assert "127.0.0.1 only" not in " ".join(cli(*args, "--bind", "0.0.0.0").stdout.split())
    assert "127.0.0.1 only" not in " ".join(cli("plan", "tiny", "--gpu", "H100").stdout.split())


def test_the_collective_result_is_found_among_nccls_own_output(tmp_path: Any) -> None:
    """NCCL_DEBUG=INFO (the runbook's advice) prints to the ranks' stdout, around rank 0's JSON line."""
    import json

    from lc_cluster.cluster import ClusterFile
    from lc_cluster.doctor.run import DoctorRequest, judge

    (tmp_path / "n1.json").write_text(json.dumps({"gpus": [], "hcas": []}))
    result = {"backend": "nccl", "ranks": 2, "bytes": 1, "all_reduce_busbw_gbs": 90.0, "all_to_all_busbw_gbs": 40.0}
    (tmp_path / "collective.json").write_text(
        f"n1:1:1 [0] NCCL INFO Bootstrap : Using eth0\n{json.dumps(result)}\nn1:1:1 [0] NCCL INFO comm destroyed\n"
    )
    cluster = ClusterFile.model_validate({"name": "t", "gpu": "H100", "gpus_per_node": 2, "paths": {"log_dir": "/l"}})
    report = judge(DoctorRequest(cluster=cluster, gpu=H100, engine="vllm"), "7", tmp_path)
    assert report.collective is not None and report.collective["all_reduce_busbw_gbs"] == 90.0
    (tmp_path / "collective.json").write_text("NCCL WARN something\n")
    (tmp_path / "collective.err").write_text("RuntimeError: NCCL error\n")
    failed = judge(DoctorRequest(cluster=cluster, gpu=H100, engine="vllm"), "7", tmp_path).fabric[0]
    assert failed.ok is False and "NCCL error" in failed.detail


@pytest.mark.parametrize(
    ("text", "wrong"),
    [
        ('{"completed": NaN}', "not JSON"),
        ('{"completed": "yes"}', "completed='yes'"),
        ('{"completed": true}', "completed=True"),
        ('{"completed": 400, "failed": 0}', "400 completed and 0 failed requests of the 10 sent"),
        ('{"completed": 10, "output_throughput": -1}', "output_throughput=-1"),
        ('{"completed": 10, "duration": 1e999}', "duration=inf"),
        ('{"completed": 2.5}', "not a whole number"),
        ('{"completed": 10, "p99_ttft_ms": "fast"}', "p99_ttft_ms='fast'"),
        ('{"completed": 10, "errors": "boom"}', "not a list"),
        ("[1, 2]", "not an object"),
    ],
)
def test_a_benchmark_result_from_outside_is_checked_before_it_is_believed(text: str, wrong: str) -> None:
    with pytest.raises(WorldError, match=re.escape(wrong)):
        read_figures(text, load("chat-short", {"prompts": 10}))


def test_a_good_benchmark_result_reads_both_clients_names() -> None:
    figures = read_figures(
        '{"completed": 9, "failed": 1, "total_output_tokens": 1152, "duration": 2.0, "output_throughput": 576.0,'
        ' "median_ttft_ms": 40.5, "p99_ttft_ms": 90, "errors": ["", "Traceback\\nValueError: boom"]}',
        load("chat-short", {"prompts": 10}),
    )
    assert (figures.completed, figures.failed, figures.first_error) == (9, 1, "ValueError: boom")
    assert figures.latency_ms["ttft_p50"] == 40.5 and figures.latency_ms["ttft_p99"] == 90.0
    assert figures.latency_ms["tpot_p50"] is None


def test_a_benchmark_client_that_exits_non_zero_fails_the_run(tmp_path: Path) -> None:
    from lc_cluster.bench.client import run_client
    from lc_cluster.engines import get_engine

    client = tmp_path / "vllm"
    # It writes a perfect result, then exits 1: the exit wins.
    client.write_text(
        "#!/bin/sh\nwhile [ $# -gt 0 ]; do\n"
        "  case $1 in --result-dir) d=$2;; --result-filename) f=$2;; esac; shift\ndone\n"
        'echo \'{"completed": 10, "total_output_tokens": 1280}\' > "$d/$f"\necho "CUDA error" >&2\nexit 1\n'
    )
    client.chmod(0o755)
    with pytest.raises(WorldError, match="exited with 1: CUDA error"):
        run_client(get_engine("vllm"), "http://127.0.0.1:9", "m", "m", load("chat-short", {"prompts": 10}),
                   {"PATH": f"{tmp_path}:/usr/bin:/bin"})  # fmt: skip
