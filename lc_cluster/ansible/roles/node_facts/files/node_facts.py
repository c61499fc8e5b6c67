"""What a node is, as the launcher needs it: GPUs, HCAs (port state, rate, link layer, NUMA node), the GPU-to-HCA
affinity, the interface that carries each IPv4 subnet, and the driver, fabric manager, RDMA, CUDA and NCCL versions.

The role node_facts runs it on every node and keeps what it prints in /etc/lc-cluster/node-facts.json; jobs read
that file on each node at run time (NCCL/Gloo/UCX devices), and `lc-cluster doctor` runs it inside a Slurm job with
--live, which adds what only the job itself can see (locked-memory limit, /dev/shm, disk, engine and weights).

Standard library only, any python3 >= 3.7 a node may have. Everything is read from the kernel's files (/sys, /proc)
under --root, so a test tree can stand in for a node; commands run only for versions the kernel does not report.
"""

from __future__ import annotations

import json
import os
import re
import resource
import socket
import struct
import subprocess
import sys
from typing import Any

SCHEMA = 1
_COMMAND_TIMEOUT_S = 10


def _read(path: str, default: str | None = None) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def _list(path: str) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def _int(text: str | None, default: int | None = None) -> int | None:
    try:
        return int(text or "")
    except ValueError:
        return default


def _numa(path: str) -> int | None:
    node = _int(_read(path))
    # -1: a one-socket machine, or firmware that does not say.
    return node if node is not None and node >= 0 else None


def gpus(root: str) -> list[dict[str, Any]]:
    """The NVIDIA driver lists each GPU under /proc/driver/nvidia/gpus/BUS/information ('Model: ...')."""
    found: list[dict[str, Any]] = []
    base = os.path.join(root, "proc/driver/nvidia/gpus")
    for bus in _list(base):
        info = _read(os.path.join(base, bus, "information")) or ""
        fields = dict(
            (k.strip(), v.strip()) for k, v in (line.split(":", 1) for line in info.splitlines() if ":" in line)
        )
        found.append(
            {
                "index": _int(fields.get("Device Minor"), len(found)),
                "model": fields.get("Model", "unknown"),
                "bus_id": bus,
                "numa_node": _numa(os.path.join(root, "sys/bus/pci/devices", bus.lower(), "numa_node")),
            }
        )
    return sorted(found, key=lambda g: g["index"])


def hcas(root: str) -> list[dict[str, Any]]:
    """Every port of every RDMA device: '4: ACTIVE', '400 Gb/sec (4X NDR)', 'InfiniBand' or 'Ethernet' (RoCE)."""
    found = []
    base = os.path.join(root, "sys/class/infiniband")
    for name in _list(base):
        device = os.path.join(base, name, "device")
        netdevs = _list(os.path.join(device, "net"))
        for port in _list(os.path.join(base, name, "ports")):
            where = os.path.join(base, name, "ports", port)
            state = _read(os.path.join(where, "state")) or ""
            rate = re.match(r"\s*([\d.]+)\s*Gb/sec", _read(os.path.join(where, "rate"), "") or "")
            found.append(
                {
                    "name": name,
                    "port": _int(port, 1),
                    "state": state.split(":")[-1].strip().upper() or "UNKNOWN",
                    "rate_gbps": float(rate.group(1)) if rate else None,
                    "link_layer": _read(os.path.join(where, "link_layer"), "InfiniBand"),
                    "numa_node": _numa(os.path.join(device, "numa_node")),
                    "netdev": netdevs[0] if netdevs else None,
                }
            )
    return found


