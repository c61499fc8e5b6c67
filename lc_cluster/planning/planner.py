"""Turn a request into a validated plan, or refuse it with the rule it broke and what would work instead."""

from __future__ import annotations

from dataclasses import dataclass, replace

from packaging.version import InvalidVersion, Version

from lc_cluster import validate
from lc_cluster.catalog import GpuSpec, ModelSpec
from lc_cluster.catalog.schema import EngineRecipe, Quirk
from lc_cluster.errors import PlanRefused
from lc_cluster.planning.layout import Layout, check_shape, divisors, redundant_experts, shape
from lc_cluster.planning.memory import GIB, MIN_KV_TOKENS, MemoryBudget, budget
from lc_cluster.planning.ports import check_ports
from lc_cluster.planning.quirks import matching, refuse_known_broken
from lc_cluster.planning.request import Overrides, PlanRequest
from lc_cluster.planning.rules import EngineRules

# Loading weights runs at a few hundred MB/s per node from shared storage, and engines compile and warm up after:
# ten minutes plus six seconds per GB keeps a 560B BF16 start (about 2 hours) from being killed as a hang.
_READY_BASE_S = 600
_READY_PER_GB_S = 6
_MAX_SUGGESTED_NODES = 16


@dataclass(frozen=True)
class Plan:
    request: PlanRequest
    recipe: EngineRecipe
    engine_version: str
    layout: Layout
    memory: MemoryBudget
    http_port: int
    ready_timeout_s: int
    ready_path: str
    api_key: bool
    """The server requires an API key, which the job generates and `ask` sends."""
    quirks: tuple[Quirk, ...] = ()
    """Known defects of this engine release for this model: 'fix' ones are applied to every node's command."""

    @property
    def model(self) -> ModelSpec:
        return self.request.model

    @property
    def gpu(self) -> GpuSpec:
        return self.request.gpu

    @property
    def engine(self) -> str:
        return self.request.engine


def make_plan(request: PlanRequest, rules: EngineRules) -> Plan:
    try:
        return _plan(request, rules)
    except PlanRefused as exc:
        if exc.limit not in ("gpu-memory", "upstream-minimum"):
            raise
        raise PlanRefused(exc.limit, f"{exc}; {_what_would_fit(request, rules)}") from None


def engine_recipe(model: ModelSpec, rules: EngineRules) -> EngineRecipe:
    recipe = rules.recipe(model)
    if recipe is None:
        others = model.engines.available()
        raise PlanRefused(
            "engine-recipe",
            f"the catalog has no {rules.name} recipe for {model.name}: use --engine {' or '.join(others)}"
            if others
            else f"the catalog has no engine recipe for {model.name}",
        )
    return recipe


def resolve_version(requested: str | None, recipe: EngineRecipe, rules: EngineRules, model: ModelSpec) -> str:
    if requested is None:
        version = rules.default_version
    elif requested == "guide":
        if recipe.guide_version is None:
            raise PlanRefused(
                "engine-version",
                f"no upstream guide is recorded for {model.name} on {rules.name}: use a version number, e.g. "
                f"--engine-version {rules.default_version}",
            )
        version = recipe.guide_version
    else:
        version = requested
    try:
        # Whole-string match first: packaging would accept surrounding whitespace, a newline included.
        if not validate.VERSION.fullmatch(version):
            raise InvalidVersion(version)
        parsed = Version(version)
    except InvalidVersion:
        raise PlanRefused(
            "engine-version", f"{version!r} is not a version number: use e.g. {rules.default_version}"
        ) from None
    if parsed < Version(recipe.min_version):
        raise PlanRefused(
            "engine-version",
            f"{model.name} needs {rules.name} >= {recipe.min_version}, not {version}: use --engine-version "
            f"{recipe.min_version} or newer",
        )
    return version


