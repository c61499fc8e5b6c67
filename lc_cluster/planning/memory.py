"""Per-GPU memory budget: weights, runtime reserve, and what is left for the KV cache."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from lc_cluster.catalog import GpuSpec, ModelSpec
from lc_cluster.planning.layout import Layout

GIB = 1024**3
# The KV cache must hold at least this many tokens on each replica, or the server starts but cannot take a real
# request; engines then fail late, at the first long prompt.
MIN_KV_TOKENS = 8192


@dataclass(frozen=True)
class MemoryBudget:
    gpu_memory_gib: float
    utilization: float
    usable_gib: float
    weights_gib: float
    reserve_gib: float
    kv_cache_gib: float
    kv_tokens: int
    """Tokens one replica's KV cache holds (an estimate from the catalog's bytes per token)."""

    def as_dict(self) -> dict[str, float | int]:
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in asdict(self).items()}


def runtime_reserve_gib(gpu: GpuSpec) -> float:
    """Activations, CUDA graphs and communication buffers: a few percent of the card, at least 1 GiB."""
    return max(1.0, 0.03 * gpu.memory_gib)


def budget(model: ModelSpec, gpu: GpuSpec, layout: Layout, utilization: float, experts_shard_over: int) -> MemoryBudget:
    total_bytes = model.size_gb * 1e9
    expert_bytes = total_bytes * model.expert_share
    dense_bytes = total_bytes - expert_bytes
    weights = (dense_bytes / layout.replica_gpus + expert_bytes / experts_shard_over) / GIB

    usable = gpu.memory_gib * utilization
    reserve = runtime_reserve_gib(gpu)
    kv = max(0.0, usable - weights - reserve)
    arch = model.architecture
    per_gpu_token = arch.kv_bytes_per_token / layout.pp / min(layout.tp, arch.kv_heads)
    return MemoryBudget(
        gpu_memory_gib=gpu.memory_gib,
        utilization=utilization,
        usable_gib=usable,
        weights_gib=weights,
        reserve_gib=reserve,
        kv_cache_gib=kv,
        kv_tokens=int(kv * GIB / per_gpu_token),
    )
