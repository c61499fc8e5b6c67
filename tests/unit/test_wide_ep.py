"""Large-scale expert parallelism: the article's shape planned per engine and release, the memory split that makes
its KV cache dominate, and what each engine refuses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from lc_cluster.planning.memory import GIB
from tests.conftest import cli, plan_json
from tests.unit.argv import flag_values

# The article's shape: decode at EP 128 (16 nodes of 8 x H800), prefill on 4 more.
ARTICLE = ["longcat-flash-chat-fp8", "-e", "sglang", "--engine-version", "0.5.17", "--gpu", "H800-80G",
           "--nodes", "20", "--prefill", "nodes=4,dp=32,ep=32", "--decode", "nodes=16,dp=128,ep=128",
           "--a2a", "deepep"]  # fmt: skip
VLLM_WIDE = ["longcat-flash-chat-fp8", "--gpu", "H800-80G", "--nodes", "4", "--dp", "32", "--a2a", "deepep"]


def options(argv: list[str]) -> dict[str, str | None]:
    """Each flag of ARGV with the value after it (None for a switch); these plans give each flag once."""
    found: dict[str, str | None] = {}
    for at, arg in enumerate(argv):
        if arg.startswith("--"):
            follows = argv[at + 1] if at + 1 < len(argv) else None
            found[arg] = follows if follows is not None and not follows.startswith("--") else None
    return found


def _heads(doc: dict[str, Any], role: str) -> list[dict[str, Any]]:
    return [p for p in doc["processes"] if p["role"] == role]


def test_the_articles_shape_plans_with_dp_attention_deepep_per_role_and_its_own_heads() -> None:
    doc = plan_json(*ARTICLE)
    prefill, decode = _heads(doc, "prefill"), _heads(doc, "decode")
    assert (len(prefill), len(decode)) == (4, 16)
    for procs, role, dp, mode, head in ((prefill, "prefill", 32, "normal", "${HEAD_IP}"),
                                        (decode, "decode", 128, "low_latency", "${IP_OF_NODE_4}")):  # fmt: skip
        for rank, proc in enumerate(procs):
            opts = options(proc["argv"])
            # One TP group of all the instance's GPUs, DP attention over them, and DeepEP in the role's mode.
            assert opts["--tp"] == opts["--dp-size"] == opts["--ep-size"] == str(dp)
            assert "--enable-dp-attention" in opts and "--enable-dp-lm-head" in opts
            # LongCat-Flash's dense MLPs ignore --moe-dense-tp-size: it would lay out a communicator they do not use.
            assert "--moe-dense-tp-size" not in opts
            assert (opts["--moe-a2a-backend"], opts["--deepep-mode"]) == ("deepep", mode)
            assert (opts["--nnodes"], opts["--node-rank"]) == (str(len(procs)), str(rank))
            assert opts["--dist-init-addr"] == f"{head}:5000"
            assert opts["--disaggregation-mode"] == role
    # 512 routed experts: EP 32 and 128 divide them, so no redundant experts (LongCat-Flash's MoE layer takes none).
    assert all("--ep-num-redundant-experts" not in options(p["argv"]) for p in (*prefill, *decode))
    assert {i["layout"]["redundant_experts"] for i in doc["instances"]} == {0}
    # Decode captures CUDA graphs up to the batch its KV cache holds, within what DeepEP's low-latency kernels
    # dispatch per rank (128), with 0.5.17's spelling of the flag.
    memory = next(i["memory"] for i in doc["instances"] if i["role"] == "decode")
    assert options(decode[0]["argv"])["--cuda-graph-max-bs-decode"] == str(min(128, memory["decode_batch"]))
    assert 0 < memory["decode_batch"] <= 256
    # The router names the prefill head (with its bootstrap port) and the decode head.
    router = _heads(doc, "router")[0]["argv"]
    assert flag_values(router, "--prefill") == ["http://${HEAD_IP}:30000"]
    assert router[router.index("--prefill") + 2] == "8998"
    assert flag_values(router, "--decode") == ["http://${IP_OF_NODE_4}:30000"]


def test_the_articles_expert_shard_is_four_gigabytes_five_percent_of_an_80_gb_gpu() -> None:
    """EP 128 in FP8: 4 of 512 routed experts per GPU and layer, 4.23 GB, 5.3% of 80 GB; the replicated weights and
    the KV cache are the rest."""
    doc = plan_json("longcat-flash-chat-fp8", "-e", "sglang", "--engine-version", "0.5.17", "--gpu", "H800-80G",
                    "--nodes", "16", "--dp", "128", "--ep", "128")  # fmt: skip
    memory = doc["instances"][0]["memory"]
    shard_gb = memory["experts_gib"] * GIB / 1e9
    assert round(shard_gb, 2) == 4.23
    assert round(shard_gb / 80 * 100, 1) == 5.3
    assert memory["weights_gib"] == pytest.approx(memory["replicated_gib"] + memory["experts_gib"], abs=0.02)
    # What dominates the card is the KV cache, not the experts.
    assert memory["kv_cache_gib"] > 5 * memory["experts_gib"]


@pytest.mark.parametrize(
    ("release", "flag"), [("0.5.2", "--cuda-graph-max-bs"), ("0.5.15", "--cuda-graph-max-bs-decode")]
)
def test_decode_cuda_graph_flag_is_spelled_as_the_release_spells_it(release: str, flag: str) -> None:
    # Without DeepEP, which LongCat-Flash has only from 0.5.16.
    args = [*ARTICLE[:4], release, *ARTICLE[5:-2]]
    decode = _heads(plan_json(*args), "decode")[0]
    other = ({"--cuda-graph-max-bs", "--cuda-graph-max-bs-decode"} - {flag}).pop()
    assert flag in options(decode["argv"]) and other not in options(decode["argv"])


@pytest.mark.parametrize(
    ("release", "in_argv", "in_env"), [("0.11.0", False, True), ("0.11.1", True, False), ("0.33.0", True, False)]
)
def test_vllm_deepep_is_a_flag_from_0_11_1_and_the_environment_before(
    release: str, in_argv: bool, in_env: bool
) -> None:
    for proc in plan_json(*VLLM_WIDE, "--engine-version", release)["processes"]:
        opts = options(proc["argv"])
        assert ("--all2all-backend" in opts) is in_argv and ("VLLM_ALL2ALL_BACKEND" in proc["env"]) is in_env
        assert "--enable-expert-parallel" in opts
        backend = opts.get("--all2all-backend") or proc["env"].get("VLLM_ALL2ALL_BACKEND")
        assert backend == "deepep_low_latency"


def test_vllm_deepep_kernels_follow_the_role() -> None:
    doc = plan_json("deepseek-v4-flash", "--gpu", "H200", "--nodes", "2", "--prefill", "nodes=1,dp=8",
                    "--decode", "nodes=1,dp=8", "--a2a", "deepep")  # fmt: skip
    backends = {p["role"]: options(p["argv"])["--all2all-backend"] for p in doc["processes"] if p["role"] != "router"}
    assert backends == {"prefill": "deepep_high_throughput", "decode": "deepep_low_latency"}


def test_vllm_eplb_plans_redundant_experts_in_its_config() -> None:
    proc = plan_json("deepseek-v4-flash", "--gpu", "H200", "--nodes", "2", "--dp", "12", "--gpus-per-node", "6",
                     "--eplb")["processes"][0]  # fmt: skip
    opts = options(proc["argv"])
    assert "--enable-eplb" in opts
    # deepseek-v4-flash's 256 routed experts over EP 12: 8 more make 264, 22 a rank.
    assert opts["--eplb-config"] == '{"num_redundant_experts":8}'


@pytest.mark.parametrize(
    ("args", "says"),
    [
        # DeepEP moves tokens between DP ranks of an expert-parallel layout.
        (["longcat-flash-chat-fp8", "--gpu", "H20-141G", "--a2a", "deepep"], "has one DP rank"),
        (["longcat-flash-chat-fp8", "--gpu", "H20-141G", "--dp", "8", "--ep", "1", "--a2a", "deepep"], "has no EP"),
        (["longcat-flash-chat-fp8", "-e", "sglang", "--gpu", "H20-141G", "--ep", "1", "--a2a", "deepep"], "no EP"),
        # Without EPLB vLLM places no redundant experts; for LongCat-Flash it has no EPLB at all.
        (["longcat-flash-chat-fp8", "--gpu", "H800-80G", "--nodes", "12", "--dp", "96"], "use --eplb"),
        (["longcat-flash-chat-fp8", "--gpu", "H800-80G", "--nodes", "4", "--dp", "32", "--eplb"], "no EPLB for"),
        (["deepseek-v4-flash", "--gpu", "H200", "--ep", "1", "--eplb"], "no EP: drop --eplb"),
        # The 16-node example: SGLang's LongCat-Flash MoE layer takes no redundant experts, so EP 96 (12 nodes)
        # cannot hold 512 experts evenly; and it has no EPLB to add them.
        (
            [
                *ARTICLE[:8],
                "16",
                "--prefill",
                "nodes=4,dp=32,ep=32",
                "--decode",
                "nodes=12,dp=96,ep=96",
                "--a2a",
                "deepep",
            ],
            "EP 96 does not divide longcat-flash-chat-fp8's 512 routed experts",
        ),
        ([*ARTICLE, "--eplb"], "SGLang has no EPLB for LongCat-Flash"),
        # DeepEP for LongCat-Flash only from 0.5.16.
        ([*ARTICLE[:4], "0.5.15", *ARTICLE[5:]], "use --engine-version 0.5.16 or newer, or drop --a2a deepep"),
        (["tiny", "--gpu", "H100", "--a2a", "pplx"], "use --a2a deepep"),
    ],
)
def test_wide_ep_refusals_say_what_to_change(args: list[str], says: str) -> None:
    done = cli("plan", *args)
    assert done.returncode == 2, done.stdout
    assert len(done.stderr.strip().splitlines()) == 1 and says in done.stderr, done.stderr


def test_sglang_dp_is_dp_attention_which_a_dense_model_has_not(tmp_path: Path) -> None:
    path = tmp_path / "dense.yaml"
    recipe = {"min_version": "0.5.2", "parallelism": "tp_all"}
    path.write_text(yaml.safe_dump({"extends": "tiny", "name": "dense", "engines": {"sglang": recipe}}))
    base = ["plan", "dense", "-e", "sglang", "--gpu", "H100", "--gpus-per-node", "4", "--model-file", str(path)]
    assert cli(*base).returncode == 0
    done = cli(*base, "--dp", "4")
    assert done.returncode == 2 and "DP attention serves mixture-of-experts models" in done.stderr
    assert "use --replicas 4" in done.stderr
