"""Options shared by several commands, declared once. The plan options (everything that changes what nodes run) are
added to `plan` and `serve` by one decorator, so both take exactly the same ones."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from lc_cluster.deployment import Asked

from lc_cluster.cli.output import json_mode

JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.", callback=json_mode)]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Print the batch script; submit nothing.")]
ModelFiles = Annotated[
    list[Path] | None,
    typer.Option("--model-file", help="Extra model file(s) to add to the catalog.", exists=True, dir_okay=False),
]
ClusterOpt = Annotated[
    str | None,
    typer.Option("--cluster", "-c", help="Cluster name (~/.config/lc-cluster/clusters/NAME.yaml) or file path."),
]

# Options a command that takes only some of them (canary) shares.
Nodes = Annotated[int, typer.Option("--nodes", "-N", min=1, max=1024, help="Number of nodes.")]
Tp = Annotated[int | None, typer.Option("--tp", min=1, help="Tensor-parallel size.")]
Dp = Annotated[int | None, typer.Option("--dp", min=1, help="Data-parallel size (ranks in total).")]
Ep = Annotated[int | None, typer.Option("--ep", min=1, help="Expert-parallel size (1 switches EP off).")]
Replicas = Annotated[
    int,
    typer.Option("--replicas", min=1, max=1024, help="Identical engine instances behind a router."),
]
RouterOpt = Annotated[
    str | None,
    typer.Option("--router", help="Router in front of the instances: vllm-router or sglang-router."),
]
Prefill = Annotated[
    str | None,
    typer.Option("--prefill", help="Prefill instances, e.g. gpus=4,dp=4 (keys: instances nodes gpus tp dp ep pp)."),
]
Decode = Annotated[str | None, typer.Option("--decode", help="Decode instances, as --prefill.")]
KvConnector = Annotated[
    str | None,
    typer.Option("--kv-connector", help="KV transfer for prefill/decode: nixl or mooncake; default: the engine's."),
]
WithAdvice = Annotated[
    bool,
    typer.Option(
        "--with-advice", help="Apply the known defects' advice too (e.g. where FlashInfer's prebuilt kernels are not)."
    ),
]

BenchCount = Annotated[int | None, typer.Option(min=1, help="Override the scenario's value.")]

SCENARIO_HELP = (
    "chat-short, decode-heavy (256 short requests, 64 at once), long-context or seed-5k (5000-token contexts)."
)

# (name, annotation, default) of each plan option, in the order --help lists them.
_PLAN_OPTIONS: list[tuple[str, Any, Any]] = [
    (
        "model",
        Annotated[str, typer.Argument(help="Catalog name, alias or hub id (see 'lc-cluster models').")],
        inspect.Parameter.empty,
    ),
    ("cluster", ClusterOpt, None),
    ("engine", Annotated[str, typer.Option("--engine", "-e", help="Serving engine: vllm or sglang.")], "vllm"),
    ("gpu", Annotated[str | None, typer.Option("--gpu", "-g", help="GPU type; default: the cluster file's.")], None),
    ("nodes", Nodes, 1),
    (
        "gpus_per_node",
        Annotated[
            int | None,
            typer.Option("--gpus-per-node", "-G", min=1, max=64, help="GPUs per node; default: the cluster's, or 8."),
        ],
        None,
    ),
    ("mtp", Annotated[bool, typer.Option("--mtp", help="Multi-token prediction (speculative decoding).")], False),
    ("tp", Tp, None),
    ("dp", Dp, None),
    ("ep", Ep, None),
    ("pp", Annotated[int | None, typer.Option("--pp", min=1, help="Pipeline-parallel size.")], None),
    (
        "engine_version",
        Annotated[
            str | None,
            typer.Option("--engine-version", help="Engine release to emit flags for; 'guide' = the upstream guide's."),
        ],
        None,
    ),
    (
        "ifname",
        Annotated[str | None, typer.Option("--ifname", help="NIC for NCCL/Gloo sockets; default: the cluster's.")],
        None,
    ),
    ("ib_hca", Annotated[str | None, typer.Option("--ib-hca", help="NCCL_IB_HCA, e.g. mlx5_0,mlx5_1.")], None),
    (
        "ib_gid_index",
        Annotated[int | None, typer.Option("--ib-gid-index", min=0, help="NCCL_IB_GID_INDEX (RoCE; often 3).")],
        None,
    ),
    (
        "port",
        Annotated[int | None, typer.Option("--port", help="HTTP port of the API server.")],
        None,
    ),
    (
        "bind",
        Annotated[str | None, typer.Option("--bind", help="API server address; default: the cluster's.")],
        None,
    ),
    (
        "engine_arg",
        Annotated[
            list[str] | None,
            typer.Option("--engine-arg", help="Extra engine argument, added literally on every node (repeat)."),
        ],
        None,
    ),
    (
        "ready_timeout",
        Annotated[
            int | None,
            typer.Option("--ready-timeout", min=1, help="Start-up deadline, s; default: sized for the model."),
        ],
        None,
    ),
    (
        "api_key",
        Annotated[
            bool | None,
            typer.Option(
                "--api-key/--no-api-key",
                help="Require a per-job API key (ask sends it); default: wherever the engine can take it privately.",
            ),
        ],
        None,
    ),
    (
        "replicas",
        Replicas,
        1,
    ),
    (
        "router",
        RouterOpt,
        None,
    ),
    (
        "prefill",
        Prefill,
        None,
    ),
    ("decode", Decode, None),
    (
        "kv_connector",
        KvConnector,
        None,
    ),
    (
        "a2a",
        Annotated[
            str | None,
            typer.Option("--a2a", help="Expert-parallel all-to-all: deepep (DeepEP); default: the engine's own."),
        ],
        None,
    ),
    (
        "eplb",
        Annotated[
            bool,
            typer.Option("--eplb", help="Rebalance experts between EP ranks while serving (the engine's EPLB)."),
        ],
        False,
    ),
    (
        "quirks",
        Annotated[
            bool,
            typer.Option("--quirks/--no-quirks", help="Plan around known engine defects (see the plan's quirks)."),
        ],
        True,
    ),
    ("with_advice", WithAdvice, False),
    ("model_file", ModelFiles, None),
]


def _asked(values: dict[str, Any]) -> Asked:
    from lc_cluster.deployment import Asked
    from lc_cluster.planning import Fabric, Overrides

    return Asked(
        model=values["model"],
        engine=values["engine"],
        gpu=values["gpu"],
        nodes=values["nodes"],
        gpus_per_node=values["gpus_per_node"],
        mtp=values["mtp"],
        overrides=Overrides(tp=values["tp"], dp=values["dp"], ep=values["ep"], pp=values["pp"]),
        engine_version=values["engine_version"],
        fabric=Fabric(socket_ifname=values["ifname"], ib_hca=values["ib_hca"], ib_gid_index=values["ib_gid_index"]),
        port=values["port"],
        bind=values["bind"],
        engine_args=tuple(values["engine_arg"] or ()),
        ready_timeout_s=values["ready_timeout"],
        api_key=values["api_key"],
        replicas=values["replicas"],
        router=values["router"],
        prefill=values["prefill"],
        decode=values["decode"],
        kv_connector=values["kv_connector"],
        a2a=values["a2a"],
        eplb=values["eplb"],
        quirks=values["quirks"],
        quirk_advice=values["with_advice"],
        model_files=tuple(values["model_file"] or ()),
    )


def plan_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give COMMAND(asked, cluster, ...) the plan options: it receives them as one Asked and the --cluster value."""
    # Annotations are strings here (postponed evaluation), and `asked`'s names a type only the type checker imports.
    own = [
        p.replace(annotation=eval(p.annotation, command.__globals__) if isinstance(p.annotation, str) else p.annotation)
        for p in inspect.signature(command).parameters.values()
        if p.name not in ("asked", "cluster")
    ]
    shared = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
        for name, annotation, default in _PLAN_OPTIONS
    ]
    names = {name for name, _, _ in _PLAN_OPTIONS}

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> None:
        plan_values = {name: kwargs.pop(name) for name in names}
        command(asked=_asked(plan_values), cluster=plan_values["cluster"], **kwargs)

    params = [*shared, *(p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own)]
    wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    del wrapper.__wrapped__  # typer must read the new signature, not the command's
    return wrapper
