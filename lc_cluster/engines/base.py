"""The interface every engine module implements, and what all of them share."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from packaging.version import Version

from lc_cluster.planning import EngineRules, Plan

# Values known only inside the allocation, on each node, at run time. The batch template replaces them.
HEAD_IP = "${HEAD_IP}"
NODE_IP = "${NODE_IP}"


@dataclass(frozen=True)
class NodeCommand:
    index: int
    argv: tuple[str, ...]
    env: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "argv": list(self.argv), "env": dict(self.env)}


class Engine(EngineRules, Protocol):
    managed_flags: frozenset[str]
    """Flags lc-cluster sets from the plan; --engine-arg may not set them."""

    def build(self, plan: Plan) -> list[NodeCommand]:
        """The exact argv and environment of every node, in node order; node 0 is the head."""


def older_than(plan: Plan, version: str) -> bool:
    return Version(plan.engine_version) < Version(version)


def compact_json(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"))


def network_env(plan: Plan) -> dict[str, str]:
    """NCCL/Gloo settings every node needs, so no rank falls back to the wrong NIC or to sockets."""
    net = plan.request.network
    env: dict[str, str] = {}
    if net.socket_ifname:
        env["GLOO_SOCKET_IFNAME"] = net.socket_ifname
        env["NCCL_SOCKET_IFNAME"] = net.socket_ifname
    if net.ib_hca:
        env["NCCL_IB_HCA"] = net.ib_hca
    if net.ib_gid_index is not None:
        env["NCCL_IB_GID_INDEX"] = str(net.ib_gid_index)
    return env


def listen_args(plan: Plan, default_port: int) -> list[str]:
    """--host/--port only where they differ from the engine's defaults, so guide commands stay as written."""
    args = []
    if plan.request.bind is not None:
        args += ["--host", plan.request.bind]
    if plan.http_port != default_port:
        args += ["--port", str(plan.http_port)]
    return args
