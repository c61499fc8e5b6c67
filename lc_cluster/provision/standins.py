"""Stand-in .debs for the packages only NVIDIA publishes (driver, fabric manager, container toolkit, enroot, pyxis).

They carry the real names and the versions the roles ask for, ship the files and services the roles manage, and do
nothing with GPUs. Test hosts without NVIDIA hardware install them so that the roles' repository, pin, hold, service
and version-matching logic runs for real. pyxis' stand-in is a real SPANK plugin compiled against this machine's
Slurm headers, so Slurm loads it, or refuses it for another release, as it would pyxis."""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from lc_cluster.errors import LcError
from lc_cluster.host import run
from lc_cluster.provision.runner import ROLES

FILES = Path(__file__).parent / "standin_files"
SLURM_VERSION_HEADER = Path("/usr/include/slurm/slurm_version.h")


@dataclass(frozen=True)
class StandIn:
    name: str
    version: str
    # Installed path -> (file in standin_files, mode); '@VERSION@' in a file becomes the upstream version.
    files: dict[str, tuple[str, int]] = field(default_factory=dict)
    depends: str = ""


def role_default(role: str, name: str) -> str:
    defaults = yaml.safe_load((ROLES / role / "defaults" / "main.yml").read_text())
    return str(defaults[name])


def slurm_release() -> str:
    """major.minor of the Slurm whose headers are installed here (the release the pyxis stand-in is built for)."""
    try:
        header = SLURM_VERSION_HEADER.read_text()
    except OSError:
        raise LcError(f"{SLURM_VERSION_HEADER} is missing: install libslurm-dev to build the pyxis stand-in") from None
    found = re.search(r"#define SLURM_VERSION_NUMBER 0x([0-9a-fA-F]{6})", header)
    if not found:
        raise LcError(f"no SLURM_VERSION_NUMBER in {SLURM_VERSION_HEADER}")
    number = int(found.group(1), 16)
    return f"{number >> 16:02d}.{(number >> 8) & 0xFF:02d}"


def packages() -> list[StandIn]:
    branch = role_default("nvidia_driver", "nvidia_driver_branch")
    driver = role_default("nvidia_driver", "nvidia_driver_version")
    toolkit = role_default("container_runtime", "container_runtime_toolkit_version")
    enroot = role_default("container_runtime", "container_runtime_enroot_version")
    pyxis = role_default("container_runtime", "container_runtime_pyxis_version")
    plugin = role_default("container_runtime", "container_runtime_pyxis_plugin")
    units = "/usr/lib/systemd/system"
    return [
        StandIn(f"nvidia-dkms-{branch}-open", f"{driver}-1"),
        StandIn(
            f"nvidia-driver-{branch}-open", f"{driver}-1",
            {"/usr/bin/nvidia-smi": ("nvidia-smi", 0o755),
             "/usr/bin/nvidia-persistenced": ("nvidia-persistenced", 0o755),
             f"{units}/nvidia-persistenced.service": ("nvidia-persistenced.service", 0o644)},
            depends=f"nvidia-dkms-{branch}-open (= {driver}-1)",
        ),
        StandIn(
            f"nvidia-fabricmanager-{branch}", f"{driver}-1",
            {"/usr/bin/nv-fabricmanager": ("nv-fabricmanager", 0o755),
             f"{units}/nvidia-fabricmanager.service": ("nvidia-fabricmanager.service", 0o644)},
        ),
        StandIn("nvidia-container-toolkit-base", f"{toolkit}-1", {"/usr/bin/nvidia-ctk": ("nvidia-ctk", 0o755)},
                depends="python3"),
        StandIn(
            "nvidia-container-toolkit", f"{toolkit}-1",
            {"/usr/bin/nvidia-container-runtime": ("nvidia-container-runtime", 0o755)},
            depends=f"nvidia-container-toolkit-base (= {toolkit}-1)",
        ),
        StandIn("enroot", f"{enroot}-1", {"/usr/bin/enroot": ("enroot", 0o755)}),
        StandIn(
            "nvslurm-plugin-pyxis", f"{pyxis}-1+slurm{slurm_release()}",
            {plugin: ("spank_pyxis.so", 0o755)}, depends="slurm-client",
        ),
    ]  # fmt: skip


def build(out: Path) -> list[Path]:
    """Write every stand-in .deb into out."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lc-standins-") as work:
        compiled = Path(work) / "spank_pyxis.so"
        run("gcc", "-shared", "-fPIC", "-O2", "-o", str(compiled), str(FILES / "spank_pyxis.c"))
        return [_build_one(package, Path(work), compiled.parent, out) for package in packages()]


def _build_one(package: StandIn, work: Path, compiled_dir: Path, out: Path) -> Path:
    tree = work / package.name
    for target, (source, mode) in package.files.items():
        path = tree / target.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        if source.endswith(".so"):
            shutil.copyfile(compiled_dir / source, path)
        else:
            upstream = package.version.split("-")[0]
            path.write_text((FILES / source).read_text().replace("@VERSION@", upstream))
        path.chmod(mode)
    control = tree / "DEBIAN" / "control"
    control.parent.mkdir(parents=True, exist_ok=True)
    control.write_text(
        f"Package: {package.name}\nVersion: {package.version}\nArchitecture: amd64\n"
        "Maintainer: lc-cluster <stand-ins@lc-cluster.invalid>\n"
        + (f"Depends: {package.depends}\n" if package.depends else "")
        + f"Description: lc-cluster test stand-in for {package.name}\n"
        " Same name and version as NVIDIA's package; ships the files and services lc-cluster's roles manage,\n"
        " and no driver.\n"
    )
    deb = out / f"{package.name}_{package.version}_amd64.deb"
    run("dpkg-deb", "--root-owner-group", "--build", str(tree), str(deb))
    return deb
