"""One job value from the plan to the script: `plan --cluster` shows exactly what `serve` would run, every input
that changes the nodes' commands is in the plan, and the house's imports run one way."""

from __future__ import annotations

import ast
import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from lc_cluster.catalog.schema import ENGINE_NAMES, Engines
from lc_cluster.cluster import Runtime
from lc_cluster.engines import ENGINES
from tests.conftest import cli

PACKAGE = Path(__file__).resolve().parents[2] / "lc_cluster"
HOSTILE = "--served-model-name=${HEAD_IP} $(reboot)"


@pytest.fixture
def cluster_file(tmp_path: Path) -> str:
    doc = {
        "name": "prod",
        "gpu": "H800-80G",
        "gpus_per_node": 8,
        "network": {"service_interface": "bond0", "socket_ifname": "bond0", "ib_hca": "=mlx5_0", "api_bind": "0.0.0.0"},
        "runtime": {"env": {"NCCL_DEBUG": "WARN"}},
        "paths": {"log_dir": "/shared/logs", "model_cache": "/shared/hf"},
    }
    path = tmp_path / "prod.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def _json(*args: str) -> dict[str, Any]:
    done = cli(*args, "--json")
    assert done.returncode == 0, done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


@pytest.mark.parametrize(
    "layout",
    [
        ["longcat-flash-chat", "--nodes", "2"],
        ["longcat-flash-chat", "--engine", "sglang", "--nodes", "2"],
        ["longcat-flash-chat-fp8", "--gpu", "H20-141G", "--mtp"],
    ],
)
def test_plan_and_dry_run_agree_on_every_node(cluster_file: str, layout: list[str]) -> None:
    extra = ["--cluster", cluster_file, "--engine-arg", HOSTILE, "--engine-arg", "--max-num-seqs=64",
             "--ready-timeout", "4321"]  # fmt: skip
    planned = _json("plan", *layout, *extra)
    dry = _json("serve", *layout, *extra, "--dry-run")
    script = dry.pop("script")
    assert planned == dry
    for node in planned["processes"]:
        assert node["argv"][-2:] == [HOSTILE, "--max-num-seqs=64"]
        # The cluster file's environment is part of what the plan shows.
        assert node["env"]["NCCL_DEBUG"] == "WARN" and node["env"]["HF_HOME"] == "/shared/hf"
        assert node["env"]["NCCL_IB_HCA"] == "=mlx5_0"
    # The user's argument reaches the script literally: nothing in it is expanded.
    assert shlex.quote(HOSTILE) in script
    # One deadline: the engine's own (vLLM) and the batch script's poller.
    assert planned["ready"]["timeout_s"] == 4321
    poll = re.search(r"^lc wait-ready (\d+) ", script, re.M)
    assert poll is not None and int(poll.group(1)) == 4321
    if planned["engine"] == "vllm":
        assert {n["env"]["VLLM_ENGINE_READY_TIMEOUT_S"] for n in planned["processes"]} == {"4321"}


def test_plan_shows_engine_args_without_a_cluster() -> None:
    doc = _json("plan", "longcat-flash-chat", "--gpu", "H800", "--nodes", "2", "--engine-arg", "--max-num-seqs=8")
    assert all(node["argv"][-1] == "--max-num-seqs=8" for node in doc["processes"])
    assert doc["engine_args"] == ["--max-num-seqs=8"]
    refused = cli("plan", "longcat-flash-chat", "--gpu", "H800", "--nodes", "2", "--engine-arg", "--headless")
    assert refused.returncode == 2 and "would change what lc-cluster plans" in refused.stderr


def test_one_list_of_engines() -> None:
    assert tuple(ENGINES) == ENGINE_NAMES
    assert tuple(Engines.model_fields) == ENGINE_NAMES
    venv_keys = Runtime.model_fields["engine_venvs"].annotation
    assert venv_keys is not None and set(ENGINE_NAMES) <= set(re.findall(r"'(\w+)'", str(venv_keys)))


