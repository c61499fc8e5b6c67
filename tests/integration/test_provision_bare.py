"""`lc-cluster up` on bare systemd hosts: the roles build a Slurm that runs a 2-node job, a re-run changes nothing,
check mode reports drift, secrets stay out of every output, and an unreachable host does not hide the others."""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from lc_cluster.paths import cache_home
from lc_cluster.sandbox.bare import ssh_options
from lc_cluster.sandbox.system import netns_inode, pids_in_netns
from tests.conftest import cli
from tests.integration.conftest import use_own_home, wait_for

LIMITS = "/etc/security/limits.d/90-lc-cluster.conf"


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    use_own_home(tmp_path_factory)
    result = cli("sandbox", "up", "--bare", "--nodes", "2", "--json", timeout=1800)
    assert result.returncode == 0, result.stderr
    status: dict[str, Any] = json.loads(result.stdout)
    try:
        yield status
    finally:
        down = cli("sandbox", "down", timeout=300)
        assert down.returncode == 0, down.stderr


def ssh(status: dict[str, Any], host: str, command: str, check: bool = True) -> str:
    address = next(n["ip"] for n in status["nodes"] if n["name"] == host)
    key = cache_home() / "sandbox-ssh" / "id_ed25519"
    done = subprocess.run(["ssh", *ssh_options(key), "-o", "LogLevel=ERROR", f"root@{address}", command],
                          capture_output=True, text=True, timeout=120, check=check)  # fmt: skip
    return done.stdout


def up(inventory: str, *args: str) -> tuple[int, dict[str, Any], str]:
    result = cli("up", "-i", inventory, *args, "--json", timeout=1200)
    return result.returncode, json.loads(result.stdout), result.stdout + result.stderr


def test_up_builds_a_slurm_that_runs_a_two_node_job_and_a_rerun_changes_nothing(bare: dict[str, Any]) -> None:
    inventory = bare["inventory"]
    assert cli("inventory", "check", "-i", inventory).returncode == 0

    rc, first, _ = up(inventory)
    assert rc == 0, first
    assert set(first["hosts"]) == {"ctl", "n1", "n2"}
    for counts in first["hosts"].values():
        assert counts["failed"] == counts["unreachable"] == 0 and counts["changed"] > 0

    job = ssh(bare, "ctl", "timeout 120 srun --nodes=2 --ntasks-per-node=1 -l hostname")
    assert sorted(job.split("\n")[:-1]) == ["0: n1", "1: n2"]

    rc, second, _ = up(inventory)
    assert rc == 0
    assert {h: c["changed"] for h, c in second["hosts"].items()} == {"ctl": 0, "n1": 0, "n2": 0}

    ssh(bare, "n1", f"echo '* soft nofile 1024' >> {LIMITS}")
    rc, checked, _ = up(inventory, "--check")
    assert rc == 0
    assert checked["hosts"]["n1"]["changed"] >= 1
    assert checked["hosts"]["ctl"]["changed"] == checked["hosts"]["n2"]["changed"] == 0
    assert ssh(bare, "n1", f"tail -n 1 {LIMITS}").strip() == "* soft nofile 1024", "check mode changed the host"


def test_a_supplied_munge_key_is_installed_everywhere_and_never_shown(bare: dict[str, Any], tmp_path: Path) -> None:
    key = base64.b64encode(secrets.token_bytes(64)).decode()
    doc = yaml.safe_load(Path(bare["inventory"]).read_text())
    doc["all"]["vars"]["slurm_munge_key"] = key
    inventory = tmp_path / "with-key.yml"
    inventory.write_text(yaml.safe_dump(doc))

    rc, result, output = up(str(inventory), "--tags", "munge,slurm")
    assert rc == 0, result
    for host in ("ctl", "n1", "n2"):
        assert ssh(bare, host, "base64 -w0 /etc/munge/munge.key") == key, host
        assert ssh(bare, host, "stat -c '%a %U' /etc/munge/munge.key").strip() == "400 munge"
    assert sorted(ssh(bare, "ctl", "timeout 120 srun -N2 -l hostname").split("\n")[:-1]) == ["0: n1", "1: n2"]

    artifacts = Path(os.environ["LC_CLUSTER_STATE"]) / "ansible"
    texts = [output, *(p.read_text(errors="replace") for p in artifacts.rglob("*") if p.is_file())]
    assert not any(key in text or key[:24] in text for text in texts), "the munge key leaked into output or logs"


def test_an_unreachable_host_is_reported_and_the_others_complete(bare: dict[str, Any]) -> None:
    # The host goes away: everything running in its network namespace dies at once.
    inode = netns_inode("lcs-n2")
    assert inode is not None
    for pid in pids_in_netns(inode):
        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not _answers(bare, "n2"), 30, "n2 to go away")

    rc, result, _ = up(bare["inventory"], "--tags", "base")
    assert rc == 1
    assert result["hosts"]["n2"]["unreachable"] >= 1
    for host in ("ctl", "n1"):
        assert result["hosts"][host]["failed"] == result["hosts"][host]["unreachable"] == 0
        assert result["hosts"][host]["ok"] > 0


def _answers(status: dict[str, Any], host: str) -> bool:
    return ssh(status, host, "echo up", check=False).strip() == "up"
