"""Engine builders: pure functions from a plan to every node's argv and environment."""

from lc_cluster.engines.base import HEAD_IP, NODE_IP, Engine, NodeCommand
from lc_cluster.engines.sglang import Sglang
from lc_cluster.engines.vllm import Vllm
from lc_cluster.errors import LcError

ENGINES: dict[str, Engine] = {"vllm": Vllm(), "sglang": Sglang()}


def get_engine(name: str) -> Engine:
    try:
        return ENGINES[name]
    except KeyError:
        raise LcError(f"unknown engine '{name}': use one of {', '.join(ENGINES)}") from None


__all__ = ["ENGINES", "HEAD_IP", "NODE_IP", "Engine", "NodeCommand", "get_engine"]
