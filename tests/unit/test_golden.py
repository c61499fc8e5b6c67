"""Every command of the upstream guides, reproduced flag for flag by `lc-cluster plan`."""

from __future__ import annotations

import pytest

from tests.conftest import cli, plan_json
from tests.unit.argv import golden, options

HEAD = "${HEAD_IP}"

CASES = [
    # (golden file, node index, substitutions, plan arguments)
    ("vllm-single-node-fp8", 0, {}, ["longcat-flash-chat-fp8", "--gpu", "H20-141G"]),
    # The guide's BF16 command runs without expert parallelism; our default switches EP on, so ask for EP off.
    ("vllm-multi-node-bf16-node0", 0, {}, ["longcat-flash-chat", "--gpu", "H800-80G", "--nodes", "2", "--ep", "1"]),
    ("vllm-multi-node-bf16-node1", 1, {}, ["longcat-flash-chat", "--gpu", "H800-80G", "--nodes", "2", "--ep", "1"]),
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
    assert plan_json("longcat-flash-chat-fp8", "--gpu", "H20-141G")["instances"][0]["layout"] == {
        "tp": 8,
        "pp": 1,
        "dp": 1,
        "dp_local": 1,
        "ep": 8,
        "nodes": 1,
        "gpus_per_node": 8,
        "redundant_experts": 0,
    }
    vllm_bf16 = plan_json("longcat-flash-chat", "--gpu", "H800-80G", "--nodes", "2")["instances"][0]["layout"]
    assert (vllm_bf16["tp"], vllm_bf16["dp"], vllm_bf16["dp_local"]) == (8, 2, 1)
    sglang_bf16 = plan_json("longcat-flash-chat", "-e", "sglang", "--gpu", "H800-80G", "--nodes", "2")["instances"][0][
        "layout"
    ]
    assert (sglang_bf16["tp"], sglang_bf16["dp"], sglang_bf16["ep"]) == (16, 1, 16)
    dsv4 = plan_json("deepseek-v4-flash", "--gpu", "H200-141G", "--gpus-per-node", "4")["instances"][0]["layout"]
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


def test_the_guides_mtp_command_is_reproduced_but_for_its_draft_model() -> None:
    """The guide's speculative config names the method by an alias and a "model" key, which made vLLM 0.11.x draft
    from the BF16 checkpoint instead of the FP8 model's own MTP head: that one value is corrected, nothing else."""
    argv = plan_json("longcat-flash-chat-fp8", "--gpu", "H20-141G", "--mtp", "--engine-version", "guide")["processes"][
        0
    ]
    head, planned = options(argv["argv"])
    guide_head, guide = options(golden("vllm-mtp-fp8"))
    assert head == guide_head
    assert [k for k in guide if k[0] == "--speculative_config"] and not [
        k for k in planned if k[0] == "--speculative_config"
    ]
    assert planned - guide == {("--speculative-config", '{"method": "mtp", "num_speculative_tokens": 1}'): 1}
    assert {k: v for k, v in guide.items() if k[0] != "--speculative_config"} == {
        k: v for k, v in planned.items() if k[0] != "--speculative-config"
    }


def test_release_floors_from_the_engines_released_code() -> None:
    """Each floor as the released wheels show it; below it the plan is refused with the release that works."""
    for args, message in (
        (["longcat-flash-chat-fp8", "--gpu", "H20-141G", "--engine-version", "0.10.2"], "needs vllm >= 0.11.0"),
        (["longcat-flash-chat-fp8", "-e", "sglang", "--gpu", "H20-141G", "--engine-version", "0.5.1.post3"],
         "needs sglang >= 0.5.2"),
        (["longcat-flash-chat", "--gpu", "H800-80G", "--nodes", "2", "--tp", "16", "--engine-version", "0.11.0"],
         "no --nnodes/--node-rank to start one: use --engine-version 0.11.1 or newer"),
    ):  # fmt: skip
        done = cli("plan", *args)
        assert done.returncode == 2 and message in done.stderr, (args, done.stderr)
    spanning = plan_json("longcat-flash-chat", "--gpu", "H800-80G", "--nodes", "2", "--tp", "16", "--engine-version",
                         "0.11.1")  # fmt: skip
    assert "--nnodes" in spanning["processes"][0]["argv"]
    # The engine's own start-up deadline exists from 0.14.0; before, only the job's poller keeps it.
    old = plan_json("longcat-flash-chat-fp8", "--gpu", "H20-141G", "--engine-version", "0.13.0")
    new = plan_json("longcat-flash-chat-fp8", "--gpu", "H20-141G", "--engine-version", "0.14.0")
    assert "VLLM_ENGINE_READY_TIMEOUT_S" not in old["processes"][0]["env"]
    assert new["processes"][0]["env"]["VLLM_ENGINE_READY_TIMEOUT_S"] == str(new["ready"]["timeout_s"])
    # The guide's SGLang release takes the guide's --enable-ep-moe; later ones the current --ep-size.
    guide = plan_json("longcat-flash-chat-fp8", "-e", "sglang", "--gpu", "H20-141G", "--engine-version", "guide")
    assert guide["engine_version"] == "0.5.2" and "--enable-ep-moe" in guide["processes"][0]["argv"]


def test_hca_lists_match_exactly() -> None:
    for given, planned in (("mlx5_1", "=mlx5_1"), ("=mlx5_1", "=mlx5_1"), ("^mlx5_9", "^mlx5_9")):
        env = plan_json("longcat-flash-chat-fp8", "--gpu", "H20-141G", "--ib-hca", given)["processes"][0]["env"]
        assert env["NCCL_IB_HCA"] == planned


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
