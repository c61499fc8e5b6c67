"""The routers a deployment of several engine instances sits behind: one small interface, one class per router.

Both take the workers' URLs on the command line and forward the client's Authorization header to them, so the
job's API key is checked by the engines and never given to the router. Both also open a Prometheus exporter
(port 29000 unless told), which would collide with a second router on the host: it is always planned."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from lc_cluster.errors import LcError, PlanRefused

METRICS_PORT = 29000
# Both answer here once they are up and have checked their workers.
ROUTER_READY_PATH = "/health"
# vllm-router's own default for a prefill instance's Mooncake bootstrap port.
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
class PdWorker:
    url: str
    bootstrap: int | None
    """A prefill instance's bootstrap port, where decode instances fetch the KV cache from it; None: none named."""
    dp: int
    """DP ranks behind the instance's one HTTP server."""


@dataclass(frozen=True)
class PdWorkers:
    prefill: list[PdWorker]
    decode: list[PdWorker]
    connector: str


@dataclass(frozen=True)
class VllmRouter:
    """vllm-router (PyPI): round-robin over replicas here; its cache-aware default needs a tokenizer it fetches."""

    name: str = "vllm-router"

    def argv(self, port: int, bind: str, workers: list[str], metrics_port: int) -> list[str]:
        return ["vllm-router", "--host", bind, "--port", str(port), "--worker-urls", *workers,
                "--policy", "round_robin", "--prometheus-port", str(metrics_port)]  # fmt: skip

    def pd_argv(self, port: int, bind: str, pd: PdWorkers, metrics_port: int) -> list[str]:
        # It routes each request to one DP rank of the prefill instance and the same rank of the decode instance,
        # with one --intra-node-data-parallel-size for all of them.
        sizes = sorted({w.dp for w in [*pd.prefill, *pd.decode]})
        if len(sizes) > 1:
            raise PlanRefused(
                "router",
                f"vllm-router takes one --intra-node-data-parallel-size for every instance, and these have DP "
                f"{' and '.join(map(str, sizes))}: give --prefill and --decode the same dp=",
            )
        argv = ["vllm-router", "--policy", "round_robin", "--vllm-pd-disaggregation"]
        for w in pd.prefill:
            # With Mooncake it asks PREFILL_HOST:8998/query (its own default) unless told another port.
            other = w.bootstrap is not None and w.bootstrap != MOONCAKE_BOOTSTRAP_PORT
            argv += ["--prefill", w.url, *([str(w.bootstrap)] if other else [])]
        for w in pd.decode:
            argv += ["--decode", w.url]
        argv += ["--host", bind, "--port", str(port)]
        if sizes[0] > 1:
            argv += ["--intra-node-data-parallel-size", str(sizes[0])]
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
        for w in pd.prefill:
            argv += ["--prefill", w.url, *([str(w.bootstrap)] if w.bootstrap is not None else [])]
        for w in pd.decode:
            argv += ["--decode", w.url]
        return [*argv, "--host", bind, "--port", str(port), "--prometheus-port", str(metrics_port)]

    def pd_key_env(self, key: str) -> dict[str, str]:
        # It passes the client's Authorization header on; seen with stand-in instances only (no SGLang build has
        # run prefill/decode here).
        return {}


_ALL: tuple[Router, ...] = (VllmRouter(), SglangRouter())
ROUTERS: dict[str, Router] = {r.name: r for r in _ALL}


def get_router(name: str) -> Router:
    try:
        return ROUTERS[name]
    except KeyError:
        raise LcError(f"unknown router '{name}': --router takes one of {', '.join(ROUTERS)}") from None
