"""Engine builders: pure functions from a plan to every node's argv and environment. The one engine registry."""

from lc_cluster.catalog.schema import ENGINE_NAMES
from lc_cluster.engines.base import HEAD_IP, NODE_IP, Engine, NodeCommand
from lc_cluster.engines.sglang import Sglang
from lc_cluster.engines.vllm import Vllm
from lc_cluster.errors import LcError

ENGINES: dict[str, Engine] = {engine.name: engine for engine in (Vllm(), Sglang())}
# The catalog's recipe fields and the builders must name the same engines: a new engine is added to both at once.
assert tuple(ENGINES) == ENGINE_NAMES, (tuple(ENGINES), ENGINE_NAMES)


def get_engine(name: str) -> Engine:
    try:
        return ENGINES[name]
    except KeyError:
        raise LcError(f"unknown engine '{name}': --engine takes one of {', '.join(ENGINES)}") from None


__all__ = ["ENGINES", "HEAD_IP", "NODE_IP", "Engine", "NodeCommand", "get_engine"]
