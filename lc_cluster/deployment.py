"""A plan together with every node's command: what `plan` prints and what a job runs. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from packaging.version import Version

from lc_cluster import validate
from lc_cluster.catalog import Catalog, ModelSpec, load_catalog
from lc_cluster.engines import ENGINES, Engine, NodeCommand, get_engine
from lc_cluster.engines.base import API_KEY, HEAD_IP, NODE_IP, check_added, ip_of_node
from lc_cluster.errors import LcError, PlanRefused
from lc_cluster.placement import place
from lc_cluster.planning import (
    A2A_BACKENDS,
    Fabric,
    KvWiring,
    Overrides,
    Plan,
    PlanRequest,
    PortOptions,
    PortUse,
    Role,
    RoleSpec,
    make_plan,
)
from lc_cluster.planning.ports import check_ports
from lc_cluster.planning.quirks import quirk_doc
from lc_cluster.routers import METRICS_PORT, PdWorker, PdWorkers, get_router
from lc_cluster.schemas import versioned

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
    prefill: str | None = None
    decode: str | None = None
    """Role layouts as the CLI takes them: 'instances=1,nodes=1,gpus=4,tp=1,dp=4,ep=4,pp=1' (any subset)."""
    kv_connector: str | None = None
    a2a: str | None = None
    eplb: bool = False
    quirks: bool = True
    """Plan around the known engine defects; False shows the raw commands."""
    quirk_advice: bool = False
    """Apply the advice of the known defects too, not only their fixes."""
    model_files: tuple[Path, ...] = ()


def resolve(asked: Asked, cluster: ClusterFile | None) -> PlanRequest:
    """The plan request: names looked up in the catalogs, and what the user left open taken from the cluster file."""
    validate.option(validate.NAME, "--ifname", asked.fabric.socket_ifname, "an interface name such as ib0 or bond0")
    validate.option(validate.IB_HCA, "--ib-hca", asked.fabric.ib_hca, "an NCCL_IB_HCA list such as mlx5_0,mlx5_1")
    validate.option(validate.NAME, "--bind", asked.bind, "an address such as 0.0.0.0")
    if asked.a2a is not None and asked.a2a not in A2A_BACKENDS:
        choices = " or ".join(A2A_BACKENDS)
        raise LcError(f"--a2a {asked.a2a!r} is not an all-to-all lc-cluster plans: use --a2a {choices}")
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
        prefill=role_spec(asked.prefill, "--prefill"),
        decode=role_spec(asked.decode, "--decode"),
        kv_connector=asked.kv_connector,
        a2a=asked.a2a,
        eplb=asked.eplb,
        quirks=tuple(
            q.model_copy(update={"action": "fix"}) if asked.quirk_advice and q.action == "advise" else q
            for q in (catalog.quirks if asked.quirks else ())
        ),
    )


_ROLE_SPEC = re.compile(r"[a-z]+=[0-9]{1,5}(,[a-z]+=[0-9]{1,5})*")
_ROLE_KEYS = ("instances", "nodes", "gpus", "tp", "dp", "ep", "pp")


def role_spec(text: str | None, flag: str) -> RoleSpec | None:
    """A role's layout from the CLI: comma-separated KEY=N, each key once."""
    if text is None:
        return None
    form = f"KEY=N pairs such as gpus=4,dp=4 (keys: {', '.join(_ROLE_KEYS)})"
    validate.option(_ROLE_SPEC, flag, text, form)
    values: dict[str, int] = {}
    for pair in text.split(","):
        key, value = pair.split("=")
        if key not in _ROLE_KEYS or key in values or int(value) < 1:
            raise LcError(f"{flag} {text!r}: {pair!r} is not allowed; give {form}, each key once, numbers >= 1")
        values[key] = int(value)
    overrides = Overrides(**{k: values.get(k) for k in ("tp", "dp", "ep", "pp")})
    return RoleSpec(values.get("instances", 1), values.get("nodes", 1), values.get("gpus"), overrides)


ProcessRole = Literal["serve", "prefill", "decode", "router"]


