"""Parallel layouts: how many GPUs do tensor, pipeline, data and expert parallelism, and on which nodes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

from lc_cluster.catalog.schema import ModelSpec, Parallelism
from lc_cluster.errors import PlanRefused
from lc_cluster.planning.request import Overrides


@dataclass(frozen=True)
class Layout:
    tp: int
    pp: int
    dp: int
    ep: int
    nodes: int
    gpus_per_node: int
    redundant_experts: int = 0
    """Physical experts per MoE layer beyond the routed ones, so that EP divides them (and EPLB has room to move)."""

    @property
    def replica_gpus(self) -> int:
        """GPUs of one model replica (one DP rank)."""
        return self.tp * self.pp

    @property
    def spans_nodes(self) -> bool:
        """One replica is bigger than a node, so its TP/PP group crosses the network."""
        return self.replica_gpus > self.gpus_per_node

    @property
    def dp_local(self) -> int:
        """DP ranks on each node; 0 when one replica spans several nodes."""
        return 0 if self.spans_nodes else self.gpus_per_node // self.replica_gpus

    def start_rank(self, node: int) -> int:
        return node * self.dp_local

    def as_dict(self) -> dict[str, int]:
        return {**asdict(self), "dp_local": self.dp_local}

    def describe(self) -> str:
        parts = [f"TP {self.tp}"]
        if self.pp > 1:
            parts.append(f"PP {self.pp}")
        if self.dp > 1:
            parts.append(f"DP {self.dp}")
        if self.ep > 1:
            parts.append(f"EP {self.ep}")
        if self.redundant_experts:
            parts.append(f"{self.redundant_experts} redundant experts")
        return ", ".join(parts)


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def shape(
    strategy: Parallelism, overrides: Overrides, nodes: int, gpus_per_node: int, min_tp: Callable[[], int]
) -> tuple[int, int, int]:
    """(tp, pp, dp) from the user's overrides, the rest filled in by the model's strategy."""
    total = nodes * gpus_per_node
    pp = overrides.pp or 1
    tp, dp = overrides.tp, overrides.dp
    if tp is not None and dp is not None:
        return tp, pp, dp
    if tp is not None:
        return tp, pp, max(1, total // (tp * pp))
    if dp is not None:
        return max(1, total // (dp * pp)), pp, dp
    if overrides.pp is not None:
        return max(1, total // pp), pp, 1
    if strategy == "tp_per_node":
        return gpus_per_node, 1, nodes
    if strategy == "tp_all":
        return total, 1, 1
    if strategy == "dp":
        return 1, 1, total
    tp = min_tp()
    return tp, 1, total // tp


def check_shape(tp: int, pp: int, dp: int, nodes: int, gpus_per_node: int, model: ModelSpec) -> None:
    """Rules every engine shares: the layout covers the nodes exactly and divides the model evenly."""
    total = nodes * gpus_per_node
    heads = model.architecture.attention_heads
    if heads % tp:
        fits = [d for d in divisors(heads) if d <= total]
        raise PlanRefused(
            "tp-divides-heads",
            f"TP {tp} does not divide {model.name}'s {heads} attention heads: use one of {', '.join(map(str, fits))}",
        )
    layers = model.architecture.layers
    if pp > layers:
        raise PlanRefused("pp-within-layers", f"PP {pp} exceeds {model.name}'s {layers} layers: use PP <= {layers}")
    replica = tp * pp
    if replica <= gpus_per_node and gpus_per_node % replica:
        raise PlanRefused(
            "replica-fits-nodes",
            f"a replica of TP {tp} x PP {pp} = {replica} GPUs does not tile a node of {gpus_per_node} GPUs: "
            f"use a size that divides {gpus_per_node}",
        )
    if replica > gpus_per_node and replica % gpus_per_node:
        raise PlanRefused(
            "replica-fits-nodes",
            f"a replica of TP {tp} x PP {pp} = {replica} GPUs must span whole nodes of {gpus_per_node} GPUs: "
            f"use a multiple of {gpus_per_node}",
        )
    used = replica * dp
    where = f"the {total} GPUs of {nodes} node{'s' if nodes > 1 else ''} x {gpus_per_node}"
    if used < total and replica <= gpus_per_node:
        raise PlanRefused(
            "dp-fills-nodes",
            f"TP {tp} x PP {pp} x DP {dp} uses {used} of {where}: DP ranks must fill every node; "
            f"use --dp {total // replica}",
        )
    if used != total:
        raise PlanRefused(
            "gpu-count",
            f"TP {tp} x PP {pp} x DP {dp} needs {used} GPUs, not {where}: choose sizes whose product is {total}",
        )


def redundant_experts(ep: int, model: ModelSpec, can_add: bool, hint: str) -> int:
    """The redundant experts that make EP ranks hold the same number of experts each: none where EP divides the routed
    experts; else the fewest that do where the engine can add them (CAN_ADD), else refused with HINT."""
    if ep <= 1:
        return 0
    arch = model.architecture
    if not arch.moe:
        raise PlanRefused("ep-needs-moe", f"{model.name} is not a mixture-of-experts model: drop --ep")
    short = -arch.routed_experts % ep
    if short and not can_add:
        raise PlanRefused(
            "ep-divides-experts",
            f"EP {ep} does not divide {model.name}'s {arch.routed_experts} routed experts: change TP/DP (or a role's "
            f"nodes) so that the EP size is one of {', '.join(map(str, divisors(arch.routed_experts)[1:]))}, {hint}"
            "or use --ep 1",
        )
    return short
