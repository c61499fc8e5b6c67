"""Names and addresses of the sandbox's hosts. The test subnet lives only inside namespaces this sandbox creates;
the machine's own namespace gets no address from it."""

from __future__ import annotations

from dataclasses import dataclass

PREFIX = "lcs"
HUB = f"{PREFIX}-hub"
BRIDGE = f"{PREFIX}br0"
SUBNET = "10.77.0"
MAX_NODES = 32


@dataclass(frozen=True)
class Host:
    hostname: str
    ip: str
    netns: str


def controller() -> Host:
    return Host(hostname="ctl", ip=f"{SUBNET}.1", netns=HUB)


def nodes(count: int) -> list[Host]:
    return [Host(hostname=f"n{i}", ip=f"{SUBNET}.{10 + i}", netns=f"{PREFIX}-n{i}") for i in range(1, count + 1)]


def bare_controller() -> Host:
    """The bare sandbox's controller host: a container of its own, unlike the Slurm sandbox's hub daemon."""
    return Host(hostname="ctl", ip=f"{SUBNET}.2", netns=f"{PREFIX}-ctl")
