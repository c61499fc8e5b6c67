"""Properties that must hold for every plan the planner accepts, and for every refusal it gives."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lc_cluster.catalog import load_catalog
from lc_cluster.deployment import deploy
from lc_cluster.engines import ENGINES
from lc_cluster.errors import PlanRefused
from lc_cluster.planning import Overrides, PlanRequest, PortOptions
from tests.unit.argv import flag_values, options

CATALOG = load_catalog()
LIMITS = {
    "engine-recipe",
    "engine-version",
    "mtp",
    "tp-divides-heads",
    "pp-within-layers",
    "replica-fits-nodes",
    "dp-fills-nodes",
    "gpu-count",
    "engine-dp",
    "ep-size",
    "ep-needs-moe",
    "ep-divides-experts",
    "gpu-memory",
    "upstream-minimum",
    "port-range",
    "port-conflict",
    "replicas",
    "api-key",
    "roles-fit",
    "kv-connector",
    "known-broken",
    "router",
}
# Flags whose value differs from node to node by design; everything else must be identical on every node.
PER_NODE = {"--node-rank", "--data-parallel-start-rank", "--headless"}
REMEDY = re.compile(r"\b(use|choose|drop|move|change|keep)\b")

sizes = st.one_of(st.none(), st.sampled_from([1, 2, 3, 4, 8, 16, 32]))
requests = st.builds(
    PlanRequest,
    model=st.sampled_from(sorted(CATALOG.models.values(), key=lambda m: m.name)),
    engine=st.sampled_from(sorted(ENGINES)),
    gpu=st.sampled_from([g for g in CATALOG.gpus.values() if g.arch != "cpu"]),
    nodes=st.integers(1, 6),
    gpus_per_node=st.sampled_from([1, 2, 4, 8]),
    overrides=st.builds(Overrides, tp=sizes, dp=sizes, ep=st.one_of(st.none(), st.sampled_from([1, 8, 16])), pp=sizes),
    mtp=st.booleans(),
    engine_version=st.sampled_from([None, "guide", "0.5.1", "0.10.2", "0.20.1", "0.33.0", "0.5.23", "x.y"]),
    ports=st.builds(
        PortOptions,
        http=st.one_of(st.none(), st.sampled_from([80, 5003, 8000, 13345, 29501, 30000])),
        dp_rpc=st.sampled_from([13345, 8000, 5002, 30000]),
        dist_init=st.sampled_from([5000, 7995, 29998]),
        master=st.sampled_from([29501, 8000, 13345]),
    ),
)


def _dp_ranges(argvs: list[list[str]]) -> list[range]:
    ranges = []
    for argv in argvs:
        size = flag_values(argv, "--data-parallel-size-local")
        start = flag_values(argv, "--data-parallel-start-rank")
        ranges.append(range(int(start[0]) if start else 0, (int(start[0]) if start else 0) + int(size[0])))
    return ranges


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests)
def test_every_plan_is_consistent_or_refused_with_a_named_limit(request: PlanRequest) -> None:
    try:
        deployment = deploy(request)
    except PlanRefused as exc:
        assert exc.limit in LIMITS
        assert "\n" not in str(exc)
        assert REMEDY.search(str(exc)), f"refusal without a way out: {exc}"
        return

    layout = deployment.plan.layout
    argvs = [list(p.command.argv) for p in deployment.processes]
    assert len(argvs) == request.nodes == layout.nodes
    assert layout.tp * layout.pp * layout.dp == request.nodes * request.gpus_per_node

    head = argvs[0]
    assert "--headless" not in head
    assert not flag_values(head, "--data-parallel-start-rank")
    assert "--data-parallel-rank" not in head

    stripped = [{k: v for k, v in options(argv)[1].items() if k[0] not in PER_NODE} for argv in argvs]
    assert all(s == stripped[0] for s in stripped), "flags that must match across nodes differ"

    if request.engine == "vllm" and layout.nodes > 1 and not layout.spans_nodes:
        ranks = _dp_ranges(argvs)
        covered = sorted(r for rng in ranks for r in rng)
        assert covered == list(range(layout.dp)), f"DP ranks {ranks} do not cover [0, {layout.dp}) exactly"
        assert all("--headless" in argv for argv in argvs[1:])
    if layout.spans_nodes or (request.engine == "sglang" and layout.nodes > 1):
        ranks = [int(flag_values(argv, "--node-rank")[0]) for argv in argvs]
        assert ranks == list(range(layout.nodes))

    rules = ENGINES[request.engine]
    uses = rules.port_uses(layout, request.ports, request.kv)
    for where in ("head", "every node"):
        ports = [p for u in uses if where == "head" or u.where == "every node" for p in range(u.first, u.last + 1)]
        assert len(ports) == len(set(ports)), f"two services share a port on the {where}: {uses}"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests, st.sampled_from([2, 3, 4, 8]), st.sampled_from([None, "vllm-router", "sglang-router"]))
def test_replicas_own_disjoint_gpus_and_ports_and_the_router_names_every_head(
    request: PlanRequest, replicas: int, router: str | None
) -> None:
    from dataclasses import replace

    try:
        deployment = deploy(replace(request, replicas=replicas, router=router))
    except PlanRefused as exc:
        assert exc.limit in LIMITS
        assert REMEDY.search(str(exc)), f"refusal without a way out: {exc}"
        return
    assert len(deployment.instances) == replicas
    engines = [p for p in deployment.processes if p.role == "serve"]
    gpus: dict[int, list[int]] = {}
    ports: dict[int, list[int]] = {}
    for p in engines:
        gpus.setdefault(p.node, []).extend(p.gpus if p.gpus is not None else range(request.gpus_per_node))
        if p.port is not None:
            ports.setdefault(p.node, []).append(p.port)
    for node, owned in gpus.items():
        assert sorted(owned) == list(range(request.gpus_per_node)), f"node {node}'s GPUs are not shared out: {owned}"
    assert deployment.router is not None and deployment.router.node == 0
    ports.setdefault(0, []).append(deployment.entry_port)
    for node, held in ports.items():
        assert len(held) == len(set(held)), f"two processes share an HTTP port on node {node}: {held}"
    router_argv = deployment.router.command.argv
    urls = router_argv[router_argv.index("--worker-urls") + 1 : router_argv.index("--policy")]
    heads = [p for p in engines if p.port is not None]
    assert len(urls) == len(heads) == replicas
    for url, head in zip(urls, heads, strict=True):
        assert url.endswith(f":{head.port}")
        assert ("${HEAD_IP}" if head.node == 0 else f"${{IP_OF_NODE_{head.node}}}") in url
