"""What the user asks for: a model on some hardware with some engine, and the knobs they may turn."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from lc_cluster.catalog import GpuSpec, ModelSpec
from lc_cluster.catalog.schema import Quirk


@dataclass(frozen=True)
class Overrides:
    """Explicit parallel sizes; None lets the planner choose."""

    tp: int | None = None
    dp: int | None = None
    ep: int | None = None
    pp: int | None = None


@dataclass(frozen=True)
class Fabric:
    """The cluster's fabric settings that become NCCL/Gloo environment on every node."""

    socket_ifname: str | None = None
    ib_hca: str | None = None
    ib_gid_index: int | None = None


@dataclass(frozen=True)
class PortOptions:
    """None for http means the engine's own default port (vLLM 8000, SGLang 30000)."""

    http: int | None = None
    dp_rpc: int = 13345
    dist_init: int = 5000
    master: int = 29501

    def http_or(self, default: int) -> int:
        """The HTTP port asked for (0 included, which the port check then refuses), else the engine's default."""
        return self.http if self.http is not None else default


Role = Literal["serve", "prefill", "decode"]

# The all-to-all of expert parallelism a user may ask for beyond the engine's own: DeepEP (NVSHMEM), whose kernels each
# engine picks per role (throughput-bound prefill, latency-bound decode).
A2A_BACKENDS = ("deepep",)


@dataclass(frozen=True)
class KvWiring:
    """How a prefill or decode instance moves KV caches, resolved once by the deployment planner: the engine builders
    and the router read it and default nothing of their own."""

    connector: str
    """The engine's name for it (nixl, mooncake)."""
    port: int
    """The instance's KV side-channel (vLLM NIXL, counted up per rank) or bootstrap (SGLang, vLLM Mooncake) port."""


@dataclass(frozen=True)
class RoleSpec:
    """How one role of a prefill/decode deployment is laid out: its instances, and each one's nodes and GPUs."""

    instances: int = 1
    nodes: int = 1
    gpus: int | None = None
    """GPUs per node of each instance; None: whole nodes."""
    overrides: Overrides = field(default_factory=Overrides)


@dataclass(frozen=True)
class PlanRequest:
    model: ModelSpec
    engine: str
    gpu: GpuSpec
    nodes: int
    gpus_per_node: int
    overrides: Overrides = field(default_factory=Overrides)
    mtp: bool = False
    engine_version: str | None = None
    """A version, 'guide' for the one the upstream guide was written for, or None for the engine's default."""
    fabric: Fabric = field(default_factory=Fabric)
    ports: PortOptions = field(default_factory=PortOptions)
    bind: str | None = None
    """Address the API server listens on; None keeps the engine's default."""
    engine_args: tuple[str, ...] = ()
    """The user's extra engine arguments, added literally on every node; they may not touch planned flags."""
    ready_timeout_s: int | None = None
    """Start-up deadline; None sizes it for the model. The engine's own deadline and the poller's are this one."""
    api_key: bool | None = None
    """Require an API key: True, False, or None for wherever the engine release can take one outside its argv."""
    replicas: int = 1
    """Identical engine instances, which share the nodes' GPUs evenly and sit behind one router."""
    router: str | None = None
    """The router in front of several instances; None: the engine's own."""
    role: Role = "serve"
    """What this instance does: the whole job (serve), or one side of prefill/decode disaggregation."""
    prefill: RoleSpec | None = None
    decode: RoleSpec | None = None
    kv_connector: str | None = None
    """The KV connector asked for (nixl, mooncake); None: the engine's default. Only the deployment planner reads it:
    each prefill/decode instance carries the resolved value in `kv`."""
    kv: KvWiring | None = None
    """A prefill/decode instance's KV wiring; None for an instance that serves alone."""
    quirks: tuple[Quirk, ...] = ()
    """The known engine defects to plan around (the catalog's table; empty with --no-quirks)."""
    a2a: str | None = None
    """The expert-parallel all-to-all asked for (one of A2A_BACKENDS); None: the engine's own."""
    eplb: bool = False
    """Rebalance experts across EP ranks while serving (the engine's EPLB), over the plan's redundant experts."""
