"""A plan together with every node's command: what `plan` prints and what a job runs. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from lc_cluster import validate
from lc_cluster.catalog import Catalog, ModelSpec, load_catalog
from lc_cluster.engines import ENGINES, Engine, NodeCommand, get_engine
from lc_cluster.engines.base import HEAD_IP, NODE_IP, check_user_args, ip_of_node
from lc_cluster.errors import LcError, PlanRefused
from lc_cluster.planning import Fabric, Overrides, Plan, PlanRequest, PortOptions, PortUse, make_plan
from lc_cluster.planning.ports import check_ports
from lc_cluster.routers import DEFAULT_ROUTER, METRICS_PORT, get_router

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
    replicas: int = 1
    router: str | None = None
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
        replicas=asked.replicas,
        router=asked.router and get_router(asked.router).name,
    )


Role = Literal["serve", "router"]


@dataclass(frozen=True)
class Process:
    """One process the job starts: an engine instance's share on one node, or the router."""

    role: Role
    instance: int
    node: int
    """Host index in the allocation (0 is the batch host, where the router runs)."""
    command: NodeCommand
    gpus: tuple[int, ...] | None
    """The node's GPUs it owns (CUDA_VISIBLE_DEVICES); None: all that Slurm gives the job there."""
    port: int | None
    """Its HTTP port, where it has one (engine heads and the router)."""
    name: str
    """Its files in the job folder (NAME.log, NAME.cmd.json, NAME.pid, NAME.exit)."""

    @property
    def env(self) -> dict[str, str]:
        visible = {"CUDA_VISIBLE_DEVICES": ",".join(map(str, self.gpus))} if self.gpus is not None else {}
        return {**self.command.env, **visible}

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "instance": self.instance,
            "node": self.node,
            "gpus": list(self.gpus) if self.gpus is not None else None,
            "port": self.port,
            "argv": list(self.command.full_argv),
            "env": self.env,
        }


@dataclass(frozen=True)
class Instance:
    """One engine instance: its own plan (layout, memory, ports) on its own nodes and GPUs."""

    index: int
    first_node: int
    plan: Plan
    commands: tuple[NodeCommand, ...]
    gpus: tuple[int, ...] | None


@dataclass(frozen=True)
class Deployment:
    engine: Engine
    instances: tuple[Instance, ...]
    router: Process | None
    nodes: int
    gpus_per_node: int
    router_kind: str | None = None
    """vllm-router or sglang-router, where a router runs."""

    @property
    def plan(self) -> Plan:
        """The first instance's plan; every instance of a deployment has the same model, engine and layout."""
        return self.instances[0].plan

    @property
    def processes(self) -> tuple[Process, ...]:
        router = (self.router,) if self.router else ()
        return (*_engine_processes(self.instances, single=self.router is None), *router)

    def as_dict(self) -> dict[str, Any]:
        plan = self.plan
        return {
            "model": plan.model.name,
            "source": plan.model.source,
            "engine": plan.engine,
            "engine_version": plan.engine_version,
            "gpu": plan.gpu.name,
            "nodes": self.nodes,
            "layout": plan.layout.as_dict(),
            "memory": plan.memory.as_dict(),
            "instances": len(self.instances),
            "router": self.router_kind,
            "http_port": self.entry_port,
            "ready": {"path": self.ready_path, "timeout_s": plan.ready_timeout_s},
            "api_key": plan.api_key,
            "engine_args": list(plan.request.engine_args),
            "processes": [p.as_dict() for p in self.processes],
        }

    @property
    def entry_port(self) -> int:
        """Where clients connect on the head: the router's port, or the single instance's."""
        return self.router.port if self.router and self.router.port else self.plan.http_port

    @property
    def ready_path(self) -> str:
        return self.plan.ready_path


def _engine_processes(instances: tuple[Instance, ...], single: bool) -> list[Process]:
    found = []
    for inst in instances:
        for command in inst.commands:
            node = inst.first_node + command.index
            found.append(
                Process(
                    role="serve",
                    instance=inst.index,
                    node=node,
                    command=command,
                    gpus=inst.gpus,
                    port=inst.plan.http_port if command.index == 0 else None,
                    # A single engine keeps the names every earlier job had (node-N.log).
                    name=f"node-{node}" if single else f"serve{inst.index}.node-{node}",
                )
            )
    return found


