"""Node facts read from a tree shaped like a node's /sys and /proc, and what a job derives from them on its node."""

from __future__ import annotations

import importlib.util
import json
import socket
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from lc_cluster.jobs import node_tools
from lc_cluster.provision.runner import NODE_FACTS_SCRIPT
from lc_cluster.sandbox import node_tree


def _collector() -> ModuleType:
    spec = importlib.util.spec_from_file_location("node_facts", NODE_FACTS_SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    node_tree.write(tmp_path, node_tree.NodeShape(gpus=4, gpu_model="NVIDIA H100 80GB HBM3", driver="570.86.15"))
    return tmp_path


def test_gpus_hcas_affinity_and_versions_come_from_the_tree(tree: Path) -> None:
    facts = _collector().collect(str(tree))
    assert [(g["index"], g["model"], g["numa_node"]) for g in facts["gpus"]] == [
        (0, "NVIDIA H100 80GB HBM3", 0), (1, "NVIDIA H100 80GB HBM3", 0),
        (2, "NVIDIA H100 80GB HBM3", 1), (3, "NVIDIA H100 80GB HBM3", 1),
    ]  # fmt: skip
    assert [(h["name"], h["port"], h["state"], h["rate_gbps"], h["numa_node"]) for h in facts["hcas"]] == [
        ("mlx5_0", 1, "ACTIVE", 400.0, 0), ("mlx5_1", 1, "ACTIVE", 400.0, 1),
    ]  # fmt: skip
    assert facts["gpu_hcas"] == {"0": ["mlx5_0"], "1": ["mlx5_0"], "2": ["mlx5_1"], "3": ["mlx5_1"]}
    assert facts["versions"]["driver"] == facts["versions"]["fabric_manager"] == "570.86.15"
    assert facts["modules"] == {"nvidia": True, "nvidia_peermem": True}
    assert facts["nvswitches"] == 4


def test_a_broken_node_reads_as_broken(tree: Path) -> None:
    node_tree.set_port_state(tree, "mlx5_1", "1: DOWN")
    node_tree.set_module(tree, "nvidia_peermem", loaded=False)
    facts = _collector().collect(str(tree))
    assert [h["state"] for h in facts["hcas"]] == ["ACTIVE", "DOWN"]
    assert facts["modules"]["nvidia_peermem"] is False


def test_an_empty_root_is_a_node_without_gpus_or_hcas(tmp_path: Path) -> None:
    facts = _collector().collect(str(tmp_path))
    assert facts["gpus"] == facts["hcas"] == [] and facts["nvswitches"] == 0
    assert facts["versions"]["driver"] is None and facts["versions"]["fabric_manager"] is None


def test_weights_missing_from_the_index_are_named(tmp_path: Path) -> None:
    snapshot = tmp_path / "snapshots" / "abc"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    index = {"weight_map": {"a": "model-1.safetensors", "b": "model-2.safetensors"}}
    (snapshot / "model.safetensors.index.json").write_text(json.dumps(index))
    (snapshot / "model-1.safetensors").write_bytes(b"x" * 10)
    collector = _collector()
    weights = collector.weights(collector.newest(str(tmp_path / "snapshots")))
    assert weights["present"] is False and weights["missing"] == ["model-2.safetensors"]
    (snapshot / "model-2.safetensors").write_bytes(b"y")
    (snapshot / ".lc-verified.json").write_text(json.dumps({"model-1.safetensors": {"size": 10}}))
    assert collector.weights(str(snapshot))["verified"] is True
    (snapshot / "model-1.safetensors").write_bytes(b"x")
    assert collector.weights(str(snapshot))["changed"] == ["model-1.safetensors"]
    assert collector.weights(collector.newest(str(tmp_path / "absent")))["present"] is False


def _facts_file(tmp_path: Path, **changes: Any) -> str:
    facts: dict[str, Any] = {
        "interfaces": [{"name": "lo", "ipv4": ["127.0.0.1/8"]}, {"name": "ens1", "ipv4": ["10.0.0.5/16"]}],
        "hcas": [
            {"name": "mlx5_0", "port": 1, "state": "ACTIVE"},
            {"name": "mlx5_1", "port": 1, "state": "DOWN"},
            {"name": "mlx5_10", "port": 1, "state": "ACTIVE"},
        ],
        **changes,
    }
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(facts))
    return str(path)


