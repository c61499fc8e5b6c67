"""Shrink a Hugging Face model config to a few layers and experts while keeping its architecture: the same model
class, attention kind (MLA ranks and head dims stay), expert kinds (routed, zero, shared), MTP head and dtype. Pure,
standard library only: it also runs inside an engine's own Python, which may not have lc-cluster's dependencies."""

from __future__ import annotations

from typing import Any

# (config keys, the most the canary keeps). Keys a config lacks are left out; smaller values stay as they are.
_CAPS: list[tuple[tuple[str, ...], int]] = [
    (("num_layers", "num_hidden_layers", "n_layers"), 2),
    (("hidden_size", "dim"), 1024),
    (("num_attention_heads", "n_heads"), 16),
    (("num_key_value_heads",), 16),
    (("intermediate_size", "ffn_hidden_size"), 2048),
    (("moe_intermediate_size", "expert_ffn_hidden_size"), 512),
    (("n_routed_experts", "num_experts", "num_local_experts"), 16),
    (("zero_expert_num",), 8),
    (("n_shared_experts", "num_shared_experts"), 1),
    (("num_experts_per_tok", "moe_topk"), 4),
    (("n_group",), 1),
    (("topk_group",), 1),
    (("q_lora_rank",), 512),
    (("num_nextn_predict_layers",), 1),
    (("max_position_embeddings",), 4096),
    (("first_k_dense_replace",), 1),
]
# Values that index layers and would point past the shrunken stack.
_LAYER_LISTS = ("mlp_only_layers", "layer_types")


def shrink(config: dict[str, Any], vocab_size: int) -> dict[str, Any]:
    out = dict(config)
    for keys, cap in _CAPS:
        for key in keys:
            value = out.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value > cap:
                out[key] = cap
    layers = next((out[k] for k in ("num_layers", "num_hidden_layers", "n_layers") if isinstance(out.get(k), int)), 2)
    for key in _LAYER_LISTS:
        if isinstance(out.get(key), list):
            out[key] = out[key][:layers] if key == "layer_types" else [i for i in out[key] if i < layers]
    # Keeps the layer shapes consistent: attention heads times head size need not equal the (smaller) hidden size,
    # as in MLA, but the experts' top-k may not exceed their number, nor groups the experts.
    experts = next((out[k] for k in ("n_routed_experts", "num_experts") if isinstance(out.get(k), int)), None)
    for key in ("num_experts_per_tok", "moe_topk"):
        if experts and isinstance(out.get(key), int):
            out[key] = min(out[key], experts)
    out["vocab_size"] = vocab_size
    for key in ("bos_token_id", "eos_token_id", "pad_token_id"):
        out.pop(key, None)
    # quantization_config stays: an FP8 checkpoint's canary runs the FP8 kernels (dummy weights are made in its dtype).
    return out
