"""`sandbox up --bare`: systemd hosts with sshd, each in its own network namespace, for the provisioning roles.

Hosts are systemd-nspawn containers booted from one cached Debian image, each with a throw-away overlay, so a run
changes only that host. They cannot reach Debian's servers: a package mirror built from the same image is served in
the hub namespace, exactly as an air-gapped cluster serves its own."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import yaml

from lc_cluster.errors import LcError
from lc_cluster.host import apt_install, missing_packages, require_root, run, start
from lc_cluster.provision import mirror
from lc_cluster.sandbox.topology import Host, Topology

RELEASE = "bookworm"
# What the hosts boot with; Ansible's apt module needs python3-apt on the target.
IMAGE_PACKAGES = "systemd-sysv,dbus,openssh-server,python3,python3-apt,iproute2,procps,ca-certificates"
MIRROR_PORT = 8080
# debootstrap and nspawn for the hosts; dpkg-dev, gnupg, gcc and Slurm's headers to build the mirror and stand-ins.
HOST_PACKAGES = ["debootstrap", "systemd-container", "dpkg-dev", "gnupg", "gcc", "libslurm-dev", "netcat-openbsd",
                 "openssh-client"]  # fmt: skip


def image_dir(cache: Path) -> Path:
    return cache / f"debian-{RELEASE}"


def ensure_image(cache: Path) -> bool:
    image = image_dir(cache)
    stamp = cache / f"debian-{RELEASE}.ready"
    if stamp.exists():
        return False
    run("rm", "-rf", str(image))
    run("debootstrap", "--variant=minbase", f"--include={IMAGE_PACKAGES}", RELEASE, str(image), timeout=1800)
    # Each host gets its own identity at boot.
    (image / "etc" / "hostname").write_text("")
    (image / "etc" / "machine-id").write_text("")
    (image / "root" / ".ssh").mkdir(mode=0o700, exist_ok=True)
    stamp.touch()
    return True


def ensure_tools_and_image(cache: Path, say: Callable[[str], None], extra_packages: tuple[str, ...] = ()) -> Path:
    """This machine's packages for building hosts and mirrors, and the cached host image; returns the image."""
    require_root()
    missing = missing_packages([*HOST_PACKAGES, *extra_packages])
    if missing:
        say(f"installing {' '.join(missing)}")
        apt_install(missing)
    cache.mkdir(parents=True, exist_ok=True)
    if ensure_image(cache):
        say(f"built the Debian {RELEASE} image")
    return image_dir(cache)


def ensure_mirror(cache: Path) -> Path:
    """The mirror exactly as `lc-cluster mirror build --standins` writes it, rebuilt when what it must hold changes."""
    out = cache / f"mirror-{RELEASE}"
    spec = mirror.MirrorSpec(out=out, root=image_dir(cache), standins=True)
    stamp = out / f".built-{mirror.fingerprint(spec)}"
    if not stamp.exists():
        run("rm", "-rf", str(out))
        mirror.build(spec, cache / "mirror-signing", lambda _: None)
        stamp.touch()
    return out


def ensure_key(cache: Path) -> Path:
    key = cache / "sandbox-ssh" / "id_ed25519"
    if not key.exists():
        key.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "lc-cluster-sandbox", "-f", str(key))
    return key


def hosts(topo: Topology, count: int) -> list[Host]:
    return [topo.bare_controller(), *topo.nodes(count)]


def start_hosts(topo: Topology, root: Path, cache: Path, count: int, key: Path, mirror: Path) -> dict[str, int]:
    pids = {
        "mirror": start(
            ["nsenter", f"--net=/run/netns/{topo.hub}", "python3", "-m", "http.server", str(MIRROR_PORT),
             "--bind", topo.controller().ip, "--directory", str(mirror)],
            root / "log" / "mirror.log",
        )
    }  # fmt: skip
    for host in hosts(topo, count):
        pids[f"host-{host.hostname}"] = start(
            ["systemd-nspawn", "--quiet", "--boot", f"--directory={image_dir(cache)}", "--volatile=overlay",
             f"--network-namespace-path=/run/netns/{host.netns}", "--register=no", "--keep-unit",
             f"--machine={host.hostname}", f"--bind-ro={key}.pub:/root/.ssh/authorized_keys"],
            root / "log" / f"host-{host.hostname}.log",
        )  # fmt: skip
    return pids


