"""A package mirror for hosts that cannot reach the internet, as `lc-cluster mirror build` writes it.

    OUT/repo.asc  the mirror's own public key, which signs every apt repository below
    OUT/debian/   flat apt repository: the distribution's packages the roles install, with all they need
    OUT/nvidia/   NVIDIA's packages in two flat apt repositories laid out as NVIDIA's (cuda/, container/): the roles
                  add them exactly as they add NVIDIA's (nvidia/repo.asc is the same key)
    OUT/wheels/   Python wheels, for pip's --find-links

Served over HTTP from one directory, it is what the roles' *_repo_url and base_package_mirror point at. The hosts
trust the key given in the inventory (base_package_mirror_key, *_repo_key_url), not one fetched from the mirror.
Each part is built beside the old one and swapped in whole: a rebuild keeps no stale package, a failed one leaves
the previous mirror as it was."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lc_cluster import safe_files
from lc_cluster.errors import LcError
from lc_cluster.host import run

_CHROOT_CACHE = "var/cache/lc-mirror"
# Changes when the mirror's layout does (2: debian/ signed, repo.asc at the top), so cached mirrors are rebuilt.
_LAYOUT = "layout 2"
SIGNER = "lc-cluster mirror <mirror@lc-cluster.invalid>"
# Packages NVIDIA publishes beside its container toolkit (pyxis and enroot have no repository of their own).
CONTAINER_PACKAGES = ("nvidia-container", "libnvidia-container", "enroot", "nvslurm-plugin-pyxis")
# The distribution's packages the roles install (base, rdma, slurm, container_runtime, monitoring, nvidia_driver's
# helpers).
DISTRO_PACKAGES = [
    "chrony", "python3-debian", "ca-certificates",
    "rdma-core", "ibverbs-utils", "infiniband-diags", "perftest",
    "slurmctld", "slurmd", "slurm-client", "munge",
    "docker.io", "runc",
    "prometheus", "prometheus-node-exporter",
]  # fmt: skip


@dataclass(frozen=True)
class MirrorSpec:
    out: Path
    # A system tree of the hosts' release: the distribution's closure is computed against it.
    root: Path
    packages: list[str] = field(default_factory=lambda: list(DISTRO_PACKAGES))
    vendor_debs: list[Path] = field(default_factory=list)
    standins: bool = False
    wheels: list[str] = field(default_factory=list)


def check_writable(out: Path) -> None:
    """Before anything is downloaded, and without writing anything: the output folder can be made and written."""
    if any(len(part) > 255 for part in out.parts):
        raise LcError(f"cannot write the mirror to {out}: a folder name is longer than 255 characters; choose another")
    existing = out.resolve()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise LcError(f"cannot write the mirror to {out}: {existing} is not a folder you can write; choose another")


def build(spec: MirrorSpec, signing_home: Path, progress: Callable[[str], None]) -> dict[str, int]:
    """Every part of the mirror; returns how many files each holds."""
    from lc_cluster.provision import standins

    key = _ensure_signing_key(signing_home)
    spec.out.mkdir(parents=True, exist_ok=True)
    distro = spec.out / "debian"
    counts = {"debian": _replace(distro, lambda d: build_distro(spec.root, spec.packages, d, signing_home))}
    progress(f"debian: {counts['debian']} packages, signed (key: repo.asc)")
    if spec.vendor_debs or spec.standins:
        with tempfile.TemporaryDirectory(prefix="lc-standins-") as work:
            vendor = spec.vendor_debs + (standins.build(Path(work)) if spec.standins else [])
            counts["nvidia"] = _replace(spec.out / "nvidia", lambda d: build_vendor(vendor, d, signing_home))
        progress(f"nvidia: {counts['nvidia']} packages in cuda/ and container/, signed (key: repo.asc)")
    if spec.wheels:
        counts["wheels"] = _replace(spec.out / "wheels", lambda d: download_wheels(spec.wheels, d))
        progress(f"wheels: {counts['wheels']} files")
    # Last: a key beside the repositories says they are complete, so a build that failed half way leaves none.
    safe_files.replace(spec.out / "repo.asc", key, 0o644)
    return counts


def _replace(part: Path, make: Callable[[Path], int]) -> int:
    """Build PART in a staging folder beside it, then swap it in: nothing of an earlier build stays."""
    staging, old = part.with_name(f".{part.name}.new"), part.with_name(f".{part.name}.old")
    for leftover in (staging, old):
        shutil.rmtree(leftover, ignore_errors=True)
    staging.mkdir()
    try:
        count = make(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if part.exists():
        part.rename(old)
    staging.rename(part)
    shutil.rmtree(old, ignore_errors=True)
    return count


def fingerprint(spec: MirrorSpec) -> str:
    """Changes whenever the mirror would hold something else: packages, stand-in versions, wheels."""
    from lc_cluster.provision import standins

    parts = [_LAYOUT, *spec.packages, *map(str, spec.vendor_debs), *spec.wheels]
    if spec.standins:
        parts += [f"{p.name}={p.version}" for p in standins.packages()]
        parts += [f.read_text() for f in sorted(standins.FILES.iterdir())]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def build_distro(root: Path, packages: list[str], out: Path, signing_home: Path) -> int:
    """Download packages, with every dependency that the system tree at root lacks, into out; index them.
    The tree is one like the hosts run (same release), so the closure is exactly what the hosts will ask for."""
    cache = root / _CHROOT_CACHE
    # Only this build's closure goes into the mirror, and the tree (the hosts' image) does not keep the downloads.
    shutil.rmtree(cache, ignore_errors=True)
    run("chroot", str(root), "apt-get", "update", "-qq")
    run(
        "chroot", str(root), "apt-get", "install", "-y", "-qq", "--download-only", "--no-install-recommends",
        "-o", f"Dir::Cache::archives=/{_CHROOT_CACHE}", *packages,
    )  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    for deb in cache.glob("*.deb"):
        shutil.move(deb, out / deb.name)
    shutil.rmtree(cache, ignore_errors=True)
    count = index(out)
    _sign(out, signing_home)
    return count


def build_vendor(debs: list[Path], out: Path, signing_home: Path) -> int:
    """NVIDIA's two repositories (cuda/: driver and fabric manager; container/: toolkit, enroot, pyxis), each signed,
    with the public key beside them as repo.asc. Two, as NVIDIA has: one URL with two signers confuses apt."""
    for repo in ("cuda", "container"):
        directory = out / repo
        directory.mkdir(parents=True, exist_ok=True)
        for deb in debs:
            if vendor_repo(deb.name) == repo:
                shutil.copy2(deb, directory / deb.name)
        index(directory)
        _sign(directory, signing_home)
    (out / "repo.asc").write_text(_ensure_signing_key(signing_home))
    return len(list(out.glob("*/*.deb")))


def vendor_repo(deb_name: str) -> str:
    return "container" if deb_name.startswith(CONTAINER_PACKAGES) else "cuda"


def download_wheels(requirements: list[str], out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    run(sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "-d", str(out), *requirements,
        timeout=3600)  # fmt: skip
    return len(list(out.glob("*.whl"))) + len(list(out.glob("*.tar.gz")))


def index(out: Path) -> int:
    listing = run("dpkg-scanpackages", "--multiversion", ".", cwd=out)
    (out / "Packages").write_text(listing)
    with gzip.open(out / "Packages.gz", "wt") as f:
        f.write(listing)
    return len(list(out.glob("*.deb")))


def _write_release(out: Path) -> None:
    files = [out / "Packages", out / "Packages.gz"]
    lines = [f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S UTC', time.gmtime())}"]
    for heading, algorithm in (("MD5Sum", "md5"), ("SHA256", "sha256")):
        lines.append(f"{heading}:")
        lines += [f" {hashlib.new(algorithm, f.read_bytes()).hexdigest()} {f.stat().st_size} {f.name}" for f in files]
    (out / "Release").write_text("\n".join(lines) + "\n")


def _sign(out: Path, signing_home: Path) -> None:
    """Release with the index's checksums, signed inline (InRelease) and detached (Release.gpg), as apt expects."""
    _ensure_signing_key(signing_home)
    _write_release(out)
    sign = ["--yes", "--local-user", SIGNER]
    _gpg(signing_home, *sign, "--clearsign", "-o", str(out / "InRelease"), str(out / "Release"))
    _gpg(signing_home, *sign, "--armor", "--detach-sign", "-o", str(out / "Release.gpg"), str(out / "Release"))


def _ensure_signing_key(home: Path) -> str:
    """The mirror's key is made once and kept, so hosts that trust it keep trusting rebuilt mirrors. Returns the
    public key, armored."""
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    if SIGNER.split("<")[1].rstrip(">") not in _gpg(home, "--list-secret-keys", check=False):
        _gpg(home, "--passphrase", "", "--quick-gen-key", SIGNER, "ed25519", "sign", "never")
    return _gpg(home, "--armor", "--export", SIGNER)


def _gpg(home: Path, *args: str, check: bool = True) -> str:
    try:
        return run("gpg", "--homedir", str(home), "--batch", *args, check=check)
    finally:
        # gpg leaves an agent running for its home; nothing of a build may outlive it.
        run("gpgconf", "--homedir", str(home), "--kill", "gpg-agent", check=False)
