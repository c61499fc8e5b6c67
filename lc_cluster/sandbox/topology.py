"""Names and addresses of one named sandbox's hosts, all derived from its name, so two sandboxes (a user's and the
tests') run side by side. The test subnet lives only inside namespaces the sandbox creates; the machine's own
namespace gets no address from it."""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from pathlib import Path

from lc_cluster.errors import LcError

MAX_NODES = 32
DEFAULT_NAME = "sandbox"
# It becomes namespace, Slurm cluster and cluster file names: short, lower-case, nothing a shell or Slurm treats
# specially.
_NAME = re.compile(r"[a-z][a-z0-9]{0,11}")
# Lives inside the sandbox's own hub namespace, so every sandbox may use the same name.
BRIDGE = "lcbr0"


@dataclass(frozen=True)
class Host:
    hostname: str
    ip: str
    netns: str


@dataclass(frozen=True)
class Topology:
    name: str

    @classmethod
    def named(cls, name: str) -> Topology:
        if not _NAME.fullmatch(name):
            raise LcError(f"sandbox name {name!r}: use 1-12 lower-case letters and digits, starting with a letter")
        return cls(name)

    @property
    def _seed(self) -> int:
        return zlib.crc32(self.name.encode())

    @property
    def hub(self) -> str:
        """The namespace of the controller and the login host, where the bridge lives."""
        return f"lc-{self.name}-hub"

    @property
    def sockets(self) -> Path:
        """Where munged and slurmstepd put their Unix sockets: a short path, because a socket's path may not exceed
        108 bytes and the state directory can be deep (a test's temporary folder)."""
        return Path("/run") / f"lc-{self.name}"

    @property
    def subnet(self) -> str:
        return f"10.77.{self._seed % 250}"

    @property
    def first_job_id(self) -> int:
        """Job ids of different sandboxes never coincide (jobs' processes are found by their id)."""
        return (self._seed % 9000 + 1000) * 1000

    def controller(self) -> Host:
        return Host(hostname="ctl", ip=f"{self.subnet}.1", netns=self.hub)

    def nodes(self, count: int) -> list[Host]:
        return [Host(hostname=f"n{i}", ip=f"{self.subnet}.{10 + i}", netns=f"lc-{self.name}-n{i}")
                for i in range(1, count + 1)]  # fmt: skip

    def bare_controller(self) -> Host:
        """The bare sandbox's controller host: a container of its own, unlike the Slurm sandbox's hub daemon."""
        return Host(hostname="ctl", ip=f"{self.subnet}.2", netns=f"lc-{self.name}-ctl")

    def all_netns(self, count: int = MAX_NODES) -> list[str]:
        return [self.hub, self.bare_controller().netns, *(h.netns for h in self.nodes(count))]
