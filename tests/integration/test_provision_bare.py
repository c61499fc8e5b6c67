"""`lc-cluster up` on bare systemd hosts: every layer (base, NVIDIA driver and fabric manager from stand-in packages,
RDMA, Slurm, Docker with the NVIDIA runtime, enroot and pyxis) builds a Slurm that runs a 2-node job, a re-run changes
nothing, check mode reports drift, secrets stay out of every output, bad hardware and missing builds are named, and
a host lost mid-run does not hide the others."""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from lc_cluster.host import netns_inode, pids_in_netns
from lc_cluster.paths import cache_home
from lc_cluster.sandbox.bare import ssh_options
from lc_cluster.sandbox.topology import Topology
from lc_cluster.schemas import schema
from tests.conftest import cli
from tests.integration.conftest import run_wheel, use_own_home, wait_for

BARE = Topology.named("lcbare")

LIMITS = "/etc/security/limits.d/90-lc-cluster.conf"


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    use_own_home(tmp_path_factory)
    result = cli("sandbox", "up", "--bare", "--name", BARE.name, "--nodes", "2", "--json", timeout=1800)
    assert result.returncode == 0, result.stderr
    status: dict[str, Any] = json.loads(result.stdout)
    try:
        yield status
    finally:
        down = cli("sandbox", "down", "--name", BARE.name, timeout=300)
        assert down.returncode == 0, down.stderr


def ssh(status: dict[str, Any], host: str, command: str, check: bool = True) -> str:
    address = next(n["ip"] for n in status["nodes"] if n["name"] == host)
    key = cache_home() / "sandbox-ssh" / "id_ed25519"
    done = subprocess.run(["ssh", *ssh_options(BARE, key), "-o", "LogLevel=ERROR", f"root@{address}", command],
                          capture_output=True, text=True, timeout=120, check=check)  # fmt: skip
    return done.stdout


def up(inventory: str, *args: str) -> tuple[int, dict[str, Any], str]:
    result = cli("up", "-i", inventory, *args, "--json", timeout=1200)
    return result.returncode, json.loads(result.stdout), result.stdout + result.stderr


def test_up_builds_a_slurm_that_runs_a_two_node_job_and_a_rerun_changes_nothing(
    bare: dict[str, Any], wheel_cli: Path, tmp_path: Path
) -> None:
    inventory = bare["inventory"]
    assert cli("inventory", "check", "-i", inventory).returncode == 0

    rc, first, _ = up(inventory)
    assert rc == 0, first
    assert set(first["hosts"]) == {"ctl", "n1", "n2"}
    for counts in first["hosts"].values():
        assert counts["failed"] == counts["unreachable"] == 0 and counts["changed"] > 0

    # pyxis is loaded by srun and by both slurmds (a 'required' plugin that fails to load fails the job).
    job = ssh(bare, "ctl", "timeout 120 srun --nodes=2 --ntasks-per-node=1 --container-image=ubuntu:24.04 -l hostname")
    assert sorted(job.split("\n")[:-1]) == ["0: n1", "1: n2"]
    for node in ("n1", "n2"):
        _assert_gpu_node_state(bare, node)
    _assert_a_launch_takes_its_nics_from_the_facts_file(bare, tmp_path)

    rc, second, _ = up(inventory)
    assert rc == 0
    assert {h: c["changed"] for h, c in second["hosts"].items()} == {"ctl": 0, "n1": 0, "n2": 0}

    # The same check from the installed wheel, outside the repository: roles and playbooks ship inside it.
    from_wheel = run_wheel(wheel_cli, tmp_path, "up", "-i", inventory, "--check", "--json", timeout=1200)
    assert from_wheel.returncode == 0, from_wheel.stdout + from_wheel.stderr
    doc = json.loads(from_wheel.stdout)
    jsonschema.validate(doc, schema("up"))
    assert {h: c["changed"] for h, c in doc["hosts"].items()} == {"ctl": 0, "n1": 0, "n2": 0}

    ssh(bare, "n1", f"echo '* soft nofile 1024' >> {LIMITS}")
    rc, checked, _ = up(inventory, "--check")
    assert rc == 0
    assert checked["hosts"]["n1"]["changed"] >= 1
    assert checked["hosts"]["ctl"]["changed"] == checked["hosts"]["n2"]["changed"] == 0
    assert ssh(bare, "n1", f"tail -n 1 {LIMITS}").strip() == "* soft nofile 1024", "check mode changed the host"
    _assert_a_rerun_leaves_out_what_is_as_it_was(bare, tmp_path)


