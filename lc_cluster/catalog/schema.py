"""The shape of model and GPU catalog entries. Strict: an unknown key is an error, never silently ignored."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from lc_cluster import validate

Parallelism = Literal["tp_per_node", "tp_all", "dp", "min_tp"]
"""How the planner spreads a model when the user gives no explicit layout:
tp_per_node: TP over one node's GPUs, DP across nodes (the LongCat vLLM guide);
tp_all: one TP group over every GPU of every node (the LongCat SGLang guide);
dp: TP 1 and one DP rank per GPU, with expert parallelism (the DeepSeek-V4 recipe);
min_tp: the smallest TP that fits, DP over the rest (small models)."""

EngineName = Literal["vllm", "sglang"]
"""The engines lc-cluster drives: the one list. Each has a recipe field below and a module in lc_cluster/engines."""
ENGINE_NAMES: tuple[str, ...] = get_args(EngineName)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _env_name(name: str) -> str:
    if not validate.ENV_NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not an environment variable name (letters, digits, '_'; not a digit first)")
    return name


Env = dict[Annotated[str, AfterValidator(_env_name)], str]
"""Environment a recipe or fix adds to every node's command; which names it may not set is the engines' to say."""


def _release(version: str) -> str:
    if not validate.VERSION.fullmatch(version):
        raise ValueError(f"{version!r} is not a release number such as 0.22.0")
    return version


Release = Annotated[str, AfterValidator(_release)]


class Architecture(_Strict):
    moe: bool
    mla: bool
    layers: int = Field(gt=0)
    attention_heads: int = Field(gt=0)
    routed_experts: int = Field(default=0, ge=0)
    kv_heads: int = Field(default=1, gt=0, description="KV heads TP can split; 1 for MLA's shared latent")
    kv_bytes_per_token: int = Field(gt=0, description="KV cache bytes per token on one GPU holding it whole")
    max_context: int = Field(gt=0)


class VllmMtp(_Strict):
    method: str
    num_speculative_tokens: int = Field(gt=0)
    num_speculative_tokens_by_arch: dict[str, int] = Field(default_factory=dict)


class SglangMtp(_Strict):
    algorithm: str
    draft_model: str | None = None
    num_steps: int = Field(gt=0)
    eagle_topk: int = Field(gt=0)
    num_draft_tokens: int = Field(gt=0)


class RoleArgs(_Strict):
    args: tuple[str, ...] = ()
    env: Env = Field(default_factory=dict)


class PdRecipe(_Strict):
    """What a prefill/decode deployment adds to the recipe: on both roles, on each, and to each connector's config."""

    args: tuple[str, ...] = ()
    env: Env = Field(default_factory=dict)
    prefill: RoleArgs = Field(default_factory=RoleArgs)
    decode: RoleArgs = Field(default_factory=RoleArgs)
    kv_transfer_extra: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per connector (nixl, mooncake): keys added to --kv-transfer-config"
    )


class EngineRecipe(_Strict):
    min_version: Release
    guide_version: Release | None = Field(default=None, description="the version the upstream guide was written for")
    parallelism: Parallelism
    expert_parallel: bool = False
    args: tuple[str, ...] = ()
    env: Env = Field(default_factory=dict)
    pd: PdRecipe = Field(default_factory=PdRecipe)


class VllmRecipe(EngineRecipe):
    mtp: VllmMtp | None = None


class SglangRecipe(EngineRecipe):
    mtp: SglangMtp | None = None


class Engines(_Strict):
    vllm: VllmRecipe | None = None
    sglang: SglangRecipe | None = None

    def recipe(self, engine: str) -> EngineRecipe | None:
        recipe: EngineRecipe | None = getattr(self, engine)
        return recipe

    def available(self) -> list[str]:
        """The engines this model has a recipe for, in the catalog's order."""
        return [name for name in ENGINE_NAMES if self.recipe(name) is not None]


class UpstreamMinimum(_Strict):
    gpu_memory_gb: float = Field(gt=0)
    example: str