def affinity(gpu_list: list[dict[str, Any]], hca_list: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Each GPU's nearest HCAs: those on its NUMA node (all of them where the firmware does not say)."""
    result = {}
    for gpu in gpu_list:
        near = [h["name"] for h in hca_list if gpu["numa_node"] is None or h["numa_node"] in (None, gpu["numa_node"])]
        result[str(gpu["index"])] = sorted(set(near))
    return result


_SIOCGIFADDR = 0x8915
_SIOCGIFNETMASK = 0x891B


def interfaces() -> list[dict[str, Any]]:
    """Each interface's IPv4 addresses with their prefix: the interface that carries a subnet is the one to give
    NCCL and Gloo. Read from the running kernel (a test tree cannot stand in for it)."""
    found = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _, name in socket.if_nameindex():
            packed = struct.pack("256s", name.encode()[:15])
            try:
                address = socket.inet_ntoa(_ioctl(s, _SIOCGIFADDR, packed)[20:24])
                mask = socket.inet_ntoa(_ioctl(s, _SIOCGIFNETMASK, packed)[20:24])
            except OSError:
                continue
            prefix = sum(bin(int(part)).count("1") for part in mask.split("."))
            found.append({"name": name, "ipv4": [f"{address}/{prefix}"]})
    return found


def _ioctl(sock: socket.socket, request: int, packed: bytes) -> bytes:
    import fcntl

    return fcntl.ioctl(sock.fileno(), request, packed)


def _command(argv: list[str]) -> str | None:
    try:
        done = subprocess.run(
            argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=_COMMAND_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.decode(errors="replace") if done.returncode == 0 else None


def _version_in(text: str | None, pattern: str) -> str | None:
    found = re.search(pattern, text or "")
    return found.group(1) if found else None


def versions(root: str) -> dict[str, str | None]:
    fm = os.path.join(root, "usr/bin/nv-fabricmanager")
    nccl = [
        _version_in(name, r"libnccl\.so\.(\d+\.\d+\.\d+)")
        for lib in ("usr/lib/x86_64-linux-gnu", "usr/lib64", "usr/local/lib", "usr/lib/aarch64-linux-gnu")
        for name in _list(os.path.join(root, lib))
    ]
    cuda = _read(os.path.join(root, "usr/local/cuda/version.json"))
    return {
        "driver": _read(os.path.join(root, "sys/module/nvidia/version")),
        # Fabric manager prints "Fabric Manager version is : 570.86.15".
        "fabric_manager": _version_in(_command([fm, "--version"]), r"version is\s*:\s*(\S+)")
        if os.path.exists(fm)
        else None,
        "ofed": (_command(["ofed_info", "-s"]) or "").strip().rstrip(":") or None,
        "rdma_core": _version_in(_command(["ibv_devinfo", "--version"]), r"(\d+(?:\.\d+)+)"),
        "cuda": json.loads(cuda).get("cuda", {}).get("version") if cuda else None,
        "nccl": max((v for v in nccl if v), default=None, key=lambda v: tuple(int(p) for p in v.split("."))),
    }


def collect(root: str) -> dict[str, Any]:
    gpu_list, hca_list = gpus(root), hcas(root)
    return {
        "schema": SCHEMA,
        "hostname": socket.gethostname(),
        "gpus": gpu_list,
        "hcas": hca_list,
        "gpu_hcas": affinity(gpu_list, hca_list),
        "interfaces": interfaces(),
        "nvswitches": len(_list(os.path.join(root, "proc/driver/nvidia-nvswitch/devices"))),
        "modules": {
            name: os.path.isdir(os.path.join(root, "sys/module", name)) for name in ("nvidia", "nvidia_peermem")
        },
        "versions": versions(root),
    }


def _space(path: str) -> tuple[int | None, int | None]:
    """The size and the free space, in bytes, of the file system that holds PATH."""
    try:
        st = os.statvfs(path)
    except OSError:
        return None, None
    return st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize


def newest(snapshots: str) -> str | None:
    """The newest snapshot of a model in a Hugging Face cache (HF_HOME/hub/models--ORG--NAME/snapshots)."""
    folders = [os.path.join(snapshots, s) for s in _list(snapshots)]
    return max(folders, key=os.path.getmtime) if folders else None


def weights(folder: str | None) -> dict[str, Any]:
    """config.json and every weight file the model's index names, each with the size recorded when the model_cache
    role verified it (.lc-verified.json), where it did."""
    if not folder or not os.path.isdir(folder):
        return {"present": False, "missing": ["the model's folder"], "verified": False, "changed": []}
    needed = ["config.json"]
    index = _read(os.path.join(folder, "model.safetensors.index.json"))
    if index:
        needed += sorted(set(json.loads(index).get("weight_map", {}).values()))
    elif not any(n.endswith(".safetensors") for n in _list(folder)):
        needed.append("*.safetensors")
    missing = [n for n in needed if not os.path.isfile(os.path.join(folder, n))]
    ledger = _read(os.path.join(folder, ".lc-verified.json"))
    changed = []
    if ledger:
        for name, entry in json.loads(ledger).items():
            path = os.path.join(folder, name)
            if not os.path.isfile(path) or os.path.getsize(path) != entry.get("size"):
                changed.append(name)
    return {"present": not missing, "missing": missing, "verified": bool(ledger) and not changed, "changed": changed}


def live(spec: dict[str, str]) -> dict[str, Any]:
    """What only a process inside the job sees: its locked-memory limit (RDMA registers GPU memory), /dev/shm
    (NCCL's intra-node buffers), free disk for the model cache, the engine, the weights."""
    soft, _ = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    result: dict[str, Any] = {
        "memlock_bytes": None if soft == resource.RLIM_INFINITY else soft,
        "shm_bytes": _space("/dev/shm")[0],
    }
    if spec.get("cache_dir"):
        result["cache_free_bytes"] = _space(spec["cache_dir"])[1]
    if spec.get("engine"):
        result["engine_present"] = os.path.exists(spec["engine"])
    if spec.get("snapshots"):
        result["weights"] = weights(newest(spec["snapshots"]))
    elif spec.get("model_dir"):
        result["weights"] = weights(spec["model_dir"])
    return result


def write(path: str, text: str, check: bool) -> bool:
    """TEXT in PATH, world-readable and root's, in a folder of mode 0755; whether anything was (with CHECK: would be)
    changed. The role calls it instead of a folder and a copy task: each task costs every node a Python start on each
    `up`, and this runs on each one."""
    folder = os.path.dirname(path)
    as_root = os.geteuid() == 0
    try:
        with open(path) as f:
            same = f.read() == text
        info = os.stat(path)
        same = same and info.st_mode & 0o777 == 0o644 and (not as_root or (info.st_uid, info.st_gid) == (0, 0))
        same = same and os.stat(folder).st_mode & 0o777 == 0o755
    except OSError:
        same = False
    if same or check:
        return not same
    os.makedirs(folder, mode=0o755, exist_ok=True)
    os.chmod(folder, 0o755)
    part = path + ".new"
    with open(part, "w") as f:
        f.write(text)
    os.chmod(part, 0o644)
    if as_root:
        os.chown(part, 0, 0)
    os.replace(part, path)
    return True


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="node_facts", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default="/", help="where /sys and /proc are read (a test tree)")
    parser.add_argument("--live", help="JSON: also check cache_dir, engine, and snapshots (a hub cache's) or model_dir")
    parser.add_argument("--write", metavar="PATH", help='keep the facts in PATH and print {"changed": ...} instead')
    parser.add_argument("--check", action="store_true", help="with --write: only say whether PATH would change")
    args = parser.parse_args(argv)
    facts = collect(args.root)
    if args.live is not None:
        facts["live"] = live(json.loads(args.live))
    text = json.dumps(facts, indent=2, sort_keys=True) + "\n"
    if args.write:
        text = json.dumps({"changed": write(args.write, text, args.check)}) + "\n"
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
