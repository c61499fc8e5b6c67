"""What the roles' Molecule scenarios need on this machine: podman set up for it, the hosts' Debian image imported
into podman, and the package mirror. Prints shell assignments for scripts/molecule.sh to evaluate."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys

from lc_cluster.host import netns_exists, run
from lc_cluster.paths import cache_home
from lc_cluster.sandbox import bare

IMAGE = f"localhost/debian:{bare.RELEASE}"
# The containers' network namespace: loopback plus one dummy address, because getaddrinfo() with AI_ADDRCONFIG (as
# slurmctld calls it) finds nothing on a host that has loopback only. Nothing leaves it.
NETNS = "lcs-molecule"
ADDRESS = "10.77.1.1/24"
PACKAGES = ("podman", "runc")
# podman 4.3 on this kind of machine (cgroup v1 hybrid, no systemd as PID 1): crun and the systemd cgroup manager
# fail, and the default ulimits exceed what the machine allows. Kept out of /etc: only these runs use it.
CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
netns = "none"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
"""


def prepare() -> dict[str, str]:
    cache = cache_home()
    bare.ensure_tools_and_image(cache, _say, PACKAGES)
    conf = cache / "molecule-containers.conf"
    conf.write_text(CONTAINERS_CONF)
    env = {"CONTAINERS_CONF": str(conf)}
    mirror = bare.ensure_mirror(cache)
    _ensure_netns()
    stamp = cache / f"debian-{bare.RELEASE}.ready"
    imported = cache / "podman-image.imported"
    present = subprocess.run(["podman", "image", "exists", IMAGE], env=_with(env), check=False).returncode == 0
    if not present or not imported.exists() or imported.stat().st_mtime < stamp.stat().st_mtime:
        _say(f"importing the image into podman as {IMAGE}")
        tree = subprocess.Popen(["tar", "-C", str(bare.image_dir(cache)), "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(["podman", "import", "-q", "-", IMAGE], stdin=tree.stdout, env=_with(env), check=True,
                       capture_output=True)  # fmt: skip
        tree.wait()
        imported.touch()
    return {**env, "LC_MOLECULE_MIRROR": str(mirror), "LC_MOLECULE_NETNS": NETNS}


def _ensure_netns() -> None:
    if netns_exists(NETNS):
        if ADDRESS in run("ip", "-n", NETNS, "addr", "show", check=False):
            return
        run("ip", "netns", "delete", NETNS)
    run("ip", "netns", "add", NETNS)
    run("ip", "-n", NETNS, "link", "set", "lo", "up")
    # Both ends of a veth pair inside the namespace (this kernel has no dummy interfaces): an address, no way out.
    run("ip", "-n", NETNS, "link", "add", "lcm0", "type", "veth", "peer", "name", "lcm1")
    run("ip", "-n", NETNS, "addr", "add", ADDRESS, "dev", "lcm0")
    for link in ("lcm0", "lcm1"):
        run("ip", "-n", NETNS, "link", "set", link, "up")


def _with(env: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **env}


def _say(text: str) -> None:
    sys.stderr.write(f"molecule env: {text}\n")


if __name__ == "__main__":
    for name, value in prepare().items():
        sys.stdout.write(f"{name}={shlex.quote(value)}\n")
