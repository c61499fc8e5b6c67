"""The routers a deployment of several engine instances sits behind: one small interface, one class per router.

Both take the workers' URLs on the command line and forward the client's Authorization header to them, so the
job's API key is checked by the engines and never given to the router. Both also open a Prometheus exporter
(port 29000 unless told), which would collide with a second router on the host: it is always planned."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from lc_cluster.errors import LcError

METRICS_PORT = 29000


class Router(Protocol):
    @property
    def name(self) -> str: ...

    def argv(self, port: int, bind: str, workers: list[str], metrics_port: int) -> list[str]:
        """The router's command, in front of WORKERS (their base URLs)."""


@dataclass(frozen=True)
class VllmRouter:
    """vllm-router (PyPI): round-robin over replicas here; its cache-aware default needs a tokenizer it fetches."""

    name: str = "vllm-router"

    def argv(self, port: int, bind: str, workers: list[str], metrics_port: int) -> list[str]:
        return ["vllm-router", "--host", bind, "--port", str(port), "--worker-urls", *workers,
                "--policy", "round_robin", "--prometheus-port", str(metrics_port)]  # fmt: skip


@dataclass(frozen=True)
class SglangRouter:
    """sglang-router (PyPI); its regular mode routes to any OpenAI-compatible worker, vLLM's included."""

    name: str = "sglang-router"

    def argv(self, port: int, bind: str, workers: list[str], metrics_port: int) -> list[str]:
        return ["python3", "-m", "sglang_router.launch_router", "--host", bind, "--port", str(port),
                "--worker-urls", *workers, "--policy", "round_robin",
                "--prometheus-port", str(metrics_port)]  # fmt: skip


_ALL: tuple[Router, ...] = (VllmRouter(), SglangRouter())
ROUTERS: dict[str, Router] = {r.name: r for r in _ALL}
# Each engine's own router is the default in front of its instances.
DEFAULT_ROUTER = {"vllm": "vllm-router", "sglang": "sglang-router"}


def get_router(name: str) -> Router:
    try:
        return ROUTERS[name]
    except KeyError:
        raise LcError(f"unknown router '{name}': --router takes one of {', '.join(ROUTERS)}") from None
