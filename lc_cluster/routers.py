"""The routers a deployment of several engine instances sits behind: one small interface, one class per router.

Both take the workers' URLs on the command line and forward the client's Authorization header to them, so the
job's API key is checked by the engines and never given to the router. Both also open a Prometheus exporter
(port 29000 unless told), which would collide with a second router on the host: it is always planned."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from lc_cluster.errors import LcError

METRICS_PORT = 29000
# Both answer here once they are up and have checked their workers.
ROUTER_READY_PATH = "/health"
MOONCAKE_BOOTSTRAP_PORT = 8998


class Router(Protocol):
    @property
    def name(self) -> str: ...

    def argv(self, port: int, bind: str, workers: list[str], metrics_port: int) -> list[str]:
        """The router's command, in front of WORKERS (their base URLs)."""

    def pd_argv(self, port: int, bind: str, pd: PdWorkers, metrics_port: int) -> list[str]:
        """The router's command in front of prefill and decode instances."""

    def pd_key_env(self, key: str) -> dict[str, str]:
        """What the router needs to reach prefill and decode instances that check the API key KEY."""


@dataclass(frozen=True)
class PdWorkers:
    prefill: list[tuple[str, int | None]]
    """Each prefill instance's URL, and its bootstrap port where decode instances fetch the KV cache from it."""
    decode: list[str]
    connector: str
    intra_node_dp: int
    """DP ranks behind each instance's one HTTP server (vllm-router routes to a rank itself)."""


@dataclass(frozen=True)
class VllmRouter:
    """vllm-router (PyPI): round-robin over replicas here; its cache-aware default needs a tokenizer it fetches."""

    name: str = "vllm-router"

    def argv(self, port: int, bind: str, workers: list[str], metrics_port: int) -> list[str]:
        return ["vllm-router", "--host", bind, "--port", str(port), "--worker-urls", *workers,
                "--policy", "round_robin", "--prometheus-port", str(metrics_port)]  # fmt: skip

    def pd_argv(self, port: int, bind: str, pd: PdWorkers, metrics_port: int) -> list[str]:
        argv = ["vllm-router", "--policy", "round_robin", "--vllm-pd-disaggregation"]
        for url, bootstrap in pd.prefill:
            # With Mooncake it asks PREFILL_HOST:8998/query for the KV cache's whereabouts unless told another port.
            other = bootstrap is not None and bootstrap != MOONCAKE_BOOTSTRAP_PORT
            argv += ["--prefill", url, *([str(bootstrap)] if other else [])]
        for url in pd.decode:
            argv += ["--decode", url]
        argv += ["--host", bind, "--port", str(port)]
        if pd.intra_node_dp > 1:
            argv += ["--intra-node-data-parallel-size", str(pd.intra_node_dp)]
        return [*argv, "--kv-connector", pd.connector, "--prometheus-port", str(metrics_port)]

    def pd_key_env(self, key: str) -> dict[str, str]:
        # In front of prefill and decode it sends its own requests to both, with 'Authorization: Bearer
        # $OPENAI_API_KEY' instead of the client's header (0.1.17; found when a PD pair on two H200s answered 401).
        return {"OPENAI_API_KEY": key}


@dataclass(frozen=True)
class SglangRouter:
    """sglang-router (PyPI); its regular mode routes to any OpenAI-compatible worker, vLLM's included."""

    name: str = "sglang-router"

    def argv(self, port: int, bind: str, workers: list[str], metrics_port: int) -> list[str]:
        return ["python3", "-m", "sglang_router.launch_router", "--host", bind, "--port", str(port),
                "--worker-urls", *workers, "--policy", "round_robin",
                "--prometheus-port", str(metrics_port)]  # fmt: skip

    def pd_argv(self, port: int, bind: str, pd: PdWorkers, metrics_port: int) -> list[str]:
        argv = ["python3", "-m", "sglang_router.launch_router", "--pd-disaggregation"]
        for url, bootstrap in pd.prefill:
            argv += ["--prefill", url, *([str(bootstrap)] if bootstrap is not None else [])]
        for url in pd.decode:
            argv += ["--decode", url]
        return [*argv, "--host", bind, "--port", str(port), "--prometheus-port", str(metrics_port)]

    def pd_key_env(self, key: str) -> dict[str, str]:
        # It passes the client's Authorization header on; seen with stand-in instances only (no SGLang build has
        # run prefill/decode here).
        return {}


_ALL: tuple[Router, ...] = (VllmRouter(), SglangRouter())
ROUTERS: dict[str, Router] = {r.name: r for r in _ALL}
# Each engine's own router is the default in front of its instances.
DEFAULT_ROUTER = {"vllm": "vllm-router", "sglang": "sglang-router"}


def get_router(name: str) -> Router:
    try:
        return ROUTERS[name]
    except KeyError:
        raise LcError(f"unknown router '{name}': --router takes one of {', '.join(ROUTERS)}") from None
