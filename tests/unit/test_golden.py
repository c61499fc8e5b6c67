"""Every command of the upstream guides, reproduced flag for flag by `lc-cluster plan`."""

from __future__ import annotations

import pytest

from tests.conftest import plan_json
from tests.unit.argv import golden, options

HEAD = "${HEAD_IP}"

CASES = [
    # (golden file, node index, substitutions, plan arguments)
    ("vllm-single-node-fp8", 0, {}, ["longcat-flash-chat-fp8", "--gpu", "H20-141G"]),
    # The guide's BF16 command runs without expert parallelism; our default switches EP on, so ask for EP off.
    ("vllm-multi-node-bf16-node0", 0, {}, ["longcat-flash-chat", "--gpu", "H800-80G", "--nodes", "2", "--ep", "1"]),
    ("vllm-multi-node-bf16-node1", 1, {}, ["longcat-flash-chat", "--gpu", "H800-80G", "--nodes", "2", "--ep", "1"]),
    ("vllm-mtp-fp8", 0, {}, ["longcat-flash-chat-fp8", "--gpu", "H20-141G", "--mtp", "--engine-version", "guide"]),
    (
        "sglang-single-node-fp8",
        0,
        {},
        ["longcat-flash-chat-fp8", "-e", "sglang", "--gpu", "H20-141G", "--engine-version", "guide"],
    ),
    (
        "sglang-multi-node-bf16",
        0,
        {"NODE_RANK": "0"},
        ["longcat-flash-chat", "-e", "sglang", "--gpu", "H800-80G", "--nodes", "2", "--engine-version", "guide"],
    ),
    (
        "sglang-multi-node-bf16",
        1,
        {"NODE_RANK": "1"},
        ["longcat-flash-chat", "-e", "sglang", "--gpu", "H800-80G", "--nodes", "2", "--engine-version", "guide"],
    ),
    (
        "sglang-mtp-fp8",
        0,
        {},
        ["longcat-flash-chat-fp8", "-e", "sglang", "--gpu", "H20-141G", "--mtp", "--engine-version", "guide"],
    ),
    ("vllm-deepseek-v4-flash-dp4-ep", 0, {}, ["deepseek-v4-flash", "--gpu", "H200-141G", "--gpus-per-node", "4"]),
]


@pytest.mark.parametrize(("name", "node", "subs", "args"), CASES, ids=[f"{c[0]}[{c[1]}]" for c in CASES])
def test_guide_command_reproduced(name: str, node: int, subs: dict[str, str], args: list[str]) -> None:
    doc = plan_json(*args)
    expected = golden(name, MASTER_IP=HEAD, **subs)
    assert options(doc["processes"][node]["argv"]) == options(expected)


def test_guide_layouts_are_the_default_choices() -> None:
    assert plan_json("longcat-flash-chat-fp8", "--gpu", "H20-141G")["layout"] == {
        "tp": 8,
        "pp": 1,
        "dp": 1,
        "dp_local": 1,
        "ep": 8,
        "nodes": 1,
    }
    vllm_bf16 = plan_json("longcat-flash-chat", "--gpu", "H800-80G", "--nodes", "2")["layout"]
    assert (vllm_bf16["tp"], vllm_bf16["dp"], vllm_bf16["dp_local"]) == (8, 2, 1)
    sglang_bf16 = plan_json("longcat-flash-chat", "-e", "sglang", "--gpu", "H800-80G", "--nodes", "2")["layout"]
    assert (sglang_bf16["tp"], sglang_bf16["dp"], sglang_bf16["ep"]) == (16, 1, 16)
    dsv4 = plan_json("deepseek-v4-flash", "--gpu", "H200-141G", "--gpus-per-node", "4")["layout"]
    assert (dsv4["tp"], dsv4["dp"], dsv4["ep"]) == (1, 4, 4)


def test_default_multi_node_vllm_puts_expert_parallel_on_every_node() -> None:
    doc = plan_json("longcat-flash-chat", "--gpu", "H800-80G", "--nodes", "2")
    for node in doc["processes"]:
        assert "--enable-expert-parallel" in node["argv"]


def test_deepseek_recipe_environment() -> None:
    env = plan_json("deepseek-v4-flash", "--gpu", "H200-141G", "--gpus-per-node", "4")["processes"][0]["env"]
    assert env["VLLM_ENGINE_READY_TIMEOUT_S"] == "3600"
    assert env["VLLM_HOST_IP"] == "${NODE_IP}"


def test_current_engine_versions_get_current_flag_names() -> None:
    sglang = plan_json("longcat-flash-chat-fp8", "-e", "sglang", "--gpu", "H20-141G")["processes"][0]["argv"]
    assert "--enable-ep-moe" not in sglang
    assert sglang[sglang.index("--ep-size") + 1] == "8"

    vllm = plan_json("longcat-flash-chat-fp8", "--gpu", "H20-141G", "--mtp")["processes"][0]["argv"]
    _, opts = options(vllm)
    assert ("--speculative-config", '{"method": "mtp", "num_speculative_tokens": 1}') in opts
    assert not any(flag == "--speculative_config" for flag, _ in opts)


def test_deepseek_mtp_takes_two_tokens_on_blackwell() -> None:
    argv = plan_json("deepseek-v4-flash", "--gpu", "B200", "--gpus-per-node", "4", "--mtp")["processes"][0]["argv"]
    assert ("--speculative-config", '{"method": "mtp", "num_speculative_tokens": 2}') in options(argv)[1]


def test_sglang_nodes_know_their_own_ip() -> None:
    doc = plan_json("longcat-flash-chat", "-e", "sglang", "--gpu", "H800-80G", "--nodes", "2", "--ifname", "ib0")
    for node in doc["processes"]:
        assert node["env"]["SGLANG_HOST_IP"] == "${NODE_IP}"
        assert node["env"]["NCCL_SOCKET_IFNAME"] == node["env"]["GLOO_SOCKET_IFNAME"] == "ib0"


def test_start_up_deadline_is_sized_for_the_model() -> None:
    big = plan_json("longcat-flash-chat", "--gpu", "H800-80G", "--nodes", "2")
    small = plan_json("longcat-flash-lite", "--gpu", "H100")
    assert big["ready"]["timeout_s"] >= 3600 > small["ready"]["timeout_s"] > 600
    assert big["processes"][0]["env"]["VLLM_ENGINE_READY_TIMEOUT_S"] == str(big["ready"]["timeout_s"])
