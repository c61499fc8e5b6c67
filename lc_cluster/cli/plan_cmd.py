"""`lc-cluster plan`: the layout, the memory budget and every node's exact command, without running anything."""

from __future__ import annotations

from typing import Annotated

import typer

from lc_cluster.cli import options as o
from lc_cluster.cli.output import console, emit_json, shell_line, table


def plan(
    model: o.ModelArg,
    gpu: Annotated[str, typer.Option("--gpu", "-g", help="GPU type (see 'lc-cluster gpus').")],
    engine: o.EngineOpt = o.EngineName.vllm,
    nodes: o.Nodes = 1,
    gpus_per_node: o.GpusPerNode = 8,
    mtp: o.Mtp = False,
    tp: o.Tp = None,
    dp: o.Dp = None,
    ep: o.Ep = None,
    pp: o.Pp = None,
    engine_version: o.EngineVersion = None,
    ifname: o.Ifname = None,
    ib_hca: o.IbHca = None,
    ib_gid_index: o.IbGid = None,
    port: o.Port = None,
    bind: o.Bind = None,
    model_file: o.ModelFiles = None,
    as_json: o.JsonFlag = False,
) -> None:
    """Plan a deployment and print every node's command. Exit 2, with the reason, when it cannot work."""
    from lc_cluster.deployment import deploy
    from lc_cluster.planning import Network, Overrides

    request = o.plan_request(
        model_file,
        model,
        engine,
        gpu,
        nodes,
        gpus_per_node,
        mtp=mtp,
        overrides=Overrides(tp=tp, dp=dp, ep=ep, pp=pp),
        engine_version=engine_version,
        network=Network(socket_ifname=ifname, ib_hca=ib_hca, ib_gid_index=ib_gid_index),
        port=port,
        bind=bind,
    )
    deployment = deploy(request)
    if as_json:
        emit_json(deployment.as_dict())
        return

    p = deployment.plan
    out = console()
    out.print(
        f"[bold]{p.model.name}[/] ({p.model.source}) on {p.layout.nodes} x {p.layout.gpus_per_node} x {p.gpu.name} "
        f"with {p.engine} {p.engine_version}"
    )
    out.print(f"Layout: {p.layout.describe()}; DP ranks per node: {p.layout.dp_local or 'replica spans nodes'}")
    m = p.memory
    table(
        "Memory per GPU (GiB)",
        ["GPU", "usable", "weights", "runtime reserve", "KV cache", "KV tokens per replica"],
        [
            [
                f"{m.gpu_memory_gib:g}",
                f"{m.usable_gib:.1f} ({m.utilization:.0%})",
                f"{m.weights_gib:.1f}",
                f"{m.reserve_gib:.1f}",
                f"{m.kv_cache_gib:.1f}",
                f"~{m.kv_tokens:,}",
            ]
        ],
    )
    out.print(f"Ready when GET {p.ready_path} on the head answers 200, within {p.ready_timeout_s} s.")
    for command in deployment.commands:
        role = "head" if command.index == 0 else "worker"
        out.print(f"\n[bold]# node {command.index} ({role})[/]")
        out.print(shell_line(command.env, command.argv), markup=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command()(plan)
