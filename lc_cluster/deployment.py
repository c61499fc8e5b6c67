"""A plan together with every node's command: what `plan` prints and what a job runs. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lc_cluster import validate
from lc_cluster.catalog import Catalog, ModelSpec, load_catalog
from lc_cluster.engines import ENGINES, Engine, NodeCommand, get_engine
from lc_cluster.engines.base import check_user_args
from lc_cluster.errors import LcError, PlanRefused
from lc_cluster.planning import Fabric, Overrides, Plan, PlanRequest, PortOptions, make_plan

if TYPE_CHECKING:
    from lc_cluster.cluster import ClusterFile

# Node counts the catalog's hardware summary tries, with the usual 8 GPUs per node.
_SUMMARY_NODES = range(1, 9)
_SUMMARY_GPUS_PER_NODE = 8
# Without a cluster file: the nodes the guides and catalogs plan for.
_DEFAULT_GPUS_PER_NODE = 8


@dataclass(frozen=True)
class Asked:
    """What the user asked for, by name, before the catalogs and the cluster file resolve it. Every field changes
    what the nodes run; `plan` and `serve` take the same ones."""

    model: str
    engine: str = "vllm"
    gpu: str | None = None
    nodes: int = 1
    gpus_per_node: int | None = None
    mtp: bool = False
    overrides: Overrides = field(default_factory=Overrides)
    engine_version: str | None = None
    fabric: Fabric = field(default_factory=Fabric)
    """Explicit fabric settings; each one set here wins over the cluster file's."""
    port: int | None = None
    bind: str | None = None
    engine_args: tuple[str, ...] = ()
    ready_timeout_s: int | None = None
    api_key: bool | None = None
    model_files: tuple[Path, ...] = ()


def resolve(asked: Asked, cluster: ClusterFile | None) -> PlanRequest:
    """The plan request: names looked up in the catalogs, and what the user left open taken from the cluster file."""
    validate.option(validate.NAME, "--ifname", asked.fabric.socket_ifname, "an interface name such as ib0 or bond0")
    validate.option(validate.IB_HCA, "--ib-hca", asked.fabric.ib_hca, "an NCCL_IB_HCA list such as mlx5_0,mlx5_1")
    validate.option(validate.NAME, "--bind", asked.bind, "an address such as 0.0.0.0")
    catalog = load_catalog(asked.model_files)
    fabric = asked.fabric
    gpu, per_node, bind = asked.gpu, asked.gpus_per_node or _DEFAULT_GPUS_PER_NODE, asked.bind
    if cluster is not None:
        if asked.gpus_per_node is not None and asked.gpus_per_node > cluster.gpus_per_node:
            raise LcError(
                f"the nodes of cluster {cluster.name} have {cluster.gpus_per_node} GPUs: use --gpus-per-node <= that"
            )
        gpu = gpu or cluster.gpu
        per_node = asked.gpus_per_node or cluster.gpus_per_node
        bind = bind if bind is not None else cluster.network.api_bind
        fabric = cluster.network.fabric(override=fabric)
    if gpu is None:
        raise LcError("which GPU? pass --gpu (see 'lc-cluster gpus') or --cluster with a cluster file that names it")
    return PlanRequest(
        model=catalog.model(asked.model),
        engine=get_engine(asked.engine).name,
        gpu=catalog.gpu(gpu),
        nodes=asked.nodes,
        gpus_per_node=per_node,
        overrides=asked.overrides,
        mtp=asked.mtp,
        engine_version=asked.engine_version,
        fabric=fabric,
        ports=PortOptions(http=asked.port),
        bind=bind,
        engine_args=asked.engine_args,
        ready_timeout_s=asked.ready_timeout_s,
        api_key=asked.api_key,
    )


@dataclass(frozen=True)
class Deployment:
    plan: Plan
    engine: Engine
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
            "api_key": plan.api_key,
            "engine_args": list(plan.request.engine_args),
            "nodes": [c.as_dict() for c in self.commands],
        }


def deploy(request: PlanRequest) -> Deployment:
    engine = get_engine(request.engine)
    plan = make_plan(request, engine)
    commands = engine.build(plan)
    check_user_args(engine, commands, request.engine_args)
    return Deployment(
        plan=plan,
        engine=engine,
        commands=tuple(replace(c, literal_args=request.engine_args) for c in commands),
    )


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
