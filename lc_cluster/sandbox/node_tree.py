"""A folder that stands in for a GPU node's /sys, /proc and /usr/bin, the way the kernel and NVIDIA's packages lay
them out: GPUs, HCA ports, the driver and nvidia-peermem modules, NVSwitches and the fabric manager. The sandbox gives
each node one, so node facts and `doctor` read real files through the same code as on a real node, and tests break
one (a port DOWN, peermem unloaded, another fabric manager) to see that it is named."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lc_cluster.provision.standins import FILES


@dataclass(frozen=True)
class NodeShape:
    gpus: int
    gpu_model: str
    hcas: tuple[str, ...] = ("mlx5_0", "mlx5_1")
    rate_gbps: int = 400
    driver: str = "570.86.15"
    fabric_manager: str | None = "570.86.15"
    nvswitches: int = 4
    peermem: bool = True


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def write(root: Path, shape: NodeShape) -> None:
    """GPUs and HCAs alternate between two NUMA nodes, as on a two-socket 8-GPU server."""
    for i in range(shape.gpus):
        bus = f"0000:{0x18 + 0x10 * i:02x}:00.0"
        _write(
            root / f"proc/driver/nvidia/gpus/{bus}/information",
            f"Model: \t\t {shape.gpu_model}\nIRQ:   \t\t 0\nDevice Minor: \t {i}\nBus Location: \t {bus}\n",
        )
        _write(root / f"sys/bus/pci/devices/{bus}/numa_node", f"{i * 2 // max(shape.gpus, 1)}\n")
    for i, hca in enumerate(shape.hcas):
        base = root / "sys/class/infiniband" / hca
        _write(base / "ports/1/state", "4: ACTIVE\n")
        _write(base / "ports/1/phys_state", "5: LinkUp\n")
        _write(base / "ports/1/rate", f"{shape.rate_gbps} Gb/sec (4X NDR)\n")
        _write(base / "ports/1/link_layer", "InfiniBand\n")
        _write(base / "device/numa_node", f"{i * 2 // max(len(shape.hcas), 1)}\n")
        (base / "device/net" / f"ibp{i}s0").mkdir(parents=True, exist_ok=True)
    _write(root / "sys/module/nvidia/version", shape.driver + "\n")
    set_module(root, "nvidia_peermem", loaded=shape.peermem)
    for i in range(shape.nvswitches):
        _write(root / f"proc/driver/nvidia-nvswitch/devices/0000:{0x80 + i:02x}:00.0/information", "")
    if shape.fabric_manager:
        set_fabric_manager(root, shape.fabric_manager)


def set_fabric_manager(root: Path, version: str) -> None:
    """NVIDIA's fabric manager of VERSION (the stand-in package's binary, which answers --version like it)."""
    script = (FILES / "nv-fabricmanager").read_text().replace("@VERSION@", version)
    _write(root / "usr/bin/nv-fabricmanager", script, 0o755)


def set_port_state(root: Path, hca: str, state: str) -> None:
    """STATE as the kernel writes it: '1: DOWN', '4: ACTIVE'."""
    _write(root / "sys/class/infiniband" / hca / "ports/1/state", state + "\n")


def set_module(root: Path, name: str, *, loaded: bool) -> None:
    """The kernel lists a loaded module as a folder /sys/module/NAME."""
    folder = root / "sys/module" / name
    if loaded:
        folder.mkdir(parents=True, exist_ok=True)
    elif folder.is_dir():
        folder.rmdir()
