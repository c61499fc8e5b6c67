"""Judging what a node reported (node_facts.py --live, run inside the doctor's job) against what the cluster file and
the model expect. Pure: facts in, verdicts out, each failure with the fix an operator applies."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from lc_cluster.catalog.schema import GpuSpec

# NCCL keeps its intra-node buffers in /dev/shm; Docker's default of 64 MiB fails large collectives mid-run.
MIN_SHM_BYTES = 1 << 30


@dataclass(frozen=True)
class Expected:
    gpu: GpuSpec
    gpus_per_node: int
    hcas: tuple[str, ...] | None
    """The HCAs the cluster file pins (NCCL_IB_HCA); None: every HCA the node has."""
    model_bytes: int | None = None
    """The model's weights, when doctor checks a model."""


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool | None
    """None: does not apply to this node."""
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _gib(n: int) -> str:
    return f"{n / (1 << 30):.1f} GiB"


def gpus(facts: dict[str, Any], want: Expected) -> Check:
    found = facts.get("gpus", [])
    models = sorted({g["model"] for g in found})
    wrong = [m for m in models if not want.gpu.named_by(m)]
    if len(found) != want.gpus_per_node or wrong:
        return Check(
            "gpus", False, f"{len(found)} x {', '.join(models) or 'no GPU'}; the cluster file says "
            f"{want.gpus_per_node} x {want.gpu.name}",
            "a GPU that fell off the bus needs the node drained and reset (nvidia-smi -q, dmesg for Xid); a wrong "
            "type or count needs the cluster file or the node's GRES (gres.conf) corrected",
        )  # fmt: skip
    return Check("gpus", True, f"{len(found)} x {models[0] if models else want.gpu.name}")


def driver(facts: dict[str, Any]) -> Check:
    version = facts.get("versions", {}).get("driver")
    if not facts.get("modules", {}).get("nvidia") or not version:
        return Check("driver", False, "the nvidia kernel module is not loaded",
                     "lc-cluster up --tags nvidia_driver, then reboot if DKMS built a new module")  # fmt: skip
    return Check("driver", True, version)


def fabric_manager(facts: dict[str, Any]) -> Check:
    switches = facts.get("nvswitches", 0)
    if not switches:
        return Check("fabric_manager", None, "no NVSwitch on this node")
    versions = facts.get("versions", {})
    fm, drv = versions.get("fabric_manager"), versions.get("driver")
    if fm != drv:
        return Check(
            "fabric_manager", False, f"fabric manager {fm or 'not installed'}, driver {drv}: with {switches} "
            "NVSwitches the GPUs cannot talk over NVLink until they match",
            "install the fabric manager of exactly the driver's version and restart it (lc-cluster up --tags "
            "nvidia_driver), then check 'systemctl status nvidia-fabricmanager'",
        )  # fmt: skip
    return Check("fabric_manager", True, f"{fm} with {switches} NVSwitches")


def ib_ports(facts: dict[str, Any], want: Expected) -> Check:
    ports = [h for h in facts.get("hcas", []) if want.hcas is None or h["name"] in want.hcas]
    if want.hcas:
        absent = sorted(set(want.hcas) - {h["name"] for h in ports})
        if absent:
            return Check("ib_ports", False, f"{', '.join(absent)} not on this node (the cluster file's ib_hca)",
                         "correct network.ib_hca in the cluster file, or the HCA's driver (ibv_devices)")  # fmt: skip
    if not ports:
        return Check("ib_ports", None, "no RDMA device")
    down = [f"{h['name']} port {h['port']} {h['state']}" for h in ports if h["state"] != "ACTIVE"]
    best = max((h["rate_gbps"] or 0) for h in ports)
    slow = [f"{h['name']} at {h['rate_gbps']} Gb/s" for h in ports if h["state"] == "ACTIVE" and h["rate_gbps"] != best]
    if down or slow:
        return Check(
            "ib_ports", False, "; ".join([*down, *(f"{s} (others {best:g} Gb/s)" for s in slow)]),
            "check the cable and the switch port ('ibstat HCA'), and that the subnet manager is running; a port "
            "that trained to a lower rate needs its cable reseated or replaced",
        )  # fmt: skip
    return Check("ib_ports", True, f"{len(ports)} ports Active at {best:g} Gb/s")


