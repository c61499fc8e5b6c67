"""Prefill/decode deployments: the recipe's commands flag for flag, each role's GPUs, ports and heads, refusals."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from tests.conftest import cli, plan_json
from tests.unit.argv import golden, options

RECIPE = ["deepseek-v4-flash", "--gpu", "H200", "--nodes", "1", "--gpus-per-node", "8", "--prefill", "gpus=4,dp=4",
          "--decode", "gpus=4,dp=4", "--kv-connector", "mooncake"]  # fmt: skip
HEAD = "${HEAD_IP}"


def _by_name(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in doc["processes"]}


def test_the_recipes_single_node_pd_is_reproduced_flag_for_flag() -> None:
    doc = plan_json(*RECIPE)
    procs = _by_name(doc)
    assert set(procs) == {"prefill0.node-0", "decode0.node-0", "router.node-0"}
    prefill, decode, router = procs["prefill0.node-0"], procs["decode0.node-0"], procs["router.node-0"]
    assert options(prefill["argv"]) == options(golden("vllm-deepseek-v4-flash-pd-prefill"))
    assert options(decode["argv"]) == options(golden("vllm-deepseek-v4-flash-pd-decode"))
    # The recipe's engines own GPUs 0-3 and 4-7, with its runtime environment and their own bootstrap ports.
    assert prefill["env"]["CUDA_VISIBLE_DEVICES"] == "0,1,2,3" and decode["env"]["CUDA_VISIBLE_DEVICES"] == "4,5,6,7"
    for env in (prefill["env"], decode["env"]):
        assert {k: env[k] for k in ("TILELANG_CLEANUP_TEMP_FILES", "VLLM_DISABLE_COMPILE_CACHE", "VLLM_RPC_TIMEOUT",
                                    "VLLM_LOG_STATS_INTERVAL", "VLLM_ENGINE_READY_TIMEOUT_S")} == {
            "TILELANG_CLEANUP_TEMP_FILES": "1", "VLLM_DISABLE_COMPILE_CACHE": "1", "VLLM_RPC_TIMEOUT": "600000",
            "VLLM_LOG_STATS_INTERVAL": "1", "VLLM_ENGINE_READY_TIMEOUT_S": "3600"}  # fmt: skip
    assert prefill["env"]["VLLM_MOONCAKE_BOOTSTRAP_PORT"] == "8998"
    assert decode["env"]["VLLM_MOONCAKE_BOOTSTRAP_PORT"] != "8998"
    # The router: the recipe's, on the job's addresses; its metrics port is planned so that two never collide.
    expected = golden("vllm-deepseek-v4-flash-pd-router", PREFILL=HEAD, DECODE=HEAD, HOST="0.0.0.0")
    head, opts = options(router["argv"])
    assert opts.pop(("--prometheus-port", "29000")) == 1
    assert (head, opts) == options(expected)
    assert doc["http_port"] == 30000 and doc["router"] == "vllm-router"


def test_nixl_is_vllms_default_connector_with_a_side_channel_per_instance() -> None:
    args = [a for a in RECIPE if a not in ("--kv-connector", "mooncake")]
    procs = _by_name(plan_json(*args))
    ports = set()
    for name in ("prefill0.node-0", "decode0.node-0"):
        env, argv = procs[name]["env"], procs[name]["argv"]
        config = argv[argv.index("--kv-transfer-config") + 1]
        assert '"kv_connector":"NixlConnector"' in config and "mooncake" not in config
        assert env["VLLM_NIXL_SIDE_CHANNEL_HOST"] == "${NODE_IP}"
        ports.add(env["VLLM_NIXL_SIDE_CHANNEL_PORT"])
    assert len(ports) == 2
    router = procs["router.node-0"]["argv"]
    assert router[router.index("--kv-connector") + 1] == "nixl"


@pytest.mark.parametrize("key", ["--api-key", "--no-api-key"])
def test_vllm_router_reaches_instances_that_check_the_key_through_its_environment(key: str) -> None:
    """In front of prefill/decode, vllm-router sends 'Bearer $OPENAI_API_KEY' to both, not the client's header: a
    PD pair on two H200s answered 401 without it. The key stays a run-time placeholder, out of every argv."""
    doc = plan_json(*RECIPE, key)
    router = _by_name(doc)["router.node-0"]
    expected = {"OPENAI_API_KEY": "${LC_API_KEY}"} if key == "--api-key" else {}
    assert {k: v for k, v in router["env"].items() if k == "OPENAI_API_KEY"} == expected
    assert not any("LC_API_KEY" in a for p in doc["processes"] for a in p["argv"])


def test_sglang_pd_on_two_plus_two_nodes_has_a_head_per_instance() -> None:
    """The article's shape: a prefill instance on nodes 0-1 and a decode instance on nodes 2-3, each a TP group over
    its own two nodes joined at its own head; the fabric's HCAs become SGLang's transfer devices."""
    doc = plan_json("longcat-flash-chat", "-e", "sglang", "--gpu", "H800-80G", "--nodes", "4", "--prefill", "nodes=2",
                    "--decode", "nodes=2", "--ib-hca", "=mlx5_0:1,mlx5_1:1")  # fmt: skip
    procs = _by_name(doc)
    assert sorted(procs) == ["decode0.node-2", "decode0.node-3", "prefill0.node-0", "prefill0.node-1",
                             "router.node-0"]  # fmt: skip
    for name, role, rank, head in (("prefill0.node-0", "prefill", "0", HEAD), ("prefill0.node-1", "prefill", "1", HEAD),
                                   ("decode0.node-2", "decode", "0", "${IP_OF_NODE_2}"),
                                   ("decode0.node-3", "decode", "1", "${IP_OF_NODE_2}")):  # fmt: skip
        _, opts = options(procs[name]["argv"])
        assert opts[("--disaggregation-mode", role)] == 1
        assert opts[("--disaggregation-transfer-backend", "mooncake")] == 1
        assert opts[("--disaggregation-ib-device", "mlx5_0,mlx5_1")] == 1
        assert opts[("--node-rank", rank)] == 1 and opts[("--nnodes", "2")] == 1 and opts[("--tp", "16")] == 1
        assert opts[("--dist-init-addr", f"{head}:5000")] == 1
        assert procs[name]["env"]["NCCL_IB_HCA"] == "=mlx5_0:1,mlx5_1:1"
    assert ("--disaggregation-bootstrap-port", "8998") in options(procs["prefill0.node-0"]["argv"])[1]
    router = procs["router.node-0"]["argv"]
    assert router[:4] == ["python3", "-m", "sglang_router.launch_router", "--pd-disaggregation"]
    assert router[router.index("--prefill") + 1 : router.index("--prefill") + 3] == [f"http://{HEAD}:30000", "8998"]
    assert router[router.index("--decode") + 1] == "http://${IP_OF_NODE_2}:30000"
    assert doc["http_port"] == 8000
    # SGLang listens on loopback unless told: every instance must be reachable by the router and the other nodes.
    assert all(("--host", "0.0.0.0") in options(p["argv"])[1] for p in doc["processes"] if p["role"] != "router")


def test_instances_sharing_a_node_never_share_a_port() -> None:
    doc = plan_json("tiny", "--gpu", "H100-80G", "--nodes", "1", "--gpus-per-node", "8", "--prefill",
                    "instances=2,gpus=2", "--decode", "instances=2,gpus=2")  # fmt: skip
    held: Counter[str] = Counter()
    gpus: list[int] = []
    for p in doc["processes"]:
        if p["role"] == "router":
            continue
        gpus += p["gpus"]
        argv, env = p["argv"], p["env"]
        held[argv[argv.index("--port") + 1] if "--port" in argv else "8000"] += 1
        held[env["VLLM_NIXL_SIDE_CHANNEL_PORT"]] += 1
    assert sorted(gpus) == list(range(8))
    assert max(held.values()) == 1, held


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--prefill", "gpus=4"], "needs both: use --prefill and --decode"),
        (["--prefill", "gpus=4", "--decode", "gpus=8"], "does not fit"),
        (["--prefill", "gpus=2", "--decode", "gpus=2", "--nodes", "2"], "leaving nodes [1] idle: use --nodes 1"),
        (["--prefill", "gpus=4,gpus=4", "--decode", "gpus=4"], "each key once"),
        (["--prefill", "gpus=4,cpus=2", "--decode", "gpus=4"], "'cpus=2' is not allowed"),
        (["--prefill", "gpus=4\n", "--decode", "gpus=4"], "give KEY=N pairs"),
        (
            [
                "--model-file-free",
                "longcat-flash-lite",
                "--prefill",
                "gpus=4",
                "--decode",
                "gpus=4",
                "--kv-connector",
                "mooncake",
                "--engine-version",
                "0.12.0",
            ],
            "has no mooncake KV connector (it arrived in 0.13.0)",
        ),
        (
            ["--prefill", "gpus=4", "--decode", "gpus=4", "--kv-connector", "lmcache"],
            "use --kv-connector nixl or mooncake",
        ),
        (["--prefill", "gpus=4", "--decode", "gpus=4", "--replicas", "2"], "--replicas is for instances of one role"),
        (["--replicas", "2", "--router", "sglang-router"], "sglang-router routes only to SGLang engines"),
    ],
)
def test_pd_layouts_that_cannot_work_are_refused(args: list[str], message: str) -> None:
    model = ["tiny"]
    if args[0] == "--model-file-free":  # a model whose floor is below the connector's
        model, args = [args[1]], args[2:]
    done = cli("plan", *model, "--gpu", "H100-80G", "--gpus-per-node", "8", *args)
    assert done.returncode == 2, done.stdout
    assert message in done.stderr and "Traceback" not in done.stderr


def test_asymmetric_pd_behind_vllm_router_is_refused_with_the_reason() -> None:
    """vllm-router has one --intra-node-data-parallel-size: prefill DP 8 and decode DP 4 cannot both be right."""
    done = cli("plan", "deepseek-v4-flash", "--gpu", "H200", "--nodes", "2", "--prefill", "nodes=1,gpus=8,dp=8",
               "--decode", "nodes=1,gpus=4,dp=4", "--json")  # fmt: skip
    assert done.returncode == 2
    error = json.loads(done.stdout)
    assert error["limit"] == "router" and "DP 4 and 8" in error["error"] and "same dp=" in error["error"]


def test_each_pd_instance_shows_its_own_layout_memory_and_kv_wiring() -> None:
    """SGLang's router takes no DP size, so asymmetric PD plans; each instance keeps its own values."""
    doc = plan_json("longcat-flash-chat-fp8", "-e", "sglang", "--gpu", "H20-141G", "--nodes", "3",
                    "--prefill", "nodes=2", "--decode", "nodes=1,tp=8", "--engine-version", "0.5.23")  # fmt: skip
    prefill, decode = doc["instances"]
    assert (prefill["role"], prefill["layout"]["tp"], prefill["layout"]["nodes"]) == ("prefill", 16, 2)
    assert (decode["role"], decode["layout"]["tp"], decode["layout"]["nodes"]) == ("decode", 8, 1)
    assert prefill["memory"]["weights_gib"] < decode["memory"]["weights_gib"]
    assert prefill["kv"] == {"connector": "mooncake", "port": 8998} and decode["kv"]["connector"] == "mooncake"
    router = doc["processes"][-1]["argv"]
    assert router[router.index("--prefill") + 2] == "8998"


def test_kv_connector_without_prefill_and_decode_is_refused() -> None:
    done = cli("plan", "tiny", "--gpu", "CPU-SANDBOX", "--kv-connector", "nixl")
    assert done.returncode == 2 and "add --prefill and --decode" in done.stderr