# The layers whose re-run is left out where nothing changed (playbooks/converged/); node_facts and model_cache read
# and verify on every run.
LAYERS = {"base", "nvidia_driver", "rdma", "slurm", "container_runtime", "monitoring"}


def _assert_a_rerun_leaves_out_what_is_as_it_was(bare: dict[str, Any], tmp_path: Path) -> None:
    inventory = bare["inventory"]
    # The drift on n1 is repaired; one host that differs runs its layer (base) on every host.
    rc, repaired, _ = up(inventory)
    assert rc == 0 and repaired["hosts"]["n1"]["changed"] >= 1 and "base" in repaired["roles_run"]
    assert ssh(bare, "n1", f"tail -n 1 {LIMITS}").strip() != "* soft nofile 1024"
    # Then every layer is as it left each host: none runs a task, nothing changes.
    rc, quiet, _ = up(inventory)
    assert rc == 0 and all(c["changed"] == 0 for c in quiet["hosts"].values())
    assert not LAYERS & set(quiet["roles_run"]), quiet["roles_run"]
    # A unit stopped behind the tool's back is state too: the slurm layer runs and starts it again.
    ssh(bare, "n2", "systemctl stop munge")
    rc, restarted, _ = up(inventory)
    assert rc == 0 and LAYERS & set(restarted["roles_run"]) == {"slurm"}
    assert ssh(bare, "n2", "systemctl is-active munge").strip() == "active"
    # A changed input runs its layer everywhere; --full runs every layer, here putting the inventory's value back.
    rc, changed, _ = up(_with_vars(bare, tmp_path, {"base_nofile": 524288}))
    assert rc == 0 and LAYERS & set(changed["roles_run"]) == {"base"}
    assert all("* soft nofile 524288" in ssh(bare, host, f"cat {LIMITS}") for host in ("ctl", "n1", "n2"))
    rc, full, _ = up(inventory, "--full")
    assert rc == 0 and set(full["roles_run"]) >= LAYERS and full["hosts"]["n1"]["changed"] >= 1
    assert "* soft nofile 524288" not in ssh(bare, "n1", f"cat {LIMITS}")


def test_a_supplied_munge_key_is_installed_everywhere_and_never_shown(bare: dict[str, Any], tmp_path: Path) -> None:
    key = base64.b64encode(secrets.token_bytes(64)).decode()
    inventory = _with_vars(bare, tmp_path, {"slurm_munge_key": key})

    rc, result, output = up(inventory, "--tags", "munge,slurm")
    assert rc == 0, result
    for host in ("ctl", "n1", "n2"):
        assert ssh(bare, host, "base64 -w0 /etc/munge/munge.key") == key, host
        assert ssh(bare, host, "stat -c '%a %U' /etc/munge/munge.key").strip() == "400 munge"
    assert sorted(ssh(bare, "ctl", "timeout 120 srun -N2 -l hostname").split("\n")[:-1]) == ["0: n1", "1: n2"]

    artifacts = Path(os.environ["LC_CLUSTER_STATE"]) / "ansible"
    texts = [output, *(p.read_text(errors="replace") for p in artifacts.rglob("*") if p.is_file())]
    assert not any(key in text or key[:24] in text for text in texts), "the munge key leaked into output or logs"


