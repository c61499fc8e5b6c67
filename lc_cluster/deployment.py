"""A plan together with every node's command: what `plan` prints and what `serve` submits."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from lc_cluster.catalog import Catalog, ModelSpec
from lc_cluster.engines import ENGINES, NodeCommand, get_engine
from lc_cluster.errors import PlanRefused
from lc_cluster.planning import Plan, PlanRequest, make_plan

# Node counts the catalog's hardware summary tries, with the usual 8 GPUs per node.
_SUMMARY_NODES = range(1, 9)
_SUMMARY_GPUS_PER_NODE = 8


@dataclass(frozen=True)
class Deployment:
    plan: Plan
    commands: tuple[NodeCommand, ...]

    def as_dict(self) -> dict[str, Any]:
        plan = self.plan
        return {
            "model": plan.model.name,
            "source": plan.model.source,
            "engine": plan.engine,
            "engine_version": plan.engine_version,
            "gpu": plan.gpu.name,
            "layout": plan.layout.as_dict(),
            "memory": plan.memory.as_dict(),
            "http_port": plan.http_port,
            "ready": {"path": plan.ready_path, "timeout_s": plan.ready_timeout_s},
            "nodes": [c.as_dict() for c in self.commands],
        }


def deploy(request: PlanRequest) -> Deployment:
    engine = get_engine(request.engine)
    plan = make_plan(request, engine)
    return Deployment(plan=plan, commands=tuple(engine.build(plan)))


def minimum_hardware(model: ModelSpec, catalog: Catalog, engine: str) -> list[str]:
    """The fewest 8-GPU nodes of each catalog GPU that serve the model, smallest first ('2 x 8 x H800-80G')."""
    rules = ENGINES[engine]
    if rules.recipe(model) is None:
        return []
    found: list[tuple[int, float, str]] = []
    for gpu in catalog.gpus.values():
        if gpu.arch == "cpu":
            continue
        base = PlanRequest(model=model, engine=engine, gpu=gpu, nodes=1, gpus_per_node=_SUMMARY_GPUS_PER_NODE)
        for nodes in _SUMMARY_NODES:
            try:
                make_plan(replace(base, nodes=nodes), rules)
            except PlanRefused:
                continue
            found.append((nodes, gpu.memory_gib, f"{nodes} x {_SUMMARY_GPUS_PER_NODE} x {gpu.name}"))
            break
    return [text for _, _, text in sorted(found)]
