"""The interface every engine module implements, and what all of them share."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from packaging.version import Version

from lc_cluster import validate
from lc_cluster.errors import LcError
from lc_cluster.planning import EngineRules, Fabric, KvWiring, Plan

# Values known only inside the allocation, on each node, at run time. The batch template replaces them.
HEAD_IP = "${HEAD_IP}"
NODE_IP = "${NODE_IP}"


def ip_of_node(node: int) -> str:
    """Node NODE's address, which the batch script reads on every node before it starts a job of several instances."""
    return HEAD_IP if node == 0 else f"${{IP_OF_NODE_{node}}}"


# The job's API key, which the batch script receives from `serve` in its environment (never in argv or a file the
# job did not make), and the YAML file (`api-key: KEY`, mode 0600) it writes for engines that read a config file.
API_KEY = "${LC_API_KEY}"
API_KEY_CONFIG = "${LC_JOB_DIR}/api-key.yaml"


def reads_key_file(argv: Iterable[str]) -> bool:
    """Whether a process started with ARGV reads the job's API key from API_KEY_CONFIG."""
    return API_KEY_CONFIG in argv


def key_file_text(key: str) -> str:
    return f'api-key: "{key}"\n'


@dataclass(frozen=True)
class NodeCommand:
    index: int
    argv: tuple[str, ...]
    """What lc-cluster planned; ${HEAD_IP} and ${NODE_IP} in it are filled in on the node at run time."""
    env: dict[str, str]
    literal_args: tuple[str, ...] = ()
    """The user's --engine-arg values, after argv: passed exactly as given, nothing in them expanded."""
    derived: tuple[str, ...] = ()
    """Settings (environment names, or flags) each node fills in at run time from its facts file, which the
    node_facts role writes: only those the plan does not pin."""

    @property
    def full_argv(self) -> tuple[str, ...]:
        return (*self.argv, *self.literal_args)

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "argv": list(self.full_argv), "env": dict(self.env), "derived": list(self.derived)}


@dataclass(frozen=True)
class BenchLoad:
    input_len: int
    output_len: int
    prompts: int
    concurrency: int


class Engine(EngineRules, Protocol):
    managed_flags: frozenset[str]
    """Flags lc-cluster sets from the plan, or whose value the plan assumes: nothing added may set them."""
    managed_env: frozenset[str]
    """The engine's variables lc-cluster sets (its key, each node's address, KV side channels): nothing added may."""
    kv_connectors: dict[str, str]
    """The KV connectors of prefill/decode deployments, each with the first release that has it."""
    default_kv_connector: str
    default_kv_ports: dict[str, int]
    default_router: str
    """Its own router, the default in front of several of its instances."""
    launcher: tuple[str, ...]
    """What every planned engine command starts with (`vllm serve`)."""
    module_launcher: tuple[str, ...]
    """The same, as arguments of a given Python interpreter (the canary runs the engine with --python)."""
    listens_everywhere: bool
    """Whether the API server's default address is every interface (else loopback only)."""
    load_metrics: dict[str, str]
    """The Prometheus metrics of its load: running and waiting requests, KV cache usage (0-1)."""

    def router_bootstrap(self, kv: KvWiring) -> int | None:
        """The port a router must name beside a prefill instance with this wiring, or None where it names none."""

    context_flag: str
    """The flag that caps the server's context below the model's own."""

    def exposes_metrics(self, argv: tuple[str, ...]) -> bool:
        """Whether a server started with ARGV serves /metrics on its HTTP port."""

    def build(self, plan: Plan) -> list[NodeCommand]:
        """The exact argv and environment of every node, in node order; node 0 is the head."""

    def bench_argv(self, base_url: str, model: str, tokenizer: str, load: BenchLoad, result_file: str) -> list[str]:
        """The engine's own benchmark client against an OpenAI-compatible BASE_URL (the API key in OPENAI_API_KEY),
        random prompts of fixed length made with TOKENIZER (a hub id or folder), EOS ignored, its results written
        to RESULT_FILE as JSON."""


