"""The sandbox's network and daemons: namespaces joined by a bridge, one munged, slurmctld and a slurmd per node."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

from lc_cluster.errors import LcError
from lc_cluster.host import alive, netns_exists, run, start, stop
from lc_cluster.rendering import render
from lc_cluster.sandbox.topology import BRIDGE, Host, Topology


def up_network(topo: Topology, hosts: list[Host]) -> None:
    """A namespace per host, each joined to a bridge that lives inside the hub namespace: the machine's own
    namespace never gets a test address."""
    hub = topo.controller()
    if not netns_exists(hub.netns):
        run("ip", "netns", "add", hub.netns)
        run("ip", "-n", hub.netns, "link", "add", BRIDGE, "type", "bridge")
        run("ip", "-n", hub.netns, "addr", "add", f"{hub.ip}/24", "dev", BRIDGE)
        run("ip", "-n", hub.netns, "link", "set", BRIDGE, "up")
        run("ip", "-n", hub.netns, "link", "set", "lo", "up")
    for host in hosts:
        if netns_exists(host.netns):
            continue
        run("ip", "netns", "add", host.netns)
        port = f"v-{host.hostname}"
        # Both ends are created straight into their namespaces.
        run("ip", "link", "add", port, "netns", hub.netns, "type", "veth", "peer", "name", "eth0", "netns", host.netns)
        run("ip", "-n", hub.netns, "link", "set", port, "master", BRIDGE, "up")
        run("ip", "-n", host.netns, "addr", "add", f"{host.ip}/24", "dev", "eth0")
        run("ip", "-n", host.netns, "link", "set", "eth0", "up")
        run("ip", "-n", host.netns, "link", "set", "lo", "up")


def down_network(names: list[str]) -> None:
    for name in names:
        if netns_exists(name):
            run("ip", "netns", "delete", name, check=False)


def start_munge(topo: Topology, root: Path) -> int:
    folder = topo.sockets / "munge"
    folder.mkdir(parents=True, exist_ok=True)
    # munged refuses a socket directory that others can list.
    os.chmod(folder, 0o711)
    key = folder / "munge.key"
    if not key.exists():
        key.write_bytes(secrets.token_bytes(1024))
        os.chmod(key, 0o400)
    return start(
        [
            "munged", "--foreground", "--force", f"--socket={folder / 'munge.socket.2'}", f"--key-file={key}",
            f"--pid-file={folder / 'munged.pid'}", f"--seed-file={folder / 'munged.seed'}",
            f"--log-file={root / 'log' / 'munged.log'}",
        ],
        root / "log" / "munged.out",
    )  # fmt: skip


def _device_range(devices: list[str]) -> str:
    """/dev/nvidia2, /dev/nvidia3 as gres.conf's range /dev/nvidia[2,3]."""
    prefix = devices[0].rstrip("0123456789")
    return f"{prefix}[{','.join(d[len(prefix) :] for d in devices)}]"


