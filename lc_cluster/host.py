"""Commands, packages, processes and network namespaces on this machine, for the sandbox."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from lc_cluster.errors import LcError


def run(
    *argv: str, check: bool = True, timeout: float = 600, env: dict[str, str] | None = None, cwd: Path | None = None
) -> str:
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, check=False, env={**os.environ, **(env or {})},
            cwd=cwd,
        )  # fmt: skip
    except FileNotFoundError:
        raise LcError(f"{argv[0]} is not installed") from None
    if check and done.returncode != 0:
        detail = (done.stderr.strip() or done.stdout.strip()).splitlines()[-3:]
        raise LcError(f"{' '.join(argv[:3])} failed: {' '.join(detail)}")
    return done.stdout


def require_root() -> None:
    if os.geteuid() != 0:
        raise LcError("the sandbox needs root (network namespaces, Slurm daemons): run it as root")


def missing_packages(names: list[str]) -> list[str]:
    missing = []
    for name in names:
        done = subprocess.run(["dpkg-query", "-W", "-f=${Status}", name], capture_output=True, text=True, check=False)
        if "install ok installed" not in done.stdout:
            missing.append(name)
    return missing


def apt_install(names: list[str]) -> None:
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    run("apt-get", "update", "-qq", env=env)
    # Debian's packages try to start their services; the sandbox starts its own, so policy-rc.d may refuse.
    run("apt-get", "install", "-y", "-qq", "--no-install-recommends", *names, env=env)


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def stop(pid: int | None, grace_s: float = 10) -> None:
    if not alive(pid):
        return
    assert pid is not None
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if alive(pid):
        os.kill(pid, signal.SIGKILL)


def start(argv: list[str], log: Path) -> int:
    """A daemon in the foreground of its own session, so the PID we keep is the daemon's."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=out, stdin=subprocess.DEVNULL, start_new_session=True)
    return process.pid


def netns_exists(name: str) -> bool:
    return Path("/run/netns", name).exists()


def netns_inode(name: str) -> int | None:
    try:
        return os.stat(f"/run/netns/{name}").st_ino
    except OSError:
        return None


def pids_in_group(pgid: int) -> list[int]:
    """The live processes of a process group (a zombie, which waits for its parent or PID 1, is not one)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def pids_in_netns(inode: int) -> list[int]:
    """Every process whose network namespace is the given one: what is left there belongs to the sandbox."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.stat(entry / "ns" / "net").st_ino == inode:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found
