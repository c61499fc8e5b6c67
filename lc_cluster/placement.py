"""Where each engine instance of a multi-instance deployment runs: which nodes, which GPUs, which ports. Pure.

Instances are placed in order, each on the first node (or run of whole nodes) with room for it; instances that share
a node get disjoint GPUs and ports a stride apart, counted by their slot on that node."""

from __future__ import annotations

from dataclasses import dataclass

from lc_cluster.errors import PlanRefused
from lc_cluster.planning import PortOptions, Role, RoleSpec

# Instances that share a node get their ports this far apart (SGLang's dist-init holds a range of ~10, a KV transfer
# base one port per rank).
PORT_STRIDE = 100


@dataclass(frozen=True)
class Slot:
    role: Role
    index: int
    """The instance's number within its role."""
    first_node: int
    nodes: int
    gpus: tuple[int, ...] | None
    """Its GPUs on a shared node; None: whole nodes."""
    slot: int
    """How many instances were placed on its first node before it."""

    def ports(self, base: PortOptions, http: int) -> PortOptions:
        return PortOptions(
            http=http + self.slot,
            dp_rpc=self.shifted(base.dp_rpc),
            dist_init=self.shifted(base.dist_init),
            master=self.shifted(base.master),
        )

    def shifted(self, port: int) -> int:
        """A base port moved out of the way of the instances placed on this node before."""
        return port + PORT_STRIDE * self.slot


def place(groups: list[tuple[Role, RoleSpec]], nodes: int, gpus_per_node: int) -> list[Slot]:
    free = [gpus_per_node] * nodes
    placed: list[Slot] = []
    for role, spec in groups:
        whole = spec.gpus is None or spec.gpus == gpus_per_node
        if not whole and (spec.nodes > 1 or spec.gpus is None or spec.gpus > gpus_per_node):
            raise PlanRefused(
                "roles-fit",
                f"a {role} instance of {spec.nodes} nodes takes whole nodes: drop gpus= or use nodes=1 with "
                f"gpus= at most {gpus_per_node}",
            )
        for index in range(spec.instances):
            if whole:
                first = next((n for n in range(nodes - spec.nodes + 1)
                              if all(free[m] == gpus_per_node for m in range(n, n + spec.nodes))), None)  # fmt: skip
                size = spec.nodes * gpus_per_node
            else:
                first = next((n for n in range(nodes) if free[n] >= (spec.gpus or 0)), None)
                size = spec.gpus or 0
            if first is None:
                need = sum(s.instances * (s.nodes * gpus_per_node if s.gpus is None else s.gpus) for _, s in groups)
                raise PlanRefused(
                    "roles-fit",
                    f"{role} instance {index} ({size} GPUs) does not fit: the roles need {need} GPUs and "
                    f"{nodes} x {gpus_per_node} has {nodes * gpus_per_node}: use more --nodes or fewer GPUs per role",
                )
            slot = sum(1 for s in placed if s.first_node == first)
            if whole:
                for m in range(first, first + spec.nodes):
                    free[m] = 0
                gpus = None
            else:
                start = gpus_per_node - free[first]
                gpus = tuple(range(start, start + size))
                free[first] -= size
            placed.append(Slot(role, index, first, spec.nodes if whole else 1, gpus, slot))
    idle = [n for n in range(nodes) if free[n] == gpus_per_node]
    if idle:
        used = nodes - len(idle)
        raise PlanRefused(
            "roles-fit", f"the roles use {used} of {nodes} nodes, leaving nodes {idle} idle: use --nodes {used}"
        )
    return placed