def deploy(request: PlanRequest) -> Deployment:
    engine = get_engine(request.engine)
    if request.replicas == 1 and request.router is None:
        plan = make_plan(request, engine)
        return Deployment(
            engine=engine,
            instances=(Instance(0, 0, plan, _commands(engine, plan), None),),
            router=None,
            nodes=request.nodes,
            gpus_per_node=request.gpus_per_node,
        )
    return _replicated(request, engine)


def _commands(engine: Engine, plan: Plan, head: str = HEAD_IP) -> tuple[NodeCommand, ...]:
    commands = engine.build(plan)
    check_user_args(engine, commands, plan.request.engine_args)
    return tuple(
        replace(
            c,
            argv=tuple(a.replace(HEAD_IP, head) for a in c.argv),
            env={k: v.replace(HEAD_IP, head) for k, v in c.env.items()},
            literal_args=plan.request.engine_args,
        )
        for c in commands
    )


# Instances that share a node get their ports this far apart (SGLang's dist-init holds a range of ~10).
_PORT_STRIDE = 100


def _replicated(request: PlanRequest, engine: Engine) -> Deployment:
    """N identical instances sharing the allocation's GPUs evenly, and a router on the head in front of them."""
    n, per_node = request.replicas, request.gpus_per_node
    total = request.nodes * per_node
    if n < 1 or total % n:
        raise PlanRefused(
            "replicas", f"{n} replicas cannot share {total} GPUs evenly: use a --replicas that divides {total}"
        )
    share = total // n
    if share > per_node and share % per_node:
        raise PlanRefused(
            "replicas",
            f"each of {n} replicas would get {share} GPUs, which is not whole {per_node}-GPU nodes: "
            f"use --replicas {request.nodes // max(1, share // per_node) or 1} or change --nodes",
        )
    if share < per_node and per_node % share:
        raise PlanRefused(
            "replicas",
            f"{share} GPUs per replica do not divide a {per_node}-GPU node: use --replicas with a share that does",
        )
    router = get_router(request.router or DEFAULT_ROUTER[engine.name])
    entry = request.ports.http_or(engine.default_http_port)
    nodes_each, per_host = max(1, share // per_node), max(1, per_node // share)
    instances = []
    for i in range(n):
        slot = i % per_host
        base = request.ports
        ports = PortOptions(
            http=entry + 1 + slot,
            dp_rpc=base.dp_rpc + _PORT_STRIDE * slot,
            dist_init=base.dist_init + _PORT_STRIDE * slot,
            master=base.master + _PORT_STRIDE * slot,
        )
        sub = replace(
            request, nodes=nodes_each, gpus_per_node=min(share, per_node), ports=ports, replicas=1, router=None
        )
        plan = make_plan(sub, engine)
        first = i * nodes_each if per_host == 1 else i // per_host
        gpus = tuple(range(slot * share, (slot + 1) * share)) if per_host > 1 else None
        instances.append(Instance(i, first, plan, _commands(engine, plan, ip_of_node(first)), gpus))
    heads = [f"http://{ip_of_node(inst.first_node)}:{inst.plan.http_port}" for inst in instances]
    bind = request.bind if request.bind not in (None, NODE_IP) else "0.0.0.0"
    metrics = METRICS_PORT
    argv = router.argv(entry, bind, heads, metrics)
    router_process = Process(
        role="router", instance=0, node=0, command=NodeCommand(index=0, argv=tuple(argv), env={}),
        gpus=(), port=entry, name="router.node-0",
    )  # fmt: skip
    _check_hosts(instances, entry, metrics)
    return Deployment(
        engine=engine, instances=tuple(instances), router=router_process, nodes=request.nodes, gpus_per_node=per_node,
        router_kind=router.name,
    )  # fmt: skip


def _check_hosts(instances: list[Instance], entry: int, metrics: int) -> None:
    """No two processes on one host hold a port in common: the router's on the head, each instance's on its nodes."""
    by_node: dict[int, list[PortUse]] = {0: [PortUse("router HTTP", entry, entry, "head"),
                                             PortUse("router metrics", metrics, metrics, "head")]}  # fmt: skip
    for inst in instances:
        rules = get_engine(inst.plan.engine)
        for use in rules.port_uses(inst.plan.layout, inst.plan.request.ports):
            nodes = (
                [inst.first_node]
                if use.where == "head"
                else range(inst.first_node, inst.first_node + inst.plan.layout.nodes)
            )
            for node in nodes:
                by_node.setdefault(node, []).append(
                    replace(use, service=f"replica {inst.index}'s {use.service}", where="head")
                )
    for uses in by_node.values():
        check_ports(uses)


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