def _derive(capsys: pytest.CaptureFixture[str], path: str, *settings: str) -> list[str]:
    node_tools.derive(path, "10.0.0.5", *settings)
    return capsys.readouterr().out.splitlines()


def test_the_node_derives_its_interface_and_active_hcas(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _facts_file(tmp_path)
    settings = (
        "NCCL_SOCKET_IFNAME",
        "GLOO_SOCKET_IFNAME",
        "NCCL_IB_HCA",
        "UCX_NET_DEVICES",
        "--disaggregation-ib-device",
    )
    assert _derive(capsys, path, *settings) == [
        "NCCL_SOCKET_IFNAME=ens1",
        "GLOO_SOCKET_IFNAME=ens1",
        "NCCL_IB_HCA==mlx5_0,mlx5_10",
        "UCX_NET_DEVICES=mlx5_0:1,mlx5_10:1",
        "--disaggregation-ib-device=mlx5_0,mlx5_10",
    ]
    # Only what the plan left open.
    assert _derive(capsys, path, "GLOO_SOCKET_IFNAME") == ["GLOO_SOCKET_IFNAME=ens1"]


def test_nothing_is_derived_without_facts_or_from_values_that_are_not_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _derive(capsys, str(tmp_path / "absent.json"), "NCCL_IB_HCA") == []
    bad = _facts_file(tmp_path, hcas=[{"name": "mlx5_0;reboot", "port": 1, "state": "ACTIVE"}])
    assert _derive(capsys, bad, "NCCL_IB_HCA", "GLOO_SOCKET_IFNAME") == ["GLOO_SOCKET_IFNAME=ens1"]


def test_the_record_separates_what_the_node_derived(tmp_path: Path) -> None:
    path = tmp_path / "node-0.cmd.json"
    node_tools.record(
        str(path), "0", "10.0.0.5", "serve", "0", "1", "2",
        "VLLM_HOST_IP=10.0.0.5", "GLOO_SOCKET_IFNAME=ens1", "--disaggregation-ib-device=mlx5_0",
        "sglang", "serve", "--disaggregation-ib-device=mlx5_0",
    )  # fmt: skip
    doc = json.loads(path.read_text())
    assert doc["derived"] == {"GLOO_SOCKET_IFNAME": "ens1", "--disaggregation-ib-device": "mlx5_0"}
    assert doc["env"] == {"GLOO_SOCKET_IFNAME": "ens1", "VLLM_HOST_IP": "10.0.0.5"}
    assert doc["argv"][-1] == "--disaggregation-ib-device=mlx5_0"
    assert doc["hostname"] == socket.gethostname()


def test_the_role_writes_where_jobs_read() -> None:
    from lc_cluster.cluster import NODE_FACTS_PATH
    from lc_cluster.provision.standins import role_default

    assert role_default("node_facts", "node_facts_path") == NODE_FACTS_PATH


def test_written_facts_change_only_when_they_differ_and_a_check_writes_nothing(tmp_path: Path) -> None:
    """The role keeps the facts through --write: a repeat changes nothing, a check only says, and a loosened mode is a
    change that is put back."""
    write = _collector().write
    path = tmp_path / "etc" / "lc-cluster" / "node-facts.json"
    assert write(str(path), "{}\n", check=True) and not path.exists()
    assert write(str(path), "{}\n", check=False) and path.read_text() == "{}\n"
    assert (path.stat().st_mode & 0o777, path.parent.stat().st_mode & 0o777) == (0o644, 0o755)
    assert not write(str(path), "{}\n", check=False)
    path.chmod(0o600)
    assert write(str(path), "{}\n", check=True) and path.stat().st_mode & 0o777 == 0o600
    assert write(str(path), "{}\n", check=False) and path.stat().st_mode & 0o777 == 0o644
    assert write(str(path), '{"gpus": []}\n', check=False) and not write(str(path), '{"gpus": []}\n', check=False)
    assert [p.name for p in path.parent.iterdir()] == ["node-facts.json"]