# Who may import whom (../shared/design.md): a module may import its own layer and those listed for it.
LAYERS: dict[str, set[str]] = {
    "errors": set(),
    "validate": {"errors"},
    "userfiles": {"errors"},
    "paths": set(),
    "safe_files": set(),
    "strict": set(),
    "schemas": set(),
    "rendering": set(),
    "host": {"errors"},
    "catalog": {"errors", "paths", "strict", "validate", "userfiles"},
    "planning": {"catalog", "errors", "validate"},
    "engines": {"planning", "catalog", "errors", "validate"},
    "routers": {"errors"},
    "cluster": {"planning", "catalog", "errors", "paths", "strict", "validate", "userfiles", "safe_files"},
    "placement": {"planning", "errors"},
    "deployment": {
        "engines",
        "routers",
        "placement",
        "planning",
        "catalog",
        "cluster",
        "errors",
        "validate",
        "schemas",
    },
    "http_client": {"errors"},
    "jobs": {
        "deployment",
        "engines",
        "routers",
        "placement",
        "planning",
        "catalog",
        "cluster",
        "rendering",
        "errors",
        "paths",
        "validate",
        "http_client",
        "schemas",
        "safe_files",
    },
    "canary": {
        "deployment",
        "engines",
        "routers",
        "placement",
        "planning",
        "catalog",
        "cluster",
        "errors",
        "http_client",
        "validate",
        "jobs",
        "host",
        "safe_files",
        # canary --bench runs the engine's own client (bench.client) on the canary it started; bench needs no canary.
        "bench",
    },
    "provision": {"host", "errors", "paths", "userfiles", "validate", "safe_files"},
    "bench": {"engines", "planning", "catalog", "cluster", "jobs", "errors", "paths", "schemas"},
    "doctor": {
        "jobs",
        "engines",
        "planning",
        "provision",
        "catalog",
        "cluster",
        "rendering",
        "errors",
        "validate",
        "schemas",
    },
    "sandbox": {"jobs", "provision", "host", "rendering", "cluster", "catalog", "canary", "engines", "errors", "paths"},
    "ansible": set(),
}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_imports_run_one_way() -> None:
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "ansible" in path.parts:
            continue
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        mine = _layer(module)
        if mine in ("cli", "__main__", "__init__", ""):
            continue  # the CLI may import everything
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("lc_cluster"):
                # `from lc_cluster import __version__` is the package itself, not a layer.
                names = (
                    [node.module]
                    if node.module != "lc_cluster"
                    else [f"lc_cluster.{a.name}" for a in node.names if not a.name.startswith("__")]
                )
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names if a.name.startswith("lc_cluster")]
            else:
                continue
            for name in names:
                theirs = _layer(name)
                if theirs and theirs != mine and theirs not in LAYERS[mine]:
                    upward.append(f"{module} imports {name}")
    assert upward == []


def test_the_nodes_facts_decide_only_what_nothing_pins(cluster_file: str, tmp_path: Path) -> None:
    """Unpinned NIC settings are left to each node's facts file; the CLI, the cluster file's network and its
    runtime.env each pin them."""
    plain = _json("plan", "longcat-flash-chat", "--gpu", "H800", "--nodes", "2")
    assert {tuple(p["derived"]) for p in plain["processes"]} == {
        ("NCCL_SOCKET_IFNAME", "GLOO_SOCKET_IFNAME", "NCCL_IB_HCA")
    }
    pinned = _json("plan", "longcat-flash-chat", "--nodes", "2", "--cluster", cluster_file)
    assert {tuple(p["derived"]) for p in pinned["processes"]} == {()}
    sglang_pd = _json("plan", "longcat-flash-chat", "-e", "sglang", "--gpu", "H800", "--nodes", "4",
                      "--prefill", "nodes=2", "--decode", "nodes=2")  # fmt: skip
    engines = [p for p in sglang_pd["processes"] if p["role"] != "router"]
    assert all(p["derived"][-1] == "--disaggregation-ib-device" for p in engines)
    assert next(p for p in sglang_pd["processes"] if p["role"] == "router")["derived"] == []
    doc = yaml.safe_load(Path(cluster_file).read_text())
    doc["network"] = {}
    doc["runtime"]["env"]["UCX_NET_DEVICES"] = "mlx5_3:1"
    path = tmp_path / "ucx.yaml"
    path.write_text(yaml.safe_dump(doc))
    vllm_pd = _json("plan", "deepseek-v4-flash", "--gpu", "H200", "--prefill", "gpus=4,dp=4", "--decode",
                    "gpus=4,dp=4", "--cluster", str(path))  # fmt: skip
    engines = [p for p in vllm_pd["processes"] if p["role"] != "router"]
    assert {tuple(p["derived"]) for p in engines} == {("NCCL_SOCKET_IFNAME", "GLOO_SOCKET_IFNAME", "NCCL_IB_HCA")}
    assert _json("plan", "deepseek-v4-flash", "--gpu", "H200", "--prefill", "gpus=4,dp=4", "--decode",
                 "gpus=4,dp=4")["processes"][0]["derived"][-1] == "UCX_NET_DEVICES"  # fmt: skip
    script = cli("serve", "longcat-flash-chat", "--nodes", "2", "--cluster", str(path), "--dry-run").stdout
    assert "NCCL_SOCKET_IFNAME,GLOO_SOCKET_IFNAME,NCCL_IB_HCA" in script
