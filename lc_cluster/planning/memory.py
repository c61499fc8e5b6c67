"""Per-GPU memory budget: weights, runtime reserve, and what is left for the KV cache."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from lc_cluster.catalog import GpuSpec, ModelSpec
from lc_cluster.planning.layout import Layout

GIB = 1024**3
# The KV cache must hold at least this many tokens on each replica, or the server starts but cannot take a real
# request; engines then fail late, at the first long prompt.
MIN_KV_TOKENS = 8192
# A decode-heavy request in flight (the article's shape: about 4k tokens of context), and the most requests one decode
# rank batches (beyond it, TPOT outgrows the ~10 ms the article's decode targets).
TYPICAL_CONTEXT = 4096
MAX_DECODE_BATCH = 256


@dataclass(frozen=True)
class MemoryBudget:
    gpu_memory_gib: float
    utilization: float
    usable_gib: float
    weights_gib: float
    replicated_gib: float
    """Of the weights, what every GPU of a TP x PP group holds its share of: attention, dense FFNs, embeddings."""
    experts_gib: float
    """Of the weights, this GPU's shard of the routed experts (its redundant experts included)."""
    reserve_gib: float
    kv_cache_gib: float
    kv_tokens: int
    """Tokens one replica's KV cache holds (an estimate from the catalog's bytes per token)."""
    decode_batch: int
    """Requests of TYPICAL_CONTEXT tokens one replica's KV cache holds at once, at most MAX_DECODE_BATCH: what a
    decode engine sizes its CUDA graphs for."""

    def as_dict(self) -> dict[str, float | int]:
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in asdict(self).items()}


def runtime_reserve_gib(gpu: GpuSpec) -> float:
    """Activations, CUDA graphs and communication buffers: a few percent of the card, at least 1 GiB."""
    return max(1.0, 0.03 * gpu.memory_gib)


def budget(model: ModelSpec, gpu: GpuSpec, layout: Layout, utilization: float, experts_shard_over: int) -> MemoryBudget:
    total_bytes = model.size_gb * 1e9
    expert_bytes = total_bytes * model.expert_share
    dense_bytes = total_bytes - expert_bytes
    routed = model.architecture.routed_experts
    physical = (routed + layout.redundant_experts) / routed if routed else 1.0
    replicated = dense_bytes / layout.replica_gpus / GIB
    experts = expert_bytes * physical / experts_shard_over / GIB
    weights = replicated + experts

    usable = gpu.memory_gib * utilization
    reserve = runtime_reserve_gib(gpu)
    kv = max(0.0, usable - weights - reserve)
    arch = model.architecture
    per_gpu_token = arch.kv_bytes_per_token / layout.pp / min(layout.tp, arch.kv_heads)
    kv_tokens = int(kv * GIB / per_gpu_token)
    return MemoryBudget(
        gpu_memory_gib=gpu.memory_gib,
        utilization=utilization,
        usable_gib=usable,
        weights_gib=weights,
        replicated_gib=replicated,
        experts_gib=experts,
        reserve_gib=reserve,
        kv_cache_gib=kv,
        kv_tokens=kv_tokens,
        decode_batch=min(MAX_DECODE_BATCH, kv_tokens // TYPICAL_CONTEXT),
    )
