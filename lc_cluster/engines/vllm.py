"""vLLM: `vllm serve` per node, with DP ranks, headless workers and multi-node TP/PP wired as vLLM expects."""

from __future__ import annotations

from packaging.version import Version

from lc_cluster.catalog.schema import ModelSpec, VllmRecipe
from lc_cluster.engines.base import (
    API_KEY,
    HEAD_IP,
    NODE_IP,
    BenchLoad,
    NodeCommand,
    compact_json,
    derived_network,
    listen_args,
    network_env,
    older_than,
)
from lc_cluster.errors import PlanRefused
from lc_cluster.planning import KvWiring, Layout, Plan, PlanRequest, PortOptions, PortUse

# vLLM's KV connectors for prefill/decode: class name and default KV port; and the first release with each in-tree.
# NixlConnector: in every release the catalog supports. MooncakeConnector: in-tree from 0.13.0 (Mooncake's own
# mooncake-wheel README: 0.10.1-0.12.0 need its out-of-tree module instead).
_CONNECTOR_CLASSES = {"nixl": "NixlConnector", "mooncake": "MooncakeConnector"}
KV_CONNECTORS = {"nixl": "0.10.0", "mooncake": "0.13.0"}
# VLLM_NIXL_SIDE_CHANNEL_PORT's and VLLM_MOONCAKE_BOOTSTRAP_PORT's defaults.
KV_PORTS = {"nixl": 5600, "mooncake": 8998}


# VLLM_ENGINE_READY_TIMEOUT_S is read from this release on (vllm/envs.py of the released wheels).
READY_TIMEOUT_SINCE = "0.14.0"
# --nnodes/--node-rank/--master-addr/--master-port, which a replica spanning nodes needs, exist from this release on.
MULTI_NODE_SINCE = "0.11.1"

# Expert parallelism's all-to-all: --all2all-backend from 0.11.1; before it only VLLM_ALL2ALL_BACKEND (deprecated
# from 0.11.1, gone by 0.32.0), same choices (vllm/engine/arg_utils.py, vllm/envs.py of the released wheels). DeepEP's
# kernels per role, as vLLM's expert-parallel deployment docs pair them: throughput for prefill, latency for decode.
A2A_FLAG_SINCE = "0.11.1"
_DEEPEP = {"prefill": "deepep_high_throughput", "decode": "deepep_low_latency", "serve": "deepep_low_latency"}
# --eplb-config (JSON, num_redundant_experts among its keys) from 0.10.2; the separate flags before it are gone in 0.12.
EPLB_CONFIG_SINCE = "0.10.2"

# Its load, from the API server's /metrics (names from 0.10 on).
LOAD_METRICS = {
    "running": "vllm:num_requests_running",
    "waiting": "vllm:num_requests_waiting",
    "kv_usage": "vllm:kv_cache_usage_perc",
}