@dataclass(frozen=True)
class Process:
    """One process the job starts: an engine instance's share on one node, or the router."""

    role: ProcessRole
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
            "derived": list(self.command.derived),
        }


@dataclass(frozen=True)
class Instance:
    """One engine instance: its own plan (layout, memory, ports) on its own nodes and GPUs."""

    index: int
    first_node: int
    plan: Plan
    commands: tuple[NodeCommand, ...]
    gpus: tuple[int, ...] | None
    role: Role

    @property
    def url(self) -> str:
        """Where the router and the other instances reach its head."""
        return f"http://{ip_of_node(self.first_node)}:{self.plan.http_port}"

    def as_dict(self, processes: tuple[Process, ...]) -> dict[str, Any]:
        plan, kv = self.plan, self.plan.request.kv
        ports = plan.request.ports
        return {
            "role": self.role,
            "index": self.index,
            "first_node": self.first_node,
            "gpus": list(self.gpus) if self.gpus is not None else None,
            "layout": plan.layout.as_dict(),
            "memory": plan.memory.as_dict(),
            "ports": {
                "http": plan.http_port,
                "dp_rpc": ports.dp_rpc,
                "dist_init": ports.dist_init,
                "master": ports.master,
            },
            "kv": {"connector": kv.connector, "port": kv.port} if kv else None,
            "processes": [p.name for p in processes if p.role == self.role and p.instance == self.index],
        }


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
        """The versioned plan (schemas/plan.json): what `plan --json` prints and the job record keeps."""
        plan = self.plan
        return versioned("plan", {
            "model": plan.model.name,
            "source": plan.model.source,
            "engine": plan.engine,
            "engine_version": plan.engine_version,
            "gpu": plan.gpu.name,
            "nodes": self.nodes,
            "gpus_per_node": self.gpus_per_node,
            "router": self.router_kind,
            "http_port": self.entry_port,
            "ready": {"path": self.ready_path, "timeout_s": plan.ready_timeout_s},
            "api_key": plan.api_key,
            "quirks": [quirk_doc(q, plan.engine_version) for q in plan.quirks],
            "engine_args": list(plan.request.engine_args),
            "instances": [i.as_dict(self.processes) for i in self.instances],
            "processes": [p.as_dict() for p in self.processes],
        })  # fmt: skip

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
                    role=inst.role,
                    instance=inst.index,
                    node=node,
                    command=command,
                    gpus=inst.gpus,
                    port=inst.plan.http_port if command.index == 0 else None,
                    # A single engine keeps the names every earlier job had (node-N.log).
                    name=f"node-{node}" if single else f"{inst.role}{inst.index}.node-{node}",
                )
            )
    return found


def deploy(request: PlanRequest) -> Deployment:
    engine = get_engine(request.engine)
    groups = _groups(request)
    if groups is None:
        plan = make_plan(request, engine)
        return Deployment(
            engine=engine,
            instances=(Instance(0, 0, plan, _commands(engine, plan), None, "serve"),),
            router=None,
            nodes=request.nodes,
            gpus_per_node=request.gpus_per_node,
        )
    return _multi(request, engine, groups)


def _commands(engine: Engine, plan: Plan, head: str = HEAD_IP) -> tuple[NodeCommand, ...]:
    _check_additions(engine, plan)
    commands = [_with_quirks(c, plan) for c in engine.build(plan)]
    planned = {a for c in commands for a in c.argv if a.startswith("-")}
    check_added(engine, "--engine-arg", plan.request.engine_args, {}, planned)
    return tuple(
        replace(
            c,
            argv=tuple(a.replace(HEAD_IP, head) for a in c.argv),
            env={k: v.replace(HEAD_IP, head) for k, v in c.env.items()},
            literal_args=plan.request.engine_args,
        )
        for c in commands
    )