def write_config(topo: Topology, root: Path, count: int, gpus_per_node: int, devices: list[list[str]] | None) -> Path:
    """DEVICES: each node's GPU device files; None gives every node the same stand-ins."""
    hosts = topo.nodes(count)
    if devices is None:
        stand_ins = [str(root / "dev" / f"nvidia{i}") for i in range(gpus_per_node)]
        for device in map(Path, stand_ins):
            if not device.exists():
                device.parent.mkdir(parents=True, exist_ok=True)
                os.mknod(device, 0o666 | 0o020000, os.makedev(1, 3))
        devices = [stand_ins] * count
    context = {
        "root": str(root),
        "cluster_name": f"lc{topo.name}",
        "first_job_id": topo.first_job_id,
        "controller": topo.controller(),
        "nodes": hosts,
        "gpus_per_node": gpus_per_node,
        "cpus": os.cpu_count() or 1,
        "memory_mb": 4096,
        "munge_socket": str(topo.sockets / "munge" / "munge.socket.2"),
        "spool": str(topo.sockets / "nodes"),
        "gres_files": {host.hostname: _device_range(files) for host, files in zip(hosts, devices, strict=True)},
    }
    for folder in ("ctld", "log"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for host in hosts:
        (topo.sockets / "nodes" / host.hostname / "spool").mkdir(parents=True, exist_ok=True)
    conf = root / "slurm.conf"
    conf.write_text(render("sandbox-slurm.conf.j2", shell=False, **context))
    (root / "gres.conf").write_text(render("sandbox-gres.conf.j2", shell=False, **context))
    (root / "cgroup.conf").write_text(render("sandbox-cgroup.conf.j2", shell=False))
    for host in [topo.controller(), *hosts]:
        hosts_file = root / "hosts" / host.hostname
        hosts_file.parent.mkdir(exist_ok=True)
        hosts_file.write_text(render("sandbox-hosts.j2", shell=False, me=host.hostname, **context))
    return conf


def _in_host(root: Path, host: Host, argv: list[str]) -> list[str]:
    """Run argv as host: its network namespace, its own hostname, its own /etc/hosts. Not `ip netns exec`, which
    remounts /sys and hides the cgroup tree that slurmd checks."""
    script = 'mount --bind "$1" /etc/hosts && hostname "$2" && shift 2 && exec "$@"'
    return [
        "nsenter", f"--net=/run/netns/{host.netns}", "unshare", "--mount", "--uts", "--propagation", "private",
        "sh", "-c", script, "sh", str(root / "hosts" / host.hostname), host.hostname, *argv,
    ]  # fmt: skip


# Where systemd would keep services on a cgroup v2 machine. Without systemd (a lent GPU host), slurmd (IgnoreSystemd)
# still puts each node's step daemons in NODE_slurmstepd.scope below it, and does not make it.
_SYSTEM_SLICE = Path("/sys/fs/cgroup/system.slice")


def start_slurm(topo: Topology, root: Path, count: int) -> dict[str, int]:
    if (_SYSTEM_SLICE.parent / "cgroup.controllers").exists():
        _SYSTEM_SLICE.mkdir(exist_ok=True)
    conf = str(root / "slurm.conf")
    env_conf = ["env", f"SLURM_CONF={conf}"]
    pids = {
        "slurmctld": start(
            _in_host(root, topo.controller(), [*env_conf, "slurmctld", "-D", "-i"]), root / "log" / "slurmctld.out"
        )
    }
    for host in topo.nodes(count):
        pids[f"slurmd-{host.hostname}"] = start(
            _in_host(root, host, [*env_conf, "slurmd", "-D", "-N", host.hostname]),
            root / "log" / f"slurmd-{host.hostname}.out",
        )
    return pids


def wait_idle(topo: Topology, root: Path, count: int, pids: dict[str, int], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    names = {h.hostname for h in topo.nodes(count)}
    last = ""
    while time.monotonic() < deadline:
        dead = [name for name, pid in pids.items() if not alive(pid)]
        if dead:
            log = root / "log" / f"{dead[0]}.out"
            detail = log.read_text().strip().splitlines()[-1:] if log.exists() else []
            raise LcError(f"sandbox daemon {dead[0]} exited: {' '.join(detail) or 'see ' + str(log)}")
        last = run(*slurm_client(topo, root), "sinfo", "-h", "-N", "-o", "%N %t", check=False)
        states = dict(line.split() for line in last.splitlines() if line.strip())
        if set(states) >= names and all(states[n].rstrip("*") in ("idle", "mix", "alloc") for n in names):
            return
        time.sleep(0.5)
    raise LcError(f"sandbox nodes did not become idle within {timeout_s:.0f} s: {last.strip() or 'no answer'}")


def slurm_client(topo: Topology, root: Path) -> list[str]:
    """Prefix for Slurm client commands: inside the hub namespace, with the sandbox's slurm.conf."""
    return ["nsenter", f"--net=/run/netns/{topo.hub}", "env", f"SLURM_CONF={root / 'slurm.conf'}"]


def stop_all(pids: dict[str, int]) -> None:
    # Nodes first, so the controller does not see them fail.
    for name in sorted(pids, key=lambda n: n == "munged" or n == "slurmctld"):
        stop(pids[name])