class Vllm:
    name = "vllm"
    default_version = "0.33.0"
    default_http_port = 8000
    listens_everywhere = True
    load_metrics = LOAD_METRICS

    @staticmethod
    def exposes_metrics(argv: tuple[str, ...]) -> bool:
        return True

    kv_connectors = KV_CONNECTORS
    default_kv_connector = "nixl"
    default_kv_ports = KV_PORTS
    context_flag = "--max-model-len"
    default_router = "vllm-router"
    launcher: tuple[str, ...] = ("vllm", "serve")
    module_launcher: tuple[str, ...] = ("-m", "vllm.entrypoints.cli.main", "serve")
    memory_utilization = 0.90
    memory_flag = "--gpu-memory-utilization"
    ready_path = "/health"
    # VLLM_API_KEY: read from the environment by every release the catalog supports (vllm/envs.py).
    api_key_since = "0.10.0"
    managed_flags = frozenset(
        {
            # The job's API key (never in argv).
            "--api-key",
            "--tensor-parallel-size", "-tp", "--pipeline-parallel-size", "-pp", "--data-parallel-size", "-dp",
            "--data-parallel-size-local", "--data-parallel-start-rank", "--data-parallel-rank",
            "--data-parallel-address", "--data-parallel-rpc-port", "--headless", "--enable-expert-parallel",
            "--nnodes", "--node-rank",
            "--master-addr", "--master-port", "--port", "--host", "--speculative-config", "--kv-transfer-config",
            "--data-parallel-backend", "--no-enable-expert-parallel",
            # A YAML file of any of these flags (the key too); the share of memory the plan's memory table assumes;
            # a socket instead of the planned port; how the ranks run and share the load, which the plan decides.
            "--config", memory_flag, "--uds", "--distributed-executor-backend", "--data-parallel-hybrid-lb",
            "--data-parallel-external-lb", "--data-parallel-multi-port-external-lb", "--no-data-parallel-hybrid-lb",
            "--no-data-parallel-external-lb", "--device-memory-utilization",
            # vLLM's short aliases of these (a test derives them from vLLM's own parser: none may be missing).
            "-dpl", "-dpa", "-dpr", "-dpp", "-dpb", "-dpn", "-dph", "-dpe", "-dpm", "-ep", "-n", "-r", "-sc",
            # Expert parallelism's all-to-all and balancing, which --a2a and --eplb plan (with the redundant experts).
            "--all2all-backend", "--enable-eplb", "--no-enable-eplb", "--eplb-config", "--num-redundant-experts",
        }
    )  # fmt: skip
    managed_env = frozenset(
        {
            "VLLM_API_KEY", "VLLM_HOST_IP", "VLLM_ENGINE_READY_TIMEOUT_S", "VLLM_NIXL_SIDE_CHANNEL_HOST",
            "VLLM_NIXL_SIDE_CHANNEL_PORT", "VLLM_MOONCAKE_BOOTSTRAP_PORT", "UCX_NET_DEVICES", "VLLM_ALL2ALL_BACKEND",
        }
    )  # fmt: skip

    def recipe(self, model: ModelSpec) -> VllmRecipe | None:
        return model.engines.vllm

    @staticmethod
    def asked_flags(request: PlanRequest, version: str) -> tuple[str, ...]:
        flags: list[str] = []
        if request.a2a == "deepep" and Version(version) >= Version(A2A_FLAG_SINCE):
            flags += ["--all2all-backend", _DEEPEP[request.role]]
        if request.eplb:
            flags.append("--enable-eplb")
        return tuple(flags)

    @staticmethod
    def router_bootstrap(kv: KvWiring) -> int | None:
        # Mooncake's decode side asks the prefill host's bootstrap server; NIXL's side channel is found through the
        # engine itself.
        return kv.port if kv.connector == "mooncake" else None

    def check_layout(self, layout: Layout, version: str, request: PlanRequest) -> None:
        if layout.spans_nodes and Version(version) < Version(MULTI_NODE_SINCE):
            raise PlanRefused(
                "engine-version",
                f"a replica of {layout.replica_gpus} GPUs spans nodes, and vLLM {version} has no --nnodes/--node-rank "
                f"to start one: use --engine-version {MULTI_NODE_SINCE} or newer, or keep TP x PP within a node",
            )
        if layout.spans_nodes and layout.dp > 1:
            raise PlanRefused(
                "engine-dp",
                f"vLLM's launcher cannot combine DP {layout.dp} with replicas of {layout.replica_gpus} GPUs that span "
                f"nodes: keep TP x PP within one node ({layout.gpus_per_node} GPUs) or use DP 1",
            )

        if request.a2a and (layout.ep <= 1 or layout.dp <= 1):
            # Its DeepEP kernels run only between the DP ranks of an expert-parallel layout (else silently unused).
            raise PlanRefused(
                "a2a", f"DeepEP moves tokens between DP ranks with expert parallelism, and this layout "
                f"({layout.describe()}) has {'no EP' if layout.ep <= 1 else 'one DP rank'}: give dp= above 1 with EP, "
                "or drop --a2a",
            )  # fmt: skip
        if request.eplb and layout.ep <= 1:
            raise PlanRefused("eplb", "EPLB balances experts between EP ranks, and this layout has no EP: drop --eplb")
        if request.eplb and Version(version) < Version(EPLB_CONFIG_SINCE):
            raise PlanRefused(
                "eplb", f"vLLM {version} has no --eplb-config: use --engine-version {EPLB_CONFIG_SINCE} or newer"
            )

    def experts_shard_over(self, layout: Layout) -> int:
        # With DP, vLLM's MoE layers form one group over TP x DP GPUs, with or without expert parallelism.
        return layout.tp * layout.pp * layout.dp

    def expert_parallel_size(self, layout: Layout) -> int:
        return layout.tp * layout.dp

    def port_uses(self, layout: Layout, ports: PortOptions, kv: KvWiring | None) -> list[PortUse]:
        http = ports.http_or(self.default_http_port)
        uses = [PortUse("HTTP API", http, http, "head")]
        if layout.spans_nodes:
            uses.append(PortUse("torch.distributed master", ports.master, ports.master, "head"))
        elif layout.nodes > 1:
            uses.append(PortUse("DP RPC", ports.dp_rpc, ports.dp_rpc, "head"))
        if kv is not None:
            # One side-channel or bootstrap port per rank, counted up from the base.
            last = kv.port + layout.tp * layout.pp * layout.dp - 1
            uses.append(PortUse("KV transfer", kv.port, last, "every node"))
        return uses

    @staticmethod
    def bench_argv(base_url: str, model: str, tokenizer: str, load: BenchLoad, result_file: str) -> list[str]:
        folder, name = result_file.rsplit("/", 1)
        return [
            "vllm", "bench", "serve", "--backend", "openai-chat", "--base-url", base_url,
            "--endpoint", "/v1/chat/completions", "--model", model, "--tokenizer", tokenizer,
            "--dataset-name", "random",
            "--random-input-len", str(load.input_len), "--random-output-len", str(load.output_len),
            "--num-prompts", str(load.prompts), "--max-concurrency", str(load.concurrency), "--ignore-eos",
            "--percentile-metrics", "ttft,tpot,itl", "--metric-percentiles", "50,90,99",
            # --save-detailed keeps each request's error in the result, so a failure can be explained.
            "--save-result", "--save-detailed", "--result-dir", folder, "--result-filename", name,
        ]  # fmt: skip

    def build(self, plan: Plan) -> list[NodeCommand]:
        layout, recipe, model = plan.layout, plan.recipe, plan.model
        assert isinstance(recipe, VllmRecipe)
        common = [*self.launcher, model.source]
        if model.trust_remote_code:
            common.append("--trust-remote-code")
        if layout.ep > 1:
            # Must be on every node, or the EP groups disagree and the job hangs.
            common.append("--enable-expert-parallel")
            common += self.asked_flags(plan.request, plan.engine_version)
            if plan.request.eplb:
                common += ["--eplb-config", compact_json({"num_redundant_experts": layout.redundant_experts})]
        if layout.tp > 1:
            common += ["--tensor-parallel-size", str(layout.tp)]
        if layout.pp > 1:
            common += ["--pipeline-parallel-size", str(layout.pp)]
        tail = [*recipe.args, *self._mtp_args(plan, recipe), *listen_args(plan, self.default_http_port)]
        pd_args, pd_env = self._pd(plan, recipe)
        tail += pd_args

        env = {
            "VLLM_HOST_IP": NODE_IP,
            # Read from 0.14.0 on; older releases have no start-up deadline of their own, only the job's poller.
            **(
                {}
                if older_than(plan, READY_TIMEOUT_SINCE)
                else {"VLLM_ENGINE_READY_TIMEOUT_S": str(plan.ready_timeout_s)}
            ),
            **({"VLLM_API_KEY": API_KEY} if plan.api_key else {}),
            **network_env(plan),
            **recipe.env,
            **pd_env,
            **self._a2a_env(plan),
        }
        # NIXL moves the KV cache through UCX, which takes the HCAs from UCX_NET_DEVICES.
        derived = derived_network(plan, *(["UCX_NET_DEVICES"] if pd_env.get("VLLM_NIXL_SIDE_CHANNEL_PORT") else []))
        return [
            NodeCommand(index=i, argv=(*common, *self._rank_args(plan, i), *tail), env=dict(env), derived=derived)
            for i in range(layout.nodes)
        ]

    @staticmethod
    def _a2a_env(plan: Plan) -> dict[str, str]:
        """Releases before --all2all-backend take the backend from the environment."""
        if plan.request.a2a != "deepep" or not older_than(plan, A2A_FLAG_SINCE):
            return {}
        return {"VLLM_ALL2ALL_BACKEND": _DEEPEP[plan.request.role]}

    @staticmethod
    def _rank_args(plan: Plan, node: int) -> list[str]:
        layout, ports = plan.layout, plan.request.ports
        if layout.spans_nodes:
            args = [
                "--nnodes",
                str(layout.nodes),
                "--node-rank",
                str(node),
                "--master-addr",
                HEAD_IP,
                "--master-port",
                str(ports.master),
            ]
            return [*args, "--headless"] if node > 0 else args
        if layout.nodes == 1:
            return ["--data-parallel-size", str(layout.dp)] if layout.dp > 1 else []
        # Only headless workers name a start rank: on the head it flips vLLM into external load balancing.
        args = ["--headless"] if node > 0 else []
        args += ["--data-parallel-size", str(layout.dp), "--data-parallel-size-local", str(layout.dp_local)]
        if node > 0:
            args += ["--data-parallel-start-rank", str(layout.start_rank(node))]
        return [*args, "--data-parallel-address", HEAD_IP, "--data-parallel-rpc-port", str(ports.dp_rpc)]

    @staticmethod
    def _pd(plan: Plan, recipe: VllmRecipe) -> tuple[list[str], dict[str, str]]:
        """A prefill or decode instance: the recipe's PD flags, and the connector that moves the KV cache."""
        role, kv = plan.request.role, plan.request.kv
        if role == "serve" or kv is None:
            return [], {}
        connector = kv.connector
        name = _CONNECTOR_CLASSES[connector]
        pd = recipe.pd
        # kv_both: each engine can send and receive, which both connectors' current releases expect of either role.
        config = {"kv_connector": name, "kv_role": "kv_both", **pd.kv_transfer_extra.get(connector, {})}
        args = [*pd.args, *getattr(pd, role).args, "--kv-transfer-config", compact_json(config)]
        port = str(kv.port)
        env = {**pd.env, **getattr(pd, role).env}
        if connector == "nixl":
            env |= {"VLLM_NIXL_SIDE_CHANNEL_HOST": NODE_IP, "VLLM_NIXL_SIDE_CHANNEL_PORT": port}
        else:
            env["VLLM_MOONCAKE_BOOTSTRAP_PORT"] = port
        return args, env

    @staticmethod
    def _mtp_args(plan: Plan, recipe: VllmRecipe) -> list[str]:
        mtp = recipe.mtp
        if not plan.request.mtp or mtp is None:
            return []
        tokens = mtp.num_speculative_tokens_by_arch.get(plan.gpu.arch, mtp.num_speculative_tokens)
        # Always the model's own MTP head: the guides' per-model method name was only ever an alias of 'mtp', and their
        # "model" key made 0.11.x draft from another checkpoint (the BF16 one, for the FP8 model).
        return ["--speculative-config", compact_json({"method": mtp.method, "num_speculative_tokens": tokens})]