def test_adding_a_node_restarts_the_slurm_daemons_and_nothing_else(bare: dict[str, Any], tmp_path: Path) -> None:
    # Start from a cluster without n2, then add it back as an operator adds a node: to gpu_nodes, then 'up'.
    doc = yaml.safe_load(Path(bare["inventory"]).read_text())
    del doc["all"]["children"]["gpu_nodes"]["hosts"]["n2"]
    smaller = tmp_path / "without-n2.yml"
    smaller.write_text(yaml.safe_dump(doc))
    rc, result, _ = up(str(smaller), "--tags", "slurm")
    assert rc == 0 and set(result["hosts"]) == {"ctl", "n1"}

    before = {host: _started(bare, host) for host in ("ctl", "n1")}
    rc, added, _ = up(bare["inventory"], "--tags", "slurm")
    assert rc == 0
    after = {host: _started(bare, host) for host in ("ctl", "n1")}
    # slurm.conf changed everywhere: slurmctld and every slurmd restart; munge's key did not change, so munge stays.
    assert after["ctl"]["slurmctld"] != before["ctl"]["slurmctld"]
    assert after["n1"]["slurmd"] != before["n1"]["slurmd"]
    assert after["ctl"]["munge"] == before["ctl"]["munge"] and after["n1"]["munge"] == before["n1"]["munge"]
    # n2 was left alone while it was out of the inventory: its slurm.conf already lists it, so nothing changes there.
    assert added["hosts"]["ctl"]["changed"] >= 1 and added["hosts"]["n1"]["changed"] >= 1
    assert added["hosts"]["n2"]["changed"] == 0
    job = ssh(bare, "ctl", "timeout 120 srun --nodes=2 -l hostname")
    assert sorted(job.split("\n")[:-1]) == ["0: n1", "1: n2"]


def _started(bare: dict[str, Any], host: str) -> dict[str, str]:
    """When each Slurm daemon last entered the running state (unchanged unless it restarted)."""
    units = ["munge", "slurmctld" if host == "ctl" else "slurmd"]
    values = ssh(bare, host, f"systemctl show -p ActiveEnterTimestampMonotonic --value {' '.join(units)}").split()
    return dict(zip(units, values, strict=True))


def test_ports_that_are_not_active_are_named(bare: dict[str, Any], tmp_path: Path) -> None:
    # The containers have no HCAs: each node gets a sysfs-shaped tree, n2 with a port whose cable is out.
    for node, states in (("n1", ["4: ACTIVE", "4: ACTIVE"]), ("n2", ["4: ACTIVE", "1: DOWN"])):
        for hca, state in zip(("mlx5_0", "mlx5_1"), states, strict=True):
            ssh(bare, node, f"mkdir -p /run/ib/{hca}/ports/1 && echo '{state}' > /run/ib/{hca}/ports/1/state")
    inventory = _with_vars(bare, tmp_path, {"rdma_hcas": ["mlx5_0", "mlx5_1"], "rdma_sysfs": "/run/ib"})

    rc, result, _ = up(inventory, "--tags", "rdma_ports")
    assert rc == 1
    assert result["hosts"]["n2"]["failed"] == 1 and result["hosts"]["n1"]["failed"] == 0
    assert set(result["messages"]) == {"n2"}
    assert "Not Active on n2: mlx5_1 port 1 1: DOWN" in " ".join(result["messages"]["n2"])


def test_a_pyxis_built_for_nothing_installed_is_refused_with_what_exists(bare: dict[str, Any], tmp_path: Path) -> None:
    inventory = _with_vars(bare, tmp_path, {"container_runtime_pyxis_version": "0.19.0"})
    rc, result, _ = up(inventory, "--tags", "pyxis", "--limit", "n1")
    assert rc == 1 and result["hosts"]["n1"]["failed"] == 1
    text = " ".join(" ".join(result["messages"]["n1"]).split())
    assert "No pyxis 0.19.0 built for Slurm 22.05" in text
    assert "offered: 0.20.0-1+slurm22.05" in text
    # The installed, matching build is untouched.
    assert ssh(bare, "n1", "dpkg-query -W -f='${Version}' nvslurm-plugin-pyxis") == "0.20.0-1+slurm22.05"