def check_added(
    engine: Engine, source: str, args: Iterable[str], env: Mapping[str, str], planned: Iterable[str] = ()
) -> None:
    """Arguments and environment from outside the planner (--engine-arg, a model's recipe, a defect's fix) may add
    to a command, never change what lc-cluster plans and wires: the engine's managed flags and variables, and for
    --engine-arg also every flag the plan already gives (PLANNED)."""
    guarded = {*planned, *(f.replace("_", "-") for f in engine.managed_flags)}
    plan_options = "use the plan options (--tp, --dp, --ep, --pp, --port, --mtp) instead"
    hint = plan_options if planned else f"remove it from {source}"
    for arg in args:
        flag = arg.split("=", 1)[0].replace("_", "-")
        # argparse also takes any unambiguous prefix of a long flag (--tensor-parallel for --tensor-parallel-size).
        prefix = flag.startswith("--") and len(flag) > 3 and any(g.startswith(flag) for g in guarded)
        if flag in guarded or prefix:
            raise LcError(f"{source} {arg!r} would change what lc-cluster plans ({flag}): {hint}")
    for name in env:
        if name in MANAGED_ENV or name in engine.managed_env or name.startswith(validate.MANAGED_ENV_PREFIXES):
            raise LcError(f"{source} sets {name}, which lc-cluster sets for the job itself: remove it from {source}")


def served_context(engine: Engine, argv: list[str], model_context: int) -> int:
    """The context a server of ENGINE started with ARGV serves: its context flag's number (--flag N, --flag=N, or
    with underscores), else MODEL_CONTEXT (also where the value is 'auto')."""
    served = model_context
    for at, arg in enumerate(argv):
        name, eq, value = arg.partition("=")
        if name.replace("_", "-") == engine.context_flag:
            value = value if eq else (argv[at + 1] if at + 1 < len(argv) else "")
            if value.isdigit():
                served = int(value)
    return served


def older_than(plan: Plan, version: str) -> bool:
    return Version(plan.engine_version) < Version(version)


def compact_json(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"))


def network_env(plan: Plan) -> dict[str, str]:
    return fabric_env(plan.request.fabric)


def fabric_env(net: Fabric) -> dict[str, str]:
    """NCCL/Gloo settings every node needs, so no rank falls back to the wrong NIC or to sockets."""
    env: dict[str, str] = {}
    if net.socket_ifname:
        env["GLOO_SOCKET_IFNAME"] = net.socket_ifname
        env["NCCL_SOCKET_IFNAME"] = net.socket_ifname
    if net.ib_hca:
        # NCCL matches a plain list by prefix (mlx5_1 also selects mlx5_10); '=' makes it exact, '^' excludes.
        env["NCCL_IB_HCA"] = net.ib_hca if net.ib_hca[0] in "=^" else "=" + net.ib_hca
    if net.ib_gid_index is not None:
        env["NCCL_IB_GID_INDEX"] = str(net.ib_gid_index)
    return env


# What a node's facts decide where nothing pins it: the interface that carries the node's own address (so no rank
# bootstraps over loopback or a management NIC) and the HCAs whose ports are Active.
NIC_SETTINGS = ("NCCL_SOCKET_IFNAME", "GLOO_SOCKET_IFNAME", "NCCL_IB_HCA")


def derived_network(plan: Plan, *extra: str) -> tuple[str, ...]:
    return left_to_facts(plan.request.fabric, *extra)


def left_to_facts(fabric: Fabric, *extra: str) -> tuple[str, ...]:
    """The NIC settings (and an engine's EXTRA ones) left to each node's facts: every one the fabric does not pin."""
    pinned = fabric_env(fabric)
    return tuple(s for s in (*NIC_SETTINGS, *extra) if s not in pinned and not (fabric.ib_hca and s in _HCA_LISTS))


# What every job's nodes get from lc-cluster whatever the engine: the search path, the routers' key, the NICs (from
# the cluster file or each node's facts), besides the batch script's own (validate.MANAGED_ENV_PREFIXES). An engine
# adds its own (managed_env).
MANAGED_ENV = frozenset({"PATH", "HOME", "LD_PRELOAD", "OPENAI_API_KEY", "NCCL_IB_GID_INDEX", *NIC_SETTINGS})

# Settings that name HCAs: a pinned NCCL_IB_HCA pins them all.
_HCA_LISTS = frozenset({"UCX_NET_DEVICES", "--disaggregation-ib-device"})


def listen_args(plan: Plan, default_port: int) -> list[str]:
    """--host/--port only where they differ from the engine's defaults, so guide commands stay as written."""
    args = []
    if plan.request.bind is not None:
        args += ["--host", plan.request.bind]
    # An explicit port is shown even where it is the default (the instances of a multi-instance job all get one).
    if plan.http_port != default_port or plan.request.ports.http is not None:
        args += ["--port", str(plan.http_port)]
    return args
