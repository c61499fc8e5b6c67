"""`sandbox up --bare`: systemd hosts with sshd, each in its own network namespace, for the provisioning roles.

Hosts are systemd-nspawn containers booted from one cached Debian image, each with a throw-away overlay, so a run
changes only that host. They cannot reach Debian's servers: a package mirror built from the same image is served in
the hub namespace, exactly as an air-gapped cluster serves its own."""

from __future__ import annotations

import time
from pathlib import Path

import yaml

from lc_cluster.errors import LcError
from lc_cluster.provision.mirror import build_from_root
from lc_cluster.sandbox import topology
from lc_cluster.sandbox.system import run, start
from lc_cluster.sandbox.topology import Host

RELEASE = "bookworm"
# What the hosts boot with; Ansible's apt module needs python3-apt on the target.
IMAGE_PACKAGES = "systemd-sysv,dbus,openssh-server,python3,python3-apt,iproute2,procps,ca-certificates"
# What the roles install, collected with everything it needs into the mirror.
MIRROR_PACKAGES = ["slurmctld", "slurmd", "slurm-client", "munge"]
MIRROR_PORT = 8080
HOST_PACKAGES = ["debootstrap", "systemd-container", "dpkg-dev", "netcat-openbsd", "openssh-client"]


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


def ensure_mirror(cache: Path) -> Path:
    mirror = cache / f"mirror-{RELEASE}"
    if not (mirror / "Packages.gz").exists():
        build_from_root(image_dir(cache), MIRROR_PACKAGES, mirror)
    return mirror


def ensure_key(cache: Path) -> Path:
    key = cache / "sandbox-ssh" / "id_ed25519"
    if not key.exists():
        key.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "lc-cluster-sandbox", "-f", str(key))
    return key


def hosts(count: int) -> list[Host]:
    return [topology.bare_controller(), *topology.nodes(count)]


def start_hosts(root: Path, cache: Path, count: int, key: Path, mirror: Path) -> dict[str, int]:
    pids = {
        "mirror": start(
            ["nsenter", f"--net=/run/netns/{topology.HUB}", "python3", "-m", "http.server", str(MIRROR_PORT),
             "--bind", topology.controller().ip, "--directory", str(mirror)],
            root / "log" / "mirror.log",
        )
    }  # fmt: skip
    for host in hosts(count):
        pids[f"host-{host.hostname}"] = start(
            ["systemd-nspawn", "--quiet", "--boot", f"--directory={image_dir(cache)}", "--volatile=overlay",
             f"--network-namespace-path=/run/netns/{host.netns}", "--register=no", "--keep-unit",
             f"--machine={host.hostname}", f"--bind-ro={key}.pub:/root/.ssh/authorized_keys"],
            root / "log" / f"host-{host.hostname}.log",
        )  # fmt: skip
    return pids


def ssh_options(key: Path) -> list[str]:
    return [
        "-i", str(key), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
        "-o", f"ProxyCommand=nsenter --net=/run/netns/{topology.HUB} nc %h %p",
    ]  # fmt: skip


def wait_ssh(count: int, key: Path, timeout_s: float = 90) -> None:
    pending = {h.hostname: h for h in hosts(count)}
    deadline = time.monotonic() + timeout_s
    while pending and time.monotonic() < deadline:
        for name, host in list(pending.items()):
            answer = run("ssh", *ssh_options(key), "-o", "ConnectTimeout=3", f"root@{host.ip}", "echo up",
                         check=False, timeout=20)  # fmt: skip
            if answer.strip() == "up":
                del pending[name]
        time.sleep(1)
    if pending:
        raise LcError(f"sandbox hosts {', '.join(sorted(pending))} did not answer on ssh within {timeout_s:.0f} s")


def write_inventory(path: Path, count: int, key: Path) -> None:
    mirror_url = f"http://{topology.controller().ip}:{MIRROR_PORT}"
    controller = topology.bare_controller()
    inventory = {
        "all": {
            "vars": {
                "ansible_user": "root",
                "ansible_python_interpreter": "/usr/bin/python3",
                "ansible_ssh_private_key_file": str(key),
                # The hosts' addresses exist only inside the sandbox: ssh reaches them through the hub namespace.
                "ansible_ssh_common_args": " ".join(f"'{o}'" if " " in o else o for o in ssh_options(key)[2:]),
                "base_package_mirror": mirror_url,
                "base_mirror_only": True,
                # Containers run the machine's kernel, for which Debian ships no headers.
                "base_kernel_headers": False,
                # Containers get no delegated cgroup tree.
                "slurm_proctrack": "proctrack/linuxproc",
            },
            "children": {
                "slurm_controller": {"hosts": {controller.hostname: {"ansible_host": controller.ip}}},
                "gpu_nodes": {"hosts": {h.hostname: {"ansible_host": h.ip} for h in topology.nodes(count)}},
                "login": {"hosts": {}},
            },
        }
    }
    path.write_text("# Written by 'lc-cluster sandbox up --bare'.\n" + yaml.safe_dump(inventory, sort_keys=False))