def test_model_weights_are_fetched_once_verified_and_healed(bare: dict[str, Any], tmp_path: Path) -> None:
    # The weights' "shared storage" copy, on each node (an NFS mount on a real cluster).
    for node in ("n1", "n2"):
        weights = "/srv/weights/tiny"
        ssh(bare, node, f"mkdir -p {weights} && head -c 4194304 /dev/urandom > {weights}/model.safetensors"
                        f" && echo '{{}}' > {weights}/config.json")  # fmt: skip
    models = [{"source": "/srv/weights/tiny", "name": "tiny"}]
    inventory = _with_vars(bare, tmp_path, {"model_cache_models": models, "model_cache_dir": "/local/models"})
    same = "cmp /srv/weights/tiny/model.safetensors /local/models/tiny/model.safetensors && echo same"

    rc, first, _ = up(inventory, "--playbook", "model_cache.yml")
    assert rc == 0, first
    assert first["hosts"]["n1"]["changed"] >= 1 and first["hosts"]["n2"]["changed"] >= 1
    assert ssh(bare, "n1", same).strip() == "same"

    rc, again, _ = up(inventory, "--playbook", "model_cache.yml")
    assert rc == 0 and {h: c["changed"] for h, c in again["hosts"].items()} == {"n1": 0, "n2": 0}

    # A flipped byte (same size) on n1: found by its hash and copied again; n2 is left alone.
    ssh(bare, "n1", "printf 'X' | dd of=/local/models/tiny/model.safetensors bs=1 seek=1000 conv=notrunc status=none")
    assert ssh(bare, "n1", same, check=False).strip() != "same"
    rc, healed, _ = up(inventory, "--playbook", "model_cache.yml")
    assert rc == 0 and {h: c["changed"] for h, c in healed["hosts"].items()} == {"n1": 1, "n2": 0}
    assert ssh(bare, "n1", same).strip() == "same"


def _checked_inventory(bare: dict[str, Any], tmp_path: Path) -> tuple[str, Path]:
    """The sandbox's inventory without its opt-out: host keys checked against a known-hosts file of the test's."""
    doc = yaml.safe_load(Path(bare["inventory"]).read_text())
    known = tmp_path / "known_hosts"
    known.touch()
    doc["all"]["vars"]["ansible_ssh_common_args"] = (
        f"-o UserKnownHostsFile={known} -o 'ProxyCommand=nsenter --net=/run/netns/{BARE.hub} nc %h %p'"
    )
    inventory = tmp_path / "checked.yml"
    inventory.write_text(yaml.safe_dump(doc))
    return str(inventory), known


