"""The sandbox on a machine with NVIDIA GPUs: each namespace node gets the next of the machine's GPUs as its GRES, the
jobs run the engines installed in the venvs given (no CPU build), and the nodes' facts are read from the machine
itself. Everything is checked before the sandbox changes anything."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from lc_cluster.catalog import load_catalog
from lc_cluster.catalog.schema import GpuSpec
from lc_cluster.engines import ENGINES
from lc_cluster.errors import LcError

_MODEL = re.compile(r"^Model:\s*(.+?)\s*$", re.M)
_MINOR = re.compile(r"^Device Minor:\s*(\d+)\s*$", re.M)


@dataclass(frozen=True)
class RealGpus:
    engine_venvs: dict[str, str]
    router_venv: str | None = None

    def check(self) -> None:
        for engine, venv in self.engine_venvs.items():
            if not venv:
                raise LcError(f"--engine-venv {engine}: give ENGINE=VENV, e.g. vllm=/opt/venvs/vllm")
            if engine not in ENGINES:
                raise LcError(f"--engine-venv {engine}=...: the engine is one of {', '.join(ENGINES)}")
            if not (Path(venv) / "bin" / "python").exists():
                raise LcError(f"--engine-venv {engine}={venv}: no bin/python there; give the engine's venv")
        if not self.engine_venvs:
            raise LcError("--real-gpus needs the engine's venv: --engine-venv vllm=/path/to/venv")
        if self.router_venv is not None and not (Path(self.router_venv) / "bin").is_dir():
            raise LcError(f"--router-venv {self.router_venv}: no bin/ there; give the routers' venv")

    @property
    def python(self) -> str:
        """The interpreter that builds the model: any engine's has transformers and tokenizers."""
        return str(Path(next(iter(self.engine_venvs.values()))) / "bin" / "python")


@dataclass(frozen=True)
class MachineGpu:
    minor: int
    model: str

    @property
    def device(self) -> str:
        return f"/dev/nvidia{self.minor}"


def machine_gpus(root: Path = Path("/")) -> list[MachineGpu]:
    """The GPUs the NVIDIA driver lists, by device minor (the N of /dev/nvidiaN)."""
    found = []
    for info in sorted((root / "proc/driver/nvidia/gpus").glob("*/information")):
        text = info.read_text()
        model, minor = _MODEL.search(text), _MINOR.search(text)
        if model and minor:
            found.append(MachineGpu(int(minor.group(1)), model.group(1)))
    return sorted(found, key=lambda g: g.minor)


def catalog_gpu(gpus: list[MachineGpu]) -> GpuSpec:
    """The catalog's type of this machine's GPUs, which the sandbox's cluster file names."""
    if not gpus:
        raise LcError("--real-gpus: the NVIDIA driver lists no GPU here (/proc/driver/nvidia/gpus is empty)")
    models = sorted({g.model for g in gpus})
    matches = [spec for spec in load_catalog().gpus.values() if all(spec.named_by(m) for m in models)]
    if len(matches) != 1:
        names = ", ".join(s.name for s in matches) or "none"
        raise LcError(f"--real-gpus: {' and '.join(models)} is not one catalog GPU type (matches: {names})")
    return matches[0]


def node_devices(gpus: list[MachineGpu], nodes: int, gpus_per_node: int) -> list[list[str]]:
    """Node i gets GPUs i*G .. i*G+G-1 of the machine, as their device files."""
    if nodes * gpus_per_node > len(gpus):
        raise LcError(
            f"--nodes {nodes} x --gpus-per-node {gpus_per_node} needs {nodes * gpus_per_node} GPUs; this machine "
            f"has {len(gpus)}"
        )
    return [[g.device for g in gpus[i * gpus_per_node : (i + 1) * gpus_per_node]] for i in range(nodes)]