def _plan(request: PlanRequest, rules: EngineRules) -> Plan:
    model, gpu, ov = request.model, request.gpu, request.overrides
    recipe = engine_recipe(model, rules)
    version = resolve_version(request.engine_version, recipe, rules, model)
    # What the quirk table may name: the recipe's and the user's arguments, and what the plan's own options turn on.
    added = (*recipe.args, *request.engine_args, *rules.asked_flags(request, version))
    quirks = matching(request.quirks, rules.name, version, model.family, request.mtp, added)
    refuse_known_broken(quirks, model.name, rules.name, version)
    if request.mtp and getattr(recipe, "mtp", None) is None:
        raise PlanRefused(
            "mtp", f"the catalog lists no multi-token prediction for {model.name} on {rules.name}: drop --mtp"
        )

    tp, pp, dp = shape(
        recipe.parallelism, ov, request.nodes, request.gpus_per_node, lambda: _smallest_fitting_tp(request, rules)
    )
    check_shape(tp, pp, dp, request.nodes, request.gpus_per_node, model)
    layout = Layout(tp=tp, pp=pp, dp=dp, ep=1, nodes=request.nodes, gpus_per_node=request.gpus_per_node)
    layout = replace(layout, ep=_expert_parallel(ov, recipe, model, layout, rules))
    # Redundant experts only with EPLB: vLLM refuses them without it (vllm/config/parallel.py), and SGLang's models
    # add them to their MoE layers only where they have EPLB (deepseek_v2.py does; longcat_flash.py does not).
    hint = "" if request.eplb else "use --eplb (its redundant experts fill the ranks up), "
    layout = replace(layout, redundant_experts=redundant_experts(layout.ep, model, request.eplb, hint))
    rules.check_layout(layout, version, request)

    memory = budget(model, gpu, layout, rules.memory_utilization, rules.experts_shard_over(layout))
    _check_memory(model, gpu, layout, memory)

    check_ports(rules.port_uses(layout, request.ports, request.kv))
    return Plan(
        request=request,
        recipe=recipe,
        engine_version=version,
        layout=layout,
        memory=memory,
        http_port=request.ports.http_or(rules.default_http_port),
        ready_timeout_s=request.ready_timeout_s
        or model.ready_timeout_s
        or int(_READY_BASE_S + _READY_PER_GB_S * model.size_gb),
        ready_path=rules.ready_path,
        api_key=_api_key(request, rules, version),
        quirks=tuple(quirks),
    )


def _api_key(request: PlanRequest, rules: EngineRules, version: str) -> bool:
    """On by default wherever the release can take a key privately; asked for where it cannot, refused."""
    possible = Version(version) >= Version(rules.api_key_since)
    if request.api_key and not possible:
        raise PlanRefused(
            "api-key",
            f"{rules.name} {version} takes an API key only on its command line, which every user of the node can "
            f"read: use --engine-version {rules.api_key_since} or newer, or --no-api-key",
        )
    return possible if request.api_key is None else request.api_key


def _expert_parallel(ov: Overrides, recipe: EngineRecipe, model: ModelSpec, layout: Layout, rules: EngineRules) -> int:
    size = rules.expert_parallel_size(layout)
    if ov.ep is None:
        return size if recipe.expert_parallel and model.architecture.moe else 1
    if ov.ep not in (1, size):
        raise PlanRefused(
            "ep-size",
            f"{rules.name} runs expert parallelism over {size} GPUs in this layout: use --ep {size} or --ep 1",
        )
    return ov.ep


def _smallest_fitting_tp(request: PlanRequest, rules: EngineRules) -> int:
    """For small models: the least TP whose replica still leaves room for the KV cache."""
    model, g = request.model, request.gpus_per_node
    for tp in divisors(g):
        if model.architecture.attention_heads % tp:
            continue
        layout = Layout(tp=tp, pp=1, dp=request.nodes * g // tp, ep=1, nodes=request.nodes, gpus_per_node=g)
        memory = budget(model, request.gpu, layout, rules.memory_utilization, rules.experts_shard_over(layout))
        if memory.kv_tokens >= MIN_KV_TOKENS:
            return tp
    return g


def _check_memory(model: ModelSpec, gpu: GpuSpec, layout: Layout, memory: MemoryBudget) -> None:
    if memory.weights_gib + memory.reserve_gib > memory.usable_gib:
        raise PlanRefused(
            "gpu-memory",
            f"{model.name} ({model.size_gb:g} GB, {model.dtype}) needs {memory.weights_gib:.1f} GiB of weights per GPU "
            f"in this layout ({layout.describe()}), but a {gpu.name} gives {memory.usable_gib:.1f} GiB at utilization "
            f"{memory.utilization:.2f}, {memory.reserve_gib:.1f} GiB of it kept for the runtime",
        )
    if memory.kv_tokens < MIN_KV_TOKENS:
        raise PlanRefused(
            "gpu-memory",
            f"{model.name} in this layout ({layout.describe()}) leaves {memory.kv_cache_gib:.1f} GiB per {gpu.name} "
            f"for the KV cache, {memory.kv_tokens} tokens, below the {MIN_KV_TOKENS} a replica needs",
        )
    minimum = model.upstream_minimum
    have_gb = layout.nodes * layout.gpus_per_node * gpu.memory_gib * GIB / 1e9
    if minimum is not None and have_gb < minimum.gpu_memory_gb:
        raise PlanRefused(
            "upstream-minimum",
            f"{model.name} needs at least {minimum.gpu_memory_gb:g} GB of GPU memory in total (the upstream guides' "
            f"minimum is {minimum.example}), but {layout.nodes} x {layout.gpus_per_node} x {gpu.name} has "
            f"{have_gb:.0f} GB",
        )


def _what_would_fit(request: PlanRequest, rules: EngineRules) -> str:
    for nodes in range(request.nodes + 1, _MAX_SUGGESTED_NODES + 1):
        try:
            _plan(replace(request, nodes=nodes, overrides=Overrides()), rules)
        except PlanRefused:
            continue
        return f"use at least {nodes} nodes of {request.gpus_per_node} x {request.gpu.name}, or GPUs with more memory"
    return "use GPUs with more memory or a smaller checkpoint"
