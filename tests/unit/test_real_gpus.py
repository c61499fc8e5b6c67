"""The sandbox on a machine with NVIDIA GPUs (`sandbox up --real-gpus`): which GPUs each node gets as its GRES, the
catalog type its cluster file names, and the cluster file the jobs then read. The lent GPU machines run it for real
(docs/hardware/); here the driver's /proc files are the node tree's stand-ins."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lc_cluster.cluster import load_cluster
from lc_cluster.errors import LcError
from lc_cluster.sandbox import daemons, sandbox
from lc_cluster.sandbox.node_tree import NodeShape, write
from lc_cluster.sandbox.real_gpus import MachineGpu, RealGpus, catalog_gpu, machine_gpus, node_devices
from lc_cluster.sandbox.topology import Topology


def _machine(tmp_path: Path, model: str, gpus: int) -> list[MachineGpu]:
    write(tmp_path, NodeShape(gpus=gpus, gpu_model=model))
    return machine_gpus(tmp_path)


def test_each_node_gets_the_next_gpus_of_the_machine_by_device_minor(tmp_path: Path) -> None:
    gpus = _machine(tmp_path, "NVIDIA H200", 4)
    assert [g.device for g in gpus] == ["/dev/nvidia0", "/dev/nvidia1", "/dev/nvidia2", "/dev/nvidia3"]
    assert catalog_gpu(gpus).name == "H200-141G"
    assert node_devices(gpus, 2, 1) == [["/dev/nvidia0"], ["/dev/nvidia1"]]
    assert node_devices(gpus, 2, 2) == [["/dev/nvidia0", "/dev/nvidia1"], ["/dev/nvidia2", "/dev/nvidia3"]]
    with pytest.raises(LcError, match="needs 6 GPUs; this machine has 4"):
        node_devices(gpus, 3, 2)


def test_a_machine_whose_gpus_are_not_one_catalog_type_is_refused(tmp_path: Path) -> None:
    assert catalog_gpu(_machine(tmp_path / "h100", "NVIDIA H100 80GB HBM3", 1)).name == "H100-80G"
    with pytest.raises(LcError, match="no GPU"):
        catalog_gpu(machine_gpus(tmp_path / "empty"))
    # Two catalog entries are H20s (96 and 141 GB): the sandbox does not guess.
    with pytest.raises(LcError, match=r"not one catalog GPU type \(matches: H20-141G, H20-96G\)"):
        catalog_gpu(_machine(tmp_path / "h20", "NVIDIA H20", 1))
    with pytest.raises(LcError, match="matches: none"):
        catalog_gpu(_machine(tmp_path / "l4", "NVIDIA L4", 1))


def test_engine_venvs_are_checked_before_anything_changes(tmp_path: Path) -> None:
    (tmp_path / "venv" / "bin").mkdir(parents=True)
    with pytest.raises(LcError, match="no bin/python there"):
        RealGpus({"vllm": str(tmp_path / "venv")}).check()
    (tmp_path / "venv" / "bin" / "python").touch()
    RealGpus({"vllm": str(tmp_path / "venv")}).check()
    with pytest.raises(LcError, match="one of vllm, sglang"):
        RealGpus({"trtllm": str(tmp_path / "venv")}).check()
    with pytest.raises(LcError, match="give ENGINE=VENV"):
        RealGpus({"vllm": ""}).check()
    with pytest.raises(LcError, match="needs the engine's venv"):
        RealGpus({}).check()
    with pytest.raises(LcError, match="--router-venv"):
        RealGpus({"vllm": str(tmp_path / "venv")}, router_venv=str(tmp_path / "none")).check()


def test_gres_names_each_nodes_own_devices_or_the_stand_ins(tmp_path: Path) -> None:
    topo = Topology.named("lcunit")
    daemons.write_config(topo, tmp_path, 2, 1, [["/dev/nvidia0"], ["/dev/nvidia1"]])
    gres = (tmp_path / "gres.conf").read_text()
    assert "NodeName=n1 Name=gpu File=/dev/nvidia[0]\n" in gres
    assert "NodeName=n2 Name=gpu File=/dev/nvidia[1]\n" in gres
    assert "Gres=gpu:1 " in (tmp_path / "slurm.conf").read_text()
    daemons.write_config(topo, tmp_path / "cpu", 2, 2, None)
    gres = (tmp_path / "cpu" / "gres.conf").read_text()
    assert gres.count(f"Name=gpu File={tmp_path}/cpu/dev/nvidia[0,1]\n") == 2
    assert (tmp_path / "cpu" / "dev" / "nvidia1").is_char_device()


def test_the_cluster_file_runs_the_venvs_given_on_the_machines_gpus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LC_CLUSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LC_CLUSTER_STATE", str(tmp_path / "state"))
    topo = Topology.named("lcunit")
    real = RealGpus({"vllm": "/opt/gpu-venv"}, router_venv="/opt/routers")
    sandbox._write_cluster_file(topo, 2, 1, tmp_path / "cache", "H100-80G", real)
    cluster = load_cluster(str(sandbox.cluster_file(topo)))
    assert cluster.gpu == "H100-80G" and cluster.gpus_per_node == 1
    assert cluster.runtime.engine_venvs == {"vllm": "/opt/gpu-venv"}
    assert cluster.runtime.router_venv == "/opt/routers"
    # Nothing of the CPU build, and NVLink multicast off in every process (one host's GPUs, shared).
    assert cluster.runtime.env == {
        "NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1", "NVSHMEM_DISABLE_NVLS": "1"
    }  # fmt: skip
    # The nodes' own /sys and /proc are the machine's: no stand-in tree, only the facts file in the state folder.
    assert cluster.node_root == "/"
    assert cluster.paths.node_facts.startswith(str(tmp_path / "state"))
    doc = yaml.safe_load(sandbox.cluster_file(topo).read_text())
    sandbox._write_cluster_file(topo, 2, 1, tmp_path / "cache", None, None)
    cpu = load_cluster(str(sandbox.cluster_file(topo)))
    assert cpu.gpu == "CPU-SANDBOX" and cpu.runtime.env["VLLM_TARGET_DEVICE"] == "cpu" and cpu.node_root != "/"
    assert doc["name"] == "lcunit"


@pytest.mark.skipif(Path("/proc/driver/nvidia/gpus").exists(), reason="this machine has NVIDIA GPUs")
def test_real_gpus_on_a_machine_without_any_is_refused_before_anything_is_made(tmp_path: Path) -> None:
    env = {**os.environ, "LC_CLUSTER_STATE": str(tmp_path / "state"), "LC_CLUSTER_HOME": str(tmp_path / "home")}
    venv = str(Path(sys.executable).parent.parent)
    done = subprocess.run(
        [sys.executable, "-m", "lc_cluster", "sandbox", "up", "--name", "lcnogpu", "--real-gpus",
         "--engine-venv", f"vllm={venv}"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: --real-gpus: the NVIDIA driver lists no GPU here (/proc/driver/nvidia/gpus is empty)"
    ]
    assert not (tmp_path / "state").exists() and not (tmp_path / "home").exists()


def test_status_says_whether_the_nodes_have_the_machines_gpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LC_CLUSTER_STATE", str(tmp_path / "state"))
    topo = Topology.named("lcunit")
    sandbox.root(topo).mkdir(parents=True)
    for real in (True, False):
        # Daemons that are gone: status reads the state without asking Slurm.
        state = sandbox.SandboxState(nodes=2, gpus_per_node=1, pids={"munged": 2**22 + 1}, started_at=0, real_gpus=real)
        sandbox._save(topo, state)
        doc = sandbox.status("lcunit")
        assert doc["real_gpus"] is real and doc["up"] is False and len(doc["nodes"]) == 2