def _check_additions(engine: Engine, plan: Plan) -> None:
    """Every other source of engine arguments and environment, by the same guard as --engine-arg: the model's recipe
    (a user's model file as much as the catalog's) and the fixes of known defects."""
    recipe, where = plan.recipe, f"model {plan.model.name!r}, {plan.request.engine}"
    pd = recipe.pd
    parts = (("", recipe.args, recipe.env), (".pd", pd.args, pd.env), (".pd.prefill", pd.prefill.args, pd.prefill.env),
             (".pd.decode", pd.decode.args, pd.decode.env))  # fmt: skip
    for name, args, env in parts:
        check_added(engine, f"{where}{name}", args, env)
    for quirk in plan.quirks:
        check_added(engine, f"the fix of {quirk.id}", quirk.args, quirk.env)


def _with_quirks(command: NodeCommand, plan: Plan) -> NodeCommand:
    """The fixes of the known defects the plan meets, where the command does not already say otherwise."""
    argv, env = list(command.argv), dict(command.env)
    for quirk in plan.quirks:
        if quirk.action != "fix":
            continue
        if not quirk.args or quirk.args[0] not in argv:
            argv += quirk.args
        env = {**quirk.env, **env}
    return replace(command, argv=tuple(argv), env=env)


# The router's port where --port leaves it open: vllm-router's own default, unless the engine's instances hold it.
_ROUTER_PORT, _ROUTER_PORT_ELSE = 30000, 8000


def _groups(request: PlanRequest) -> list[tuple[Role, RoleSpec]] | None:
    """The roles and how each is laid out, or None for one engine over the whole allocation."""
    if request.kv_connector is not None and not (request.prefill or request.decode):
        raise PlanRefused(
            "kv-connector",
            "--kv-connector moves KV caches from prefill to decode: add --prefill and --decode, or drop it",
        )
    if request.prefill or request.decode:
        if not (request.prefill and request.decode):
            raise PlanRefused("roles-fit", "prefill/decode disaggregation needs both: use --prefill and --decode")
        if request.replicas != 1:
            raise PlanRefused(
                "replicas", "--replicas is for instances of one role: use instances= in --prefill/--decode"
            )
        return [("prefill", request.prefill), ("decode", request.decode)]
    if request.replicas == 1 and request.router is None:
        return None
    n, per_node = request.replicas, request.gpus_per_node
    total = request.nodes * per_node
    share = total // n
    if total % n or (share > per_node and share % per_node) or (share < per_node and per_node % share):
        raise PlanRefused(
            "replicas",
            f"{n} replicas cannot share {request.nodes} x {per_node} GPUs evenly, each in whole nodes or in an equal "
            "part of one: use a --replicas that divides the GPUs that way",
        )
    whole = share >= per_node
    spec = RoleSpec(instances=n, nodes=share // per_node if whole else 1, gpus=None if whole else share,
                    overrides=request.overrides)  # fmt: skip
    return [("serve", spec)]


