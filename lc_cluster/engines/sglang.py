"""SGLang: `python3 -m sglang.launch_server` per node; one TP group over all nodes, joined at --dist-init-addr."""

from __future__ import annotations

from lc_cluster.catalog.schema import ModelSpec, SglangRecipe
from lc_cluster.engines.base import (
    API_KEY_CONFIG,
    HEAD_IP,
    NODE_IP,
    BenchLoad,
    NodeCommand,
    derived_network,
    listen_args,
    network_env,
    older_than,
)
from lc_cluster.errors import PlanRefused
from lc_cluster.planning import KvWiring, Layout, Plan, PlanRequest, PortOptions, PortUse

# SGLang turned --enable-ep-moe into --ep-size; 0.5.2 (the first release that loads LongCat-Flash, the guide's) takes
# both, so it gets the guide's form and later releases the current one.
EP_SIZE_FLAG_SINCE = "0.5.3"
# The dist-init host also opens ZMQ ports PORT+1 .. PORT+6+dp.
_DIST_INIT_EXTRA_PORTS = 6


# --disaggregation-transfer-backend: both in every release the catalog supports (read in 0.5.1.post3's
# server_args.py); the bootstrap port's default there is 8998.
KV_CONNECTORS = {"mooncake": "0.5.1", "nixl": "0.5.1"}
_BOOTSTRAP_PORT = 8998
KV_PORTS = {"mooncake": _BOOTSTRAP_PORT, "nixl": _BOOTSTRAP_PORT}

# DeepEP's dispatch mode per role, as SGLang's PD + large-scale EP deployments set it: normal (throughput) kernels
# for prefill, low-latency ones (CUDA-graph friendly) for decode, and auto (by batch) for an engine that does both.
_DEEPEP_MODE = {"prefill": "normal", "decode": "low_latency", "serve": "auto"}
# --cuda-graph-max-bs-decode (and -prefill) from 0.5.15 (read in its server_args.py), the old name a deprecated alias
# until it is gone (0.5.23 takes only the new one: the old is an ambiguous prefix there).
CUDA_GRAPH_DECODE_FLAG_SINCE = "0.5.15"
# DeepEP's low-latency kernels dispatch at most this many tokens per rank (the default of
# SGLANG_DEEPEP_NUM_MAX_DISPATCH_TOKENS_PER_RANK), so a decode rank's CUDA graphs go no higher.
_DEEPEP_MAX_DISPATCH_TOKENS = 128

# Its load, from /metrics, which it serves only with --enable-metrics.
LOAD_METRICS = {
    "running": "sglang:num_running_reqs",
    "waiting": "sglang:num_queue_reqs",
    "kv_usage": "sglang:token_usage",
}