def _scan(bare: dict[str, Any], known: Path) -> None:
    addresses = [n["ip"] for n in bare["nodes"]]
    scanned = subprocess.run(["nsenter", f"--net=/run/netns/{BARE.hub}", "ssh-keyscan", "-t", "ed25519", *addresses],
                             capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    known.write_text(scanned.stdout)


def test_host_keys_are_checked_and_a_changed_key_is_refused(bare: dict[str, Any], tmp_path: Path) -> None:
    inventory, known = _checked_inventory(bare, tmp_path)
    unknown = cli("inventory", "check", "-i", inventory)
    assert unknown.returncode == 2 and "ssh-keyscan" in unknown.stderr and "no known host key" in unknown.stderr

    _scan(bare, known)
    assert cli("inventory", "check", "-i", inventory).returncode == 0
    rc, result, _ = up(inventory, "--playbook", "base.yml", "--check")
    assert rc == 0, result

    # n1 gets a new host key (a reinstall, or a machine in its place): refused until its line is replaced.
    ssh(bare, "n1", "rm -f /etc/ssh/ssh_host_* && ssh-keygen -A -q && systemctl restart ssh")
    # Ansible keeps its SSH connections open for 60 s (ControlPersist); a later run connects afresh, as this one must.
    for socket in (Path.home() / ".ansible" / "cp").glob("*"):
        socket.unlink()
    rc, result, _ = up(inventory, "--playbook", "base.yml", "--check")
    assert rc == 1
    assert result["hosts"]["n1"]["unreachable"] == 1, result
    assert "host key" in " ".join(result["messages"]["n1"]).lower(), result["messages"]
    assert result["hosts"]["n2"]["unreachable"] == 0
    _scan(bare, known)
    rc, result, _ = up(inventory, "--playbook", "base.yml", "--check")
    assert rc == 0, result


def test_vaulted_secrets_work_and_no_secret_reaches_any_file(bare: dict[str, Any], tmp_path: Path) -> None:
    munge_key = base64.b64encode(secrets.token_bytes(48)).decode()
    token = "hf_" + secrets.token_hex(16)
    env_token, env_password = "hf_env_" + secrets.token_hex(8), "pw_" + secrets.token_hex(8)
    password = tmp_path / "vault-pass"
    password.write_text(secrets.token_hex(16))
    vaulted = {}
    for name, value in (("slurm_munge_key", munge_key), ("model_cache_hf_token", token)):
        done = subprocess.run(["ansible-vault", "encrypt_string", "--vault-password-file", str(password), value,
                               "--name", name], capture_output=True, text=True, check=True)  # fmt: skip
        vaulted[name] = done.stdout
    folder = tmp_path / "inv"
    (folder / "group_vars" / "all").mkdir(parents=True)
    (folder / "hosts.yml").write_text(Path(bare["inventory"]).read_text())
    (folder / "group_vars" / "all" / "vault.yml").write_text("".join(vaulted.values()))

    env = {**os.environ, "HF_TOKEN": env_token, "SOME_PASSWORD": env_password}
    runs = [
        subprocess.run([sys.executable, "-m", "lc_cluster", *args, "-i", str(folder), "--vault-password-file",
                        str(password), "--json"], capture_output=True, text=True, env=env, timeout=1200, check=False)
        for args in (["inventory", "check"], ["up", "--tags", "base,munge,slurm"])
    ]  # fmt: skip
    for done in runs:
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    for host in ("ctl", "n1", "n2"):
        assert ssh(bare, host, "base64 -w0 /etc/munge/munge.key") == munge_key, host

    state = Path(os.environ["LC_CLUSTER_STATE"])
    files = [p for p in state.rglob("*") if p.is_file()] + [p for p in Path("/tmp").glob(".ansible-runner-*")]
    texts = [d.stdout + d.stderr for d in runs] + [p.read_text(errors="replace") for p in files]
    for secret in (munge_key, munge_key[:24], token, env_token, env_password):
        assert not any(secret in text for text in texts), "a secret reached the output or a file"
    assert not list(Path("/tmp").glob(".ansible-runner-*")), "ansible-runner left a scratch folder"


def test_a_host_lost_mid_run_is_reported_unreachable_and_the_others_complete(bare: dict[str, Any]) -> None:
    events = Path(os.environ["LC_CLUSTER_STATE"]) / "ansible"
    before = set(events.glob("*"))
    # --full: every task runs, also on hosts that are as the last run left them.
    run = subprocess.Popen([sys.executable, "-m", "lc_cluster", "up", "-i", bare["inventory"], "--full", "--json"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        # Once n2 has finished a few tasks, it goes away: everything in its network namespace dies at once.
        wait_for(lambda: _tasks_done(events, before, "n2") >= 5, 120, "the run to reach n2")
        inode = netns_inode(BARE.nodes(2)[1].netns)
        assert inode is not None
        for pid in pids_in_netns(inode):
            os.kill(pid, signal.SIGKILL)
        out, _ = run.communicate(timeout=900)
    finally:
        run.kill()
    result = json.loads(out)
    assert run.returncode == 1
    assert result["hosts"]["n2"]["unreachable"] >= 1
    for host in ("ctl", "n1"):
        assert result["hosts"][host]["failed"] == result["hosts"][host]["unreachable"] == 0
        # They went on to the end: as many tasks as in a full re-run.
        assert result["hosts"][host]["ok"] >= 30


def _tasks_done(events: Path, before: set[Path], host: str) -> int:
    runs = [d for d in events.glob("*") if d not in before]
    return sum(
        1
        for run in runs
        for event in run.glob("artifacts/*/job_events/*.json")
        if '"runner_on_ok"' in (text := event.read_text(errors="replace")) and f'"host": "{host}"' in text
    )


def _with_vars(bare: dict[str, Any], tmp_path: Path, variables: dict[str, Any]) -> str:
    doc = yaml.safe_load(Path(bare["inventory"]).read_text())
    doc["all"]["vars"].update(variables)
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump(doc))
    return str(inventory)


def _assert_a_launch_takes_its_nics_from_the_facts_file(bare: dict[str, Any], tmp_path: Path) -> None:
    """Role node_facts wrote each node's facts; a job's batch script, submitted to the Slurm that `up` built, reads
    them on its node and records what it derived. One node: the hosts share no log folder. No engine (a stand-in
    waits) and no GPU (the job asks for none)."""
    for node in ("n1", "n2"):
        assert json.loads(ssh(bare, node, "cat /etc/lc-cluster/node-facts.json"))["hostname"] == node
    doc = {"name": "bare", "gpu": "CPU-SANDBOX", "gpus_per_node": 1, "paths": {"log_dir": "/tmp/lc-jobs"}}
    cluster = tmp_path / "bare.yaml"
    cluster.write_text(yaml.safe_dump(doc))
    dry = cli("serve", "tiny", "--cluster", str(cluster), "--no-api-key", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    script = dry.stdout.replace("#SBATCH --gres=gpu:1\n", "").replace(" --gres=gpu:1 ", " ")
    encoded = base64.b64encode(script.encode()).decode()
    stand_in = "printf '#!/bin/sh\\nexec sleep 600\\n' >/usr/local/bin/vllm && chmod +x /usr/local/bin/vllm"
    ssh(bare, "n1", f"mkdir -p /tmp/lc-jobs && {stand_in}")
    job = ssh(bare, "ctl", f"echo {encoded} | base64 -d > /tmp/job.sh && sbatch --parsable -w n1 /tmp/job.sh").strip()
    path = f"/tmp/lc-jobs/{job}/node-0.cmd.json"
    try:
        wait_for(lambda: ssh(bare, "n1", f"test -s {path} && echo yes", check=False), 120, path)
    finally:
        ssh(bare, "ctl", f"scancel {job}")
    facts = json.loads(ssh(bare, "n1", "cat /etc/lc-cluster/node-facts.json"))
    record = json.loads(ssh(bare, "n1", f"cat {path}"))
    ip = record["node_ip"]
    carrier = [i["name"] for i in facts["interfaces"] if any(c.split("/")[0] == ip for c in i["ipv4"])]
    assert carrier and carrier[0] != "lo"
    assert record["derived"] == {"NCCL_SOCKET_IFNAME": carrier[0], "GLOO_SOCKET_IFNAME": carrier[0]}
    assert record["env"]["GLOO_SOCKET_IFNAME"] == carrier[0]


def _assert_gpu_node_state(bare: dict[str, Any], node: str) -> None:
    """What the GPU layers promise on a node, read off the host itself."""
    held = set(ssh(bare, node, "apt-mark showhold").split())
    assert {"nvidia-driver-570-open", "nvidia-dkms-570-open", "nvidia-fabricmanager-570", "nvidia-container-toolkit",
            "nvidia-container-toolkit-base", "enroot", "nvslurm-plugin-pyxis"} <= held  # fmt: skip
    versions = ssh(bare, node, "dpkg-query -W -f='${Version}\\n' nvidia-driver-570-open nvidia-fabricmanager-570")
    assert versions.split() == ["570.133.20-1", "570.133.20-1"]
    # The stand-in fabric manager, like the real one, runs only beside a driver of its own version.
    services = "nvidia-persistenced nvidia-fabricmanager docker munge slurmd"
    assert ssh(bare, node, f"systemctl is-active {services}").split() == ["active"] * 5
    daemon = json.loads(ssh(bare, node, "cat /etc/docker/daemon.json"))
    assert daemon["runtimes"]["nvidia"]["path"] == "nvidia-container-runtime"
    assert ssh(bare, node, "cat /etc/modules-load.d/nvidia-peermem.conf").split()[-1] == "nvidia-peermem"
    assert "memlock unlimited" in ssh(bare, node, f"cat {LIMITS}")
    assert "Pin: version 570.133.20-*" in ssh(bare, node, "cat /etc/apt/preferences.d/lc-nvidia-driver")
