"""A flat apt repository holding packages and all they need, for hosts that cannot reach the distribution."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

from lc_cluster.sandbox.system import run

_CHROOT_CACHE = "var/cache/lc-mirror"


def build_from_root(root: Path, packages: list[str], out: Path) -> int:
    """Download packages, with every dependency that the system tree at root lacks, into out; index them.
    The tree is one like the hosts run (same release), so the closure is exactly what the hosts will ask for."""
    run("chroot", str(root), "apt-get", "update", "-qq")
    run(
        "chroot", str(root), "apt-get", "install", "-y", "-qq", "--download-only", "--no-install-recommends",
        "-o", f"Dir::Cache::archives=/{_CHROOT_CACHE}", *packages,
    )  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    for deb in (root / _CHROOT_CACHE).glob("*.deb"):
        shutil.copy2(deb, out / deb.name)
    return index(out)


def index(out: Path) -> int:
    listing = run("dpkg-scanpackages", "--multiversion", ".", cwd=out)
    (out / "Packages").write_text(listing)
    with gzip.open(out / "Packages.gz", "wt") as f:
        f.write(listing)
    return len(list(out.glob("*.deb")))
