"""`doctor` on the sandbox: real Slurm, each node's stand-in /sys and /proc, the job's real limits, a real Gloo
collective between the nodes' namespaces. A healthy cluster passes; each injected fault is named on its node."""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from lc_cluster.sandbox import node_tree
from tests.conftest import cli
from tests.integration.conftest import SANDBOX

LC = [sys.executable, "-m", "lc_cluster"]
# The most locked memory this machine lets a job have: a container without CAP_SYS_RESOURCE keeps its hard limit
# (often 8 MiB), and then no job here can register RDMA memory, which doctor must say.
_HARD = resource.getrlimit(resource.RLIMIT_MEMLOCK)[1]
MOST = "unlimited" if _HARD == resource.RLIM_INFINITY else str(_HARD)


def _doctor(*args: str, memlock: str = MOST, cluster: str = SANDBOX) -> tuple[int, dict[str, Any]]:
    """Slurm gives the job the submitting process's limits, so prlimit here is the job's memlock there."""
    done = subprocess.run(
        ["prlimit", f"--memlock={memlock}", *LC, "doctor", "--cluster", cluster, "--json", *args],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout)


def _failed(report: dict[str, Any]) -> dict[str, set[str]]:
    return {node: {c["name"] for c in found if c["ok"] is False} for node, found in report["nodes"].items()}


def test_a_healthy_sandbox_passes_with_a_real_collective(sandbox: dict[str, Any]) -> None:
    rc, report = _doctor("--model", "tiny")
    limited = set() if MOST == "unlimited" else {"memlock"}
    assert _failed(report) == {"n1": limited, "n2": limited}
    assert (rc, report["ok"], report["exclude"]) == ((0, True, "") if not limited else (1, False, "n1,n2"))
    checks = {c["name"]: c for c in report["nodes"]["n1"]}
    assert checks["weights"]["ok"] and checks["engine"]["ok"] and checks["ib_ports"]["detail"].startswith("2 ports")
    assert report["collective"]["ranks"] == 2 and report["collective"]["backend"] == "gloo"
    assert report["collective"]["all_reduce_busbw_gbs"] > 0


@pytest.fixture
def broken(sandbox: dict[str, Any], tmp_path: Path) -> Any:
    """n1: nvidia-peermem unloaded. n2: an HCA port DOWN and a fabric manager of another version. Both: the model's
    weights short of one file (a cache copy). Put right again by `sandbox up`, which rewrites every node's tree."""
    doc = yaml.safe_load(Path(sandbox["cluster_file"]).read_text())
    roots = {n: Path(doc["node_root"].replace("%N", n)) for n in ("n1", "n2")}
    node_tree.set_module(roots["n1"], "nvidia_peermem", loaded=False)
    node_tree.set_port_state(roots["n2"], "mlx5_1", "1: DOWN")
    node_tree.set_fabric_manager(roots["n2"], "535.54.03")
    cache = tmp_path / "hf"
    shutil.copytree(doc["paths"]["model_cache"], cache, symlinks=True)
    for weights in cache.glob("hub/models--*tiny*/snapshots/*/*.safetensors"):
        weights.unlink()
    doc["paths"]["model_cache"] = str(cache)
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(doc))
    try:
        yield str(path)
    finally:
        up = cli("sandbox", "up", "--name", SANDBOX, "--nodes", "2", "--gpus-per-node", "8", timeout=600)
        assert up.returncode == 0, up.stderr


def test_each_injected_fault_is_named_on_its_node(broken: str) -> None:
    rc, report = _doctor("--model", "tiny", memlock="65536", cluster=broken)
    assert rc == 1
    assert _failed(report) == {
        "n1": {"peermem", "memlock", "weights"},
        "n2": {"ib_ports", "fabric_manager", "memlock", "weights"},
    }
    checks = {c["name"]: c for c in report["nodes"]["n2"]}
    assert "mlx5_1 port 1 DOWN" in checks["ib_ports"]["detail"] and "ibstat" in checks["ib_ports"]["fix"]
    assert "535.54.03" in checks["fabric_manager"]["detail"]
    assert "64 KiB" in checks["memlock"]["detail"]
    assert report["exclude"] == "n1,n2"


def test_preflight_refuses_to_submit_on_a_failing_node(broken: str) -> None:
    before = cli("status", "--json").stdout
    done = subprocess.run(
        [*LC, "serve", "tiny", "--cluster", broken, "--nodes", "2", "--preflight"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "preflight failed" in done.stderr and "--exclude n1,n2" in done.stdout
    assert cli("status", "--json").stdout == before, "preflight submitted a job"


def test_bad_node_lists_are_refused_before_anything_runs(sandbox: dict[str, Any]) -> None:
    for bad in ("n1\n", "n1;reboot", "n[1-2"):
        done = cli("doctor", "--cluster", SANDBOX, "--nodelist", bad)
        assert done.returncode == 2 and "--nodelist" in done.stderr and len(done.stderr.splitlines()) == 1
