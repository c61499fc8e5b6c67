"""Run on every node inside the job, by the batch script (python3 -c "$LC_TOOLS" COMMAND ...).

Standard library only: it runs with whatever python3 the node has, before any engine venv. Commands:
  ip [IFNAME]                      this node's service IPv4 address
  record PATH INDEX NODE_IP ROLE INSTANCE N D      write one process's exact command as JSON: N ENV, D DERIVED
                                   and then ARGV items, each ending in NUL, on stdin
  scrape JSON PATH...               write Prometheus file_sd targets (JSON) to each PATH
  derive FACTS NODE_IP SETTING...  NAME=VALUE (or --flag=VALUE) for each SETTING this node's facts file decides
  mark PATH PHASE [KEY=VALUE ...]  atomically rewrite the job's state file (PHASE: one of Phase)
  wait-ready DEADLINE_S PID URL... poll until every URL answers 200 (0), PID is gone (1) or the deadline (2)
  redact PATH                      copy stdin to PATH with the job's secrets replaced by ${NAME}
"""

from __future__ import annotations

import enum
import fcntl
import ipaddress
import json
import os
import re
import socket
import struct
import sys
import time
import urllib.error
import urllib.request


class Phase(str, enum.Enum):  # noqa: UP042
    """A job's phases: the batch script writes them here, the watch, the records and `status` read them. Not
    StrEnum: the nodes' python3 may be older than 3.11."""

    SUBMITTED = "submitted"
    """Slurm has the job; its batch script has not started (no state file yet)."""
    STARTING = "starting"
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"
    TIMEOUT = "timeout"
    ENDED = "ended"
    STOPPED = "stopped"

    def __str__(self) -> str:
        return self.value


_SIOCGIFADDR = 0x8915
_PRIVATE = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]


def usable(address: str) -> bool:
    """Never loopback (127.*, including Debian's 127.0.1.1 hostname entry) or link-local (169.254.*)."""
    ip = ipaddress.ip_address(address)
    return ip.version == 4 and not (ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast)


def pick(candidates: list[tuple[str, str]], ifname: str | None) -> str | None:
    """The configured interface's address if it has one; else the first private address; else any usable one."""
    good = [(name, addr) for name, addr in candidates if usable(addr)]
    if ifname:
        named = [addr for name, addr in good if name == ifname]
        return named[0] if named else None
    private = [addr for _, addr in good if any(ipaddress.ip_address(addr) in net for net in _PRIVATE)]
    if private:
        return private[0]
    return good[0][1] if good else None


def interfaces() -> list[tuple[str, str]]:
    found = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _, name in socket.if_nameindex():
            try:
                packed = fcntl.ioctl(s.fileno(), _SIOCGIFADDR, struct.pack("256s", name.encode()[:15]))
            except OSError:
                continue
            found.append((name, socket.inet_ntoa(packed[20:24])))
    return found


def resolved() -> list[tuple[str, str]]:
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
    except OSError:
        return []
    return [("", str(info[4][0])) for info in infos]


def node_ip(ifname: str | None) -> str:
    address = pick(interfaces(), ifname) or (None if ifname else pick(resolved(), None))
    if address is None:
        where = f"interface {ifname}" if ifname else "any interface or the hostname"
        raise SystemExit(f"lc-cluster: no usable IPv4 address on {where} of {socket.gethostname()}")
    return address