class Sglang:
    name = "sglang"
    default_version = "0.5.23"
    default_http_port = 30000
    # Its server listens on 127.0.0.1 unless told otherwise: a router on another node could not reach it.
    listens_everywhere = False
    load_metrics = LOAD_METRICS

    @staticmethod
    def exposes_metrics(argv: tuple[str, ...]) -> bool:
        return "--enable-metrics" in argv

    kv_connectors = KV_CONNECTORS
    default_kv_connector = "mooncake"
    default_kv_ports = KV_PORTS
    context_flag = "--context-length"
    default_router = "sglang-router"
    launcher: tuple[str, ...] = ("python3", "-m", "sglang.launch_server")
    module_launcher: tuple[str, ...] = ("-m", "sglang.launch_server")
    memory_utilization = 0.88
    memory_flag = "--mem-fraction-static"
    ready_path = "/health"
    # --config FILE (YAML) arrived in 0.5.3; before it the key could only be given as --api-key, in argv.
    api_key_since = "0.5.3"
    managed_flags = frozenset(
        {
            # The job's API key (never in argv) and, for SGLang, the config file that carries it.
            "--api-key", "--config",
            "--tp", "--tp-size", "--tensor-parallel-size", "--dp", "--dp-size", "--ep", "--ep-size", "--pp-size",
            "--enable-ep-moe", "--nnodes", "--node-rank", "--dist-init-addr", "--port", "--model", "--model-path",
            "--host", "--pipeline-parallel-size", "--data-parallel-size", "--expert-parallel-size",
            "--disaggregation-mode", "--disaggregation-transfer-backend", "--disaggregation-bootstrap-port",
            # DP attention and expert parallelism's all-to-all and balancing, which --dp, --a2a and --eplb plan.
            "--enable-dp-attention", "--moe-a2a-backend", "--deepep-mode", "--enable-deepep-moe",
            "--ep-num-redundant-experts", "--enable-eplb", "--enable-dp-lm-head",
            "--cuda-graph-max-bs", "--cuda-graph-max-bs-decode",
            # The share of memory the plan's memory table assumes.
            memory_flag,
        }
    )  # fmt: skip
    managed_env = frozenset({"SGLANG_HOST_IP"})

    def recipe(self, model: ModelSpec) -> SglangRecipe | None:
        return model.engines.sglang

    @staticmethod
    def asked_flags(request: PlanRequest, version: str) -> tuple[str, ...]:
        flags: list[str] = []
        if request.a2a == "deepep":
            flags += ["--moe-a2a-backend", "deepep", "--deepep-mode", _DEEPEP_MODE[request.role]]
        if request.eplb:
            flags.append("--enable-eplb")
        return tuple(flags)

    @staticmethod
    def router_bootstrap(kv: KvWiring) -> int | None:
        # Every SGLang prefill instance has a bootstrap server, whatever the transfer backend.
        return kv.port

    def check_layout(self, layout: Layout, version: str, request: PlanRequest) -> None:
        # DP in SGLang is DP attention: one TP group over all the GPUs for the experts, DP ranks of attention.
        if layout.dp > 1 and not request.model.architecture.moe:
            raise PlanRefused(
                "engine-dp",
                f"SGLang's DP attention serves mixture-of-experts models, and {request.model.name} is dense; DP "
                f"{layout.dp} needs one instance per replica behind a router: use --replicas {layout.dp}",
            )
        if layout.dp > 1 and layout.pp > 1:
            raise PlanRefused("engine-dp", f"SGLang's DP attention does not combine with PP {layout.pp}: use --pp 1")
        if request.a2a and request.eplb and request.role == "serve":
            # EPLB's expert-load recorder cannot follow DeepEP's auto mode (NotImplementedError), the mode of an
            # engine that does both prefill and decode.
            raise PlanRefused(
                "eplb", "EPLB with DeepEP needs a fixed DeepEP mode, which only a prefill or decode role has: use "
                "--prefill and --decode, or drop --eplb",
            )  # fmt: skip
        if (request.a2a or request.eplb) and layout.ep <= 1:
            asked = "--a2a" if request.a2a else "--eplb"
            raise PlanRefused(
                "a2a", f"{asked} is for expert parallelism, and this layout ({layout.describe()}) has no EP: "
                f"give ep= with it, or drop {asked}",
            )  # fmt: skip

    def experts_shard_over(self, layout: Layout) -> int:
        return layout.tp * layout.pp * layout.dp

    def expert_parallel_size(self, layout: Layout) -> int:
        return layout.tp * layout.dp

    def port_uses(self, layout: Layout, ports: PortOptions, kv: KvWiring | None) -> list[PortUse]:
        http = ports.http_or(self.default_http_port)
        # Nodes with rank >= 1 run a dummy health server on the same port.
        uses = [PortUse("HTTP API", http, http, "every node")]
        if layout.nodes > 1:
            last = ports.dist_init + _DIST_INIT_EXTRA_PORTS + layout.dp
            uses.append(PortUse("dist-init and its ZMQ ports", ports.dist_init, last, "head"))
        if kv is not None:
            uses.append(PortUse("PD bootstrap", kv.port, kv.port, "head"))
        return uses

    @staticmethod
    def bench_argv(base_url: str, model: str, tokenizer: str, load: BenchLoad, result_file: str) -> list[str]:
        # bench_serving ignores EOS unless told not to; a range ratio of 1 keeps every length exact.
        return [
            "python3", "-m", "sglang.bench_serving", "--backend", "sglang-oai-chat", "--base-url", base_url,
            "--model", model, "--tokenizer", tokenizer, "--dataset-name", "random",
            "--random-input-len", str(load.input_len),
            "--random-output-len", str(load.output_len), "--random-range-ratio", "1",
            "--num-prompts", str(load.prompts), "--max-concurrency", str(load.concurrency),
            # --output-details keeps each request's error in the result, so a failure can be explained.
            "--output-file", result_file, "--output-details",
        ]  # fmt: skip

    def build(self, plan: Plan) -> list[NodeCommand]:
        layout, recipe, model = plan.layout, plan.recipe, plan.model
        assert isinstance(recipe, SglangRecipe)
        common = [*self.launcher, "--model", model.source]
        if model.trust_remote_code:
            common.append("--trust-remote-code")
        common += recipe.args
        if layout.ep > 1:
            legacy = older_than(plan, EP_SIZE_FLAG_SINCE)
            common += ["--enable-ep-moe"] if legacy else ["--ep-size", str(layout.ep)]
            common += self.asked_flags(plan.request, plan.engine_version)
            if layout.redundant_experts:
                common += ["--ep-num-redundant-experts", str(layout.redundant_experts)]
        common += ["--tp", str(layout.tp * layout.dp)]
        if layout.dp > 1:
            common += self._dp_attention_args(plan)
        if layout.pp > 1:
            common += ["--pp-size", str(layout.pp)]
        tail = [*self._mtp_args(plan, recipe), *listen_args(plan, self.default_http_port), *self._pd_args(plan)]
        if plan.api_key:
            # The batch script writes the key into this file (mode 0600) on each node; SGLang reads it in-process.
            tail += ["--config", API_KEY_CONFIG]
        env = {"SGLANG_HOST_IP": NODE_IP, **network_env(plan), **recipe.env}

        def rank_args(node: int) -> list[str]:
            if layout.nodes == 1:
                return []
            dist_init = f"{HEAD_IP}:{plan.request.ports.dist_init}"
            return ["--nnodes", str(layout.nodes), "--node-rank", str(node), "--dist-init-addr", dist_init]

        # A PD instance's KV transfer takes its HCAs from --disaggregation-ib-device (else Mooncake picks any).
        derived = derived_network(plan, *(["--disaggregation-ib-device"] if plan.request.role != "serve" else []))
        return [
            NodeCommand(index=i, argv=(*common, *rank_args(i), *tail), env=dict(env), derived=derived)
            for i in range(layout.nodes)
        ]

    @staticmethod
    def _dp_attention_args(plan: Plan) -> list[str]:
        """DP ranks of attention (each with its own KV cache) over one TP group, as SGLang's large-scale EP
        deployments run them, the LM head data-parallel too. (Not --moe-dense-tp-size 1: LongCat-Flash's dense MLPs
        ignore it and stay TP-sharded, against a communicator laid out for it.)"""
        args = ["--dp-size", str(plan.layout.dp), "--enable-dp-attention", "--enable-dp-lm-head"]
        if plan.request.role == "decode":
            # CUDA graphs up to the batch the KV cache holds, not the engine's default cap.
            batch = plan.memory.decode_batch
            if plan.request.a2a == "deepep":
                batch = min(batch, _DEEPEP_MAX_DISPATCH_TOKENS)
            old = older_than(plan, CUDA_GRAPH_DECODE_FLAG_SINCE)
            args += ["--cuda-graph-max-bs" if old else "--cuda-graph-max-bs-decode", str(batch)]
        return args

    @staticmethod
    def _pd_args(plan: Plan) -> list[str]:
        role, kv = plan.request.role, plan.request.kv
        if role == "serve" or kv is None:
            return []
        args = ["--disaggregation-mode", role, "--disaggregation-transfer-backend", kv.connector]
        if role == "prefill":
            # Where the prefill head waits for decode instances to fetch KV caches; the router names it too.
            args += ["--disaggregation-bootstrap-port", str(kv.port)]
        devices = ib_devices(plan.request.fabric.ib_hca)
        if devices:
            args += ["--disaggregation-ib-device", devices]
        return args

    @staticmethod
    def _mtp_args(plan: Plan, recipe: SglangRecipe) -> list[str]:
        mtp = recipe.mtp
        if not plan.request.mtp or mtp is None:
            return []
        args = ["--speculative-draft-model-path", mtp.draft_model] if mtp.draft_model else []
        return [
            *args,
            "--speculative-algorithm",
            mtp.algorithm,
            "--speculative-num-draft-tokens",
            str(mtp.num_draft_tokens),
            "--speculative-num-steps",
            str(mtp.num_steps),
            "--speculative-eagle-topk",
            str(mtp.eagle_topk),
        ]


def ib_devices(ib_hca: str | None) -> str | None:
    """The HCAs of an NCCL_IB_HCA list as SGLang's --disaggregation-ib-device wants them (mlx5_0,mlx5_1): without
    NCCL's exact-match '=' and port suffixes. An exclusion list ('^...') names no devices to use."""
    if not ib_hca or ib_hca.startswith("^"):
        return None
    return ",".join(part.split(":")[0] for part in ib_hca.lstrip("=").split(","))