def ssh_options(topo: Topology, key: Path) -> list[str]:
    return [
        "-i", str(key), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
        "-o", f"ProxyCommand=nsenter --net=/run/netns/{topo.hub} nc %h %p",
    ]  # fmt: skip


def wait_ssh(topo: Topology, count: int, key: Path, timeout_s: float = 90) -> None:
    pending = {h.hostname: h for h in hosts(topo, count)}
    deadline = time.monotonic() + timeout_s
    while pending and time.monotonic() < deadline:
        for name, host in list(pending.items()):
            answer = run("ssh", *ssh_options(topo, key), "-o", "ConnectTimeout=3", f"root@{host.ip}", "echo up",
                         check=False, timeout=20)  # fmt: skip
            if answer.strip() == "up":
                del pending[name]
        time.sleep(1)
    if pending:
        raise LcError(f"sandbox hosts {', '.join(sorted(pending))} did not answer on ssh within {timeout_s:.0f} s")


def write_inventory(topo: Topology, path: Path, count: int, key: Path, mirror: Path) -> None:
    mirror_url = f"http://{topo.controller().ip}:{MIRROR_PORT}"
    # The key that signs the mirror, from the copy this machine built, not from the mirror's server.
    mirror_key = (mirror / "repo.asc").read_text()
    controller = topo.bare_controller()
    inventory = {
        "all": {
            "vars": {
                "ansible_user": "root",
                "ansible_python_interpreter": "/usr/bin/python3",
                "ansible_ssh_private_key_file": str(key),
                # The hosts' addresses exist only inside the sandbox: ssh reaches them through the hub namespace.
                "ansible_ssh_common_args": " ".join(f"'{o}'" if " " in o else o for o in ssh_options(topo, key)[2:]),
                "base_package_mirror": f"{mirror_url}/debian",
                "base_package_mirror_key": mirror_key,
                "base_mirror_only": True,
                # Containers run the machine's kernel, for which Debian ships no headers, and take its clock.
                "base_kernel_headers": False,
                # NVIDIA's repositories, as the mirror serves them (stand-in packages, signed by the mirror's key).
                "nvidia_driver_repo_url": f"{mirror_url}/nvidia/cuda/",
                "nvidia_driver_repo_key_url": mirror_key,
                "container_runtime_repo_url": f"{mirror_url}/nvidia/container/",
                "container_runtime_repo_key_url": mirror_key,
                # No module can be built or loaded in a container; the stand-in fabric manager plays an HGX board's.
                "nvidia_driver_check_dkms": False,
                "nvidia_driver_fabric_manager": True,
                "rdma_peermem_load_now": False,
                # Docker's overlay2 cannot stack on the hosts' overlay root, and a container may not write iptables
                # or /proc/sys.
                "container_runtime_docker_settings": {
                    "storage-driver": "vfs",
                    "iptables": False,
                    "ip-forward": False,
                    "bridge": "none",
                },
                # Containers get no delegated cgroup tree.
                "slurm_proctrack": "proctrack/linuxproc",
            },
            "children": {
                "slurm_controller": {"hosts": {controller.hostname: {"ansible_host": controller.ip}}},
                "gpu_nodes": {"hosts": {h.hostname: {"ansible_host": h.ip} for h in topo.nodes(count)}},
                # The controller doubles as the login host, as on small clusters: jobs are submitted there.
                "login": {
                    "hosts": {controller.hostname: None},
                    "vars": {
                        "container_runtime_docker": False,
                        "container_runtime_toolkit": False,
                        "container_runtime_enroot": False,
                    },
                },
            },
        }
    }
    path.write_text("# Written by 'lc-cluster sandbox up --bare'.\n" + yaml.safe_dump(inventory, sort_keys=False))
