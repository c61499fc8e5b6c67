"""What the planner needs to know about an engine. Engines implement this; planning never imports them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from lc_cluster.catalog.schema import EngineRecipe, ModelSpec
    from lc_cluster.planning.layout import Layout
    from lc_cluster.planning.request import KvWiring, PlanRequest, PortOptions


@dataclass(frozen=True)
class PortUse:
    """A port range one service holds, on the head only or on every node."""

    service: str
    first: int
    last: int
    where: Literal["head", "every node"]


class EngineRules(Protocol):
    name: str
    default_version: str
    default_http_port: int
    memory_utilization: float
    """Share of a GPU's memory the engine takes by default (vLLM's gpu_memory_utilization, SGLang's mem_fraction)."""
    memory_flag: str
    """The flag that sets that share."""
    ready_path: str
    api_key_since: str
    """The first release that takes an API key outside its argv (which every user of a node can read)."""

    def recipe(self, model: ModelSpec) -> EngineRecipe | None: ...

    def asked_flags(self, request: PlanRequest, version: str) -> tuple[str, ...]:
        """The flags the request's own options (--a2a, --eplb) turn on, as this release spells them: what the
        engine builder adds for them, and what the quirk table may name."""

    def check_layout(self, layout: Layout, version: str, request: PlanRequest) -> None:
        """Raise PlanRefused for what the engine's launcher (of this release) cannot start: the layout, and the
        request's expert-parallel options on it."""

    def experts_shard_over(self, layout: Layout) -> int:
        """How many GPUs share the routed experts of one layer (with or without expert parallelism)."""

    def expert_parallel_size(self, layout: Layout) -> int:
        """The EP size the engine uses when expert parallelism is switched on."""

    def port_uses(self, layout: Layout, ports: PortOptions, kv: KvWiring | None) -> list[PortUse]:
        """Every port the instance holds, its KV transfer ports included where it is one side of prefill/decode."""