def peermem(facts: dict[str, Any]) -> Check:
    if not facts.get("hcas") or not facts.get("gpus"):
        return Check("peermem", None, "no GPU and RDMA device pair")
    if not facts.get("modules", {}).get("nvidia_peermem"):
        return Check(
            "peermem", False, "nvidia-peermem not loaded: NCCL falls back to copies through host memory (or, with "
            "GPUDirect forced, transfers silently produce nothing)",
            "modprobe nvidia-peermem, and lc-cluster up --tags rdma_peermem so it loads at boot",
        )  # fmt: skip
    return Check("peermem", True, "loaded")


def memlock(live: dict[str, Any]) -> Check:
    limit = live.get("memlock_bytes")
    if limit is not None:
        return Check(
            "memlock", False, f"locked memory limited to {limit // 1024} KiB inside the job: RDMA cannot register "
            "GPU or host buffers",
            "lc-cluster up --tags base_limits sets memlock unlimited for logins and slurmd (LimitMEMLOCK); submit "
            "from a shell whose 'ulimit -l' is unlimited, since Slurm passes the submitter's limits to the job",
        )  # fmt: skip
    return Check("memlock", True, "unlimited")


def shm(live: dict[str, Any]) -> Check:
    size = live.get("shm_bytes") or 0
    if size < MIN_SHM_BYTES:
        fix = "lc-cluster up --tags base_shm sizes /dev/shm; containers need --ipc host or --shm-size"
        return Check("shm", False, f"/dev/shm is {_gib(size)}", fix)
    return Check("shm", True, _gib(size))


def engine(live: dict[str, Any], where: str | None) -> Check:
    if where is None:
        return Check("engine", None, "not checked (a registry image)")
    if not live.get("engine_present"):
        return Check("engine", False, f"{where} is missing",
                     "install the engine there, or correct runtime.engine_venvs / runtime.image")  # fmt: skip
    return Check("engine", True, where)


def weights(live: dict[str, Any], want: Expected) -> list[Check]:
    if "weights" not in live:
        return []
    found = live["weights"]
    checks = []
    if not found["present"]:
        free = live.get("cache_free_bytes")
        if want.model_bytes and free is not None and free < want.model_bytes:
            checks.append(Check("disk", False, f"{_gib(free)} free in the model cache, the model needs "
                                f"{_gib(want.model_bytes)}", "free space in the model cache, or move it"))  # fmt: skip
        checks.append(Check(
            "weights", False, f"missing: {', '.join(found['missing'][:4])}",
            "stage the weights before serving: lc-cluster up --tags model_cache (model_cache_models), or download "
            "them into the cluster file's model_cache",
        ))  # fmt: skip
    elif found.get("changed"):
        checks.append(Check("weights", False, f"changed since verified: {', '.join(found['changed'][:4])}",
                            "run lc-cluster up --tags model_cache again: it re-fetches what changed"))  # fmt: skip
    else:
        checks.append(Check("weights", True, "present and verified" if found["verified"] else "present"))
    return checks


def judge(facts: dict[str, Any], want: Expected, engine_path: str | None) -> list[Check]:
    live = facts.get("live", {})
    return [
        gpus(facts, want),
        driver(facts),
        fabric_manager(facts),
        ib_ports(facts, want),
        peermem(facts),
        memlock(live),
        shm(live),
        engine(live, engine_path),
        *weights(live, want),
    ]


def expected_busbw_gbs(facts: list[dict[str, Any]], ranks_per_node: int) -> float | None:
    """Half of what the slowest node's Active HCAs can carry per rank (GB/s): a healthy fabric's all-reduce reaches
    well over that; one that falls back to TCP or a single port does not. None when no node has an HCA."""
    per_node = [sum(h["rate_gbps"] or 0 for h in f.get("hcas", []) if h["state"] == "ACTIVE") for f in facts]
    if not per_node or min(per_node) == 0:
        return None
    return min(per_node) / 8 / max(ranks_per_node, 1) * 0.5