def write_json(path: str, value: object) -> None:
    """Atomically and durably: a reader or a crash sees the old file or the new one, never part of one."""
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "w") as f:
            json.dump(value, f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    folder = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


# The job's secrets, in its environment: the API key and runtime.env's secret values (LC_SECRET_<NAME>). Anything
# the job writes shows each as ${NAME}.
def _secrets() -> list[tuple[bytes, bytes]]:
    named = [(v.encode(), f"${{{k}}}".encode()) for k, v in os.environ.items()
             if (k == "LC_API_KEY" or k.startswith("LC_SECRET_")) and v]  # fmt: skip
    return sorted(named, key=lambda pair: -len(pair[0]))  # a secret inside a longer one: the longer goes first


def hide_secrets(text: str) -> str:
    data = text.encode()
    for secret, shown in _secrets():
        data = data.replace(secret, shown)
    return data.decode()


def redact(path: str) -> None:
    """Copy stdin to PATH as it comes, the job's secrets hidden even where a read splits one."""
    secrets = _secrets()
    keep = max((len(secret) - 1 for secret, _ in secrets), default=0)
    pending = b""
    with open(path, "ab", buffering=0) as out:
        while chunk := os.read(0, 65536):
            pending += chunk
            for secret, shown in secrets:
                pending = pending.replace(secret, shown)
            # Hold back what could be the start of a secret split over two reads.
            cut = max(len(pending) - keep, 0)
            out.write(pending[:cut])
            pending = pending[cut:]
        out.write(pending)


def record(path: str, index: str, ip: str, role: str, instance: str, count: str, nderived: str, *rest: str) -> None:
    """The process's whole command: its environment, what this node's facts added (in `derived` as well as in env
    or argv, so a reader sees which values the node chose), and its argv."""
    rest = tuple(hide_secrets(item) for item in rest)
    env_end, derived_end = int(count), int(count) + int(nderived)
    derived = dict(item.split("=", 1) for item in rest[env_end:derived_end])
    env = {
        **{k: v for k, v in derived.items() if not k.startswith("-")},
        **dict(i.split("=", 1) for i in rest[:env_end]),
    }
    write_json(
        path,
        {
            "index": int(index),
            "role": role,
            "instance": int(instance),
            "hostname": socket.gethostname(),
            "node_ip": ip,
            "env": env,
            "derived": derived,
            "argv": list(rest[derived_end:]),
        },
    )


# A value taken from a facts file goes into an environment or an argv: device and interface names only.
_FACT_VALUE = re.compile(r"=?[A-Za-z0-9_.:-]+(,[A-Za-z0-9_.:-]+)*")


def derive(path: str, ip: str, *settings: str) -> None:
    """What the node_facts role found on this node, for the settings the plan left open: the interface that carries
    the node's address, and the HCAs whose ports are Active. Nothing for a node without a facts file."""
    try:
        with open(path) as f:
            facts = json.load(f)
    except (OSError, ValueError):
        return
    carriers = [
        i.get("name") for i in facts.get("interfaces", []) if any(c.split("/")[0] == ip for c in i.get("ipv4", []))
    ]
    carrier = carriers[0] if carriers else None
    active = [h for h in facts.get("hcas", []) if h.get("state") == "ACTIVE"]
    names = ",".join(sorted({str(h.get("name")) for h in active}))
    values = {
        "NCCL_SOCKET_IFNAME": carrier,
        "GLOO_SOCKET_IFNAME": carrier,
        # '=': exact names (a plain list is a prefix match: mlx5_1 would also pick mlx5_10).
        "NCCL_IB_HCA": "=" + names if names else None,
        "UCX_NET_DEVICES": ",".join(f"{h.get('name')}:{h.get('port')}" for h in active) or None,
        "--disaggregation-ib-device": names or None,
    }
    for setting in settings:
        value = values.get(setting)
        if value and _FACT_VALUE.fullmatch(value):
            print(f"{setting}={value}")


def mark(path: str, phase: str, *pairs: str) -> None:
    write_json(path, {"phase": Phase(phase).value, "time": time.time(), **dict(p.split("=", 1) for p in pairs)})


def wait_ready(deadline_s: str, pid: str, *urls: str) -> int:
    end = time.monotonic() + float(deadline_s)
    waiting = list(urls)
    while time.monotonic() < end:
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return 1
        waiting = [url for url in waiting if not answers(url)]
        if not waiting:
            return 0
        # Half a second: a job behind a router waits twice in a row (instances, then the router) before serve sees it.
        time.sleep(0.5)
    return 2


def answers(url: str) -> bool:
    try:
        # Engines bind their port long before they serve, so every probe needs its own timeout. The addresses are
        # the cluster's own: no proxy from the job's environment may carry them.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(url, timeout=5) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def main(argv: list[str]) -> int:
    command, args = argv[0], argv[1:]
    if command == "ip":
        print(node_ip(args[0] if args and args[0] else None))
    elif command == "record":
        # The command comes on stdin: as arguments, the environment's values would be readable in /proc by anyone.
        record(*args, *sys.stdin.buffer.read().decode().split("\0")[:-1])
    elif command == "scrape":
        for path in args[1:]:
            write_json(path, json.loads(args[0]))
    elif command == "derive":
        derive(*args)
    elif command == "mark":
        mark(*args)
    elif command == "wait-ready":
        return wait_ready(*args)
    elif command == "redact":
        redact(*args)
    else:
        raise SystemExit(f"lc-cluster node tools: unknown command {command!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