class ModelSpec(_Strict):
    name: str
    source: str = Field(description="hub id (org/name) or absolute path of a local checkpoint")
    family: str
    description: str = ""
    aliases: tuple[str, ...] = ()
    params_b: float = Field(gt=0)
    active_params_b: float | None = Field(default=None, gt=0)
    dtype: str
    size_gb: float = Field(gt=0)
    expert_share: float = Field(default=0.0, ge=0.0, lt=1.0)
    trust_remote_code: bool = False
    ready_timeout_s: int | None = Field(default=None, gt=0)
    architecture: Architecture
    upstream_minimum: UpstreamMinimum | None = None
    engines: Engines

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not validate.MODEL_NAME.fullmatch(v):
            raise ValueError("use lower-case letters, digits, '.', '_' and '-' only")
        return v

    @field_validator("source")
    @classmethod
    def _source(cls, v: str) -> str:
        if not validate.MODEL_SOURCE.fullmatch(v) or ".." in v.split("/"):
            raise ValueError("must be a hub id like org/name or an absolute path, without shell characters")
        return v


class GpuSpec(_Strict):
    name: str
    aliases: tuple[str, ...] = ()
    arch: Literal["ampere", "hopper", "blackwell", "cpu"]
    memory_gib: float = Field(gt=0)
    nvswitch: bool

    def named_by(self, model: str) -> bool:
        """NVIDIA's model string ('NVIDIA H100 80GB HBM3') names this type or one of its aliases as a word."""
        names = {self.name.split("-")[0], *self.aliases}
        return any(re.search(rf"(?<![A-Za-z0-9]){re.escape(n)}(?![A-Za-z0-9])", model, re.I) for n in names)


class GpuFile(_Strict):
    gpus: tuple[GpuSpec, ...]


class CheaperFix(_Strict):
    """A fix that costs less than its quirk's own, measured to serve on RELEASES only: the rest of the quirk's range
    keeps the quirk's fix until it is measured there."""

    releases: tuple[Release, ...] = Field(min_length=1)
    args: tuple[str, ...] = Field(min_length=1)
    cost: str = Field(description="what this fix costs, measured, against the quirk's own fix")


class Quirk(_Strict):
    """A known engine defect: which releases, models and features it hits, what it looks like, what avoids it, and
    the evidence (a dated run on named hardware, or an upstream issue)."""

    id: str
    engine: EngineName
    versions: str = Field(description="PEP 440 specifiers of the releases it applies to, e.g. '>=0.22.0,<0.25.0'")
    verified: tuple[Release, ...] = Field(description="the releases it was measured on; the rest of the range is not")
    basis: Literal["run", "code"] = Field(
        default="run", description="run: 'verified' releases were run; code: their released code was read, not run"
    )
    families: tuple[str, ...]
    when: Literal["always", "mtp", "flags"] = "always"
    flags: tuple[str, ...] = Field(
        default=(),
        description="when: flags; the entry applies where the command (recipe, --engine-arg) has any of these, each "
        "'--flag' or '--flag=value' (also given as '--flag value')",
    )
    action: Literal["fix", "advise", "refuse"] = Field(
        description="fix: args/env applied to the plan; advise: shown, not applied; refuse: the plan is refused"
    )
    args: tuple[str, ...] = ()
    env: Env = Field(default_factory=dict)
    symptom: str
    evidence: str
    instead: str | None = Field(default=None, description="refuse: what to do instead")
    cost: str | None = Field(default=None, description="fix: what the fix costs, measured (throughput, start time)")
    cheaper: CheaperFix | None = None

    @model_validator(mode="after")
    def _flags_with_when(self) -> Quirk:
        if (self.when == "flags") != bool(self.flags):
            raise ValueError("'flags' names the flags of an entry with when: flags, and only of one")
        return self

    @field_validator("versions")
    @classmethod
    def _versions(cls, v: str) -> str:
        from packaging.specifiers import InvalidSpecifier, SpecifierSet

        try:
            SpecifierSet(v)
        except InvalidSpecifier:
            raise ValueError(f"{v!r} is not a version range such as '>=0.22.0,<0.25.0'") from None
        return v


class QuirkFile(_Strict):
    quirks: tuple[Quirk, ...]