def _multi(request: PlanRequest, engine: Engine, groups: list[tuple[Role, RoleSpec]]) -> Deployment:
    """Several instances on their own nodes or GPU slices, and a router on the head that starts after all of them."""
    pd = groups[0][0] != "serve"
    connector = _connector(request, engine, pd)
    router = get_router(request.router or engine.default_router)
    if router.name == "sglang-router" and engine.name != "sglang":
        # Seen on the sandbox: it learns each worker's model from SGLang's /model_info (/get_model_info), which vLLM
        # does not serve, registers the model as 'unknown' and answers every chat request 404.
        raise PlanRefused(
            "router",
            "sglang-router routes only to SGLang engines (it asks them for /model_info): use --router vllm-router",
        )
    http = engine.default_http_port
    entry = request.ports.http or (_ROUTER_PORT if http != _ROUTER_PORT else _ROUTER_PORT_ELSE)
    # The router (and the other nodes) must reach every instance, whatever the engine's default address.
    bind = request.bind if request.bind is not None or engine.listens_everywhere else "0.0.0.0"
    instances = []
    for slot in place(groups, request.nodes, request.gpus_per_node):
        spec = dict(groups)[slot.role]
        kv = KvWiring(connector, slot.shifted(engine.default_kv_ports[connector])) if connector else None
        sub = replace(
            request,
            role=slot.role,
            nodes=slot.nodes,
            gpus_per_node=len(slot.gpus) if slot.gpus else request.gpus_per_node,
            overrides=spec.overrides,
            ports=slot.ports(request.ports, http),
            kv=kv, bind=bind, replicas=1, router=None, prefill=None, decode=None,
        )  # fmt: skip
        plan = make_plan(sub, engine)
        _check_connector(engine, plan)
        commands = _commands(engine, plan, ip_of_node(slot.first_node))
        instances.append(Instance(slot.index, slot.first_node, plan, commands, slot.gpus, slot.role))
    router_bind = request.bind if request.bind not in (None, NODE_IP) else "0.0.0.0"
    if connector:
        workers = PdWorkers(
            prefill=[_pd_worker(engine, i) for i in instances if i.role == "prefill"],
            decode=[_pd_worker(engine, i) for i in instances if i.role == "decode"],
            connector=connector,
        )
        argv = router.pd_argv(entry, router_bind, workers, METRICS_PORT)
        env = router.pd_key_env(API_KEY) if instances[0].plan.api_key else {}
    else:
        argv = router.argv(entry, router_bind, [i.url for i in instances], METRICS_PORT)
        env = {}
    router_process = Process(
        role="router", instance=0, node=0, command=NodeCommand(index=0, argv=tuple(argv), env=env),
        gpus=(), port=entry, name="router.node-0",
    )  # fmt: skip
    _check_hosts(instances, entry, METRICS_PORT)
    return Deployment(
        engine=engine, instances=tuple(instances), router=router_process, nodes=request.nodes,
        gpus_per_node=request.gpus_per_node, router_kind=router.name,
    )  # fmt: skip


def _connector(request: PlanRequest, engine: Engine, pd: bool) -> str | None:
    """The KV connector of a prefill/decode deployment, checked against the engine; None where nothing moves KV."""
    if not pd:
        return None
    connector = request.kv_connector or engine.default_kv_connector
    if connector not in engine.kv_connectors:
        raise PlanRefused(
            "kv-connector",
            f"{engine.name} has no KV connector {connector!r}: use --kv-connector {' or '.join(engine.kv_connectors)}",
        )
    return connector


def _check_connector(engine: Engine, plan: Plan) -> None:
    if plan.request.kv is None:
        return
    connector, since = plan.request.kv.connector, engine.kv_connectors[plan.request.kv.connector]
    if Version(plan.engine_version) < Version(since):
        raise PlanRefused(
            "kv-connector",
            f"{engine.name} {plan.engine_version} has no {connector} KV connector (it arrived in {since}): use "
            f"--engine-version {since} or newer, or another --kv-connector",
        )


def _pd_worker(engine: Engine, inst: Instance) -> PdWorker:
    kv = inst.plan.request.kv
    assert kv is not None, "every prefill/decode instance is planned with its KV wiring"
    bootstrap = engine.router_bootstrap(kv) if inst.role == "prefill" else None
    return PdWorker(url=inst.url, bootstrap=bootstrap, dp=inst.plan.layout.dp)


def _check_hosts(instances: list[Instance], entry: int, metrics: int) -> None:
    """No two processes on one host hold a port in common: the router's on the head, each instance's on its nodes."""
    by_node: dict[int, list[PortUse]] = {0: [PortUse("router HTTP", entry, entry, "head"),
                                             PortUse("router metrics", metrics, metrics, "head")]}  # fmt: skip
    for inst in instances:
        rules = get_engine(inst.plan.engine)
        for use in rules.port_uses(inst.plan.layout, inst.plan.request.ports, inst.plan.request.kv):
            first = inst.first_node
            nodes = [first] if use.where == "head" else range(first, first + inst.plan.layout.nodes)
            for node in nodes:
                named = replace(use, service=f"{inst.role} {inst.index}'s {use.service}", where="head")
                by_node.setdefault(node, []).append(named)
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
