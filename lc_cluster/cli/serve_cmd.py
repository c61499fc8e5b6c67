"""`lc-cluster serve`: plan, render, submit, and follow the job until it answers."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from lc_cluster.cli import options as o
from lc_cluster.cli.output import console, emit_json


def serve(
    model: o.ModelArg,
    cluster: o.ClusterOpt = None,
    engine: o.EngineOpt = o.EngineName.vllm,
    gpu: Annotated[str | None, typer.Option("--gpu", "-g", help="GPU type; default: the cluster file's.")] = None,
    nodes: o.Nodes = 1,
    gpus_per_node: Annotated[
        int | None, typer.Option("--gpus-per-node", "-G", min=1, max=64, help="Default: the cluster file's.")
    ] = None,
    mtp: o.Mtp = False,
    tp: o.Tp = None,
    dp: o.Dp = None,
    ep: o.Ep = None,
    pp: o.Pp = None,
    engine_version: o.EngineVersion = None,
    port: o.Port = None,
    engine_arg: Annotated[
        list[str] | None, typer.Option("--engine-arg", help="Extra engine argument, added on every node (repeat).")
    ] = None,
    ready_timeout: Annotated[
        int | None,
        typer.Option("--ready-timeout", min=1, help="Start-up deadline, s; default: sized for the model."),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the batch script; submit nothing.")] = False,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Submit and return at once.")] = False,
    model_file: o.ModelFiles = None,
    as_json: o.JsonFlag = False,
) -> None:
    """Serve a model on the cluster: validate everything, submit one Slurm job, wait until it answers."""
    from lc_cluster.cluster import load_cluster
    from lc_cluster.deployment import deploy
    from lc_cluster.errors import LcError
    from lc_cluster.planning import Network, Overrides
    from lc_cluster.slurm.script import ServeOptions, batch_script

    spec = load_cluster(cluster)
    per_node = gpus_per_node or spec.gpus_per_node
    if per_node > spec.gpus_per_node:
        raise LcError(f"the nodes of cluster {spec.name} have {spec.gpus_per_node} GPUs: use --gpus-per-node <= that")
    net = spec.network
    request = o.plan_request(
        model_file, model, engine, gpu or spec.gpu, nodes, per_node,
        mtp=mtp,
        overrides=Overrides(tp=tp, dp=dp, ep=ep, pp=pp),
        engine_version=engine_version,
        network=Network(socket_ifname=net.socket_ifname, ib_hca=net.ib_hca, ib_gid_index=net.ib_gid_index),
        port=port,
        bind=net.api_bind,
    )  # fmt: skip
    deployment = deploy(request)
    serve_options = ServeOptions(engine_args=tuple(engine_arg or ()), ready_timeout_s=ready_timeout)
    script = batch_script(deployment, spec, serve_options)
    if dry_run:
        if as_json:
            emit_json({**deployment.as_dict(), "script": script})
        else:
            typer.echo(script, nl=False)
        return

    from lc_cluster.slurm.backend import SlurmCli
    from lc_cluster.slurm.jobs import submit
    from lc_cluster.slurm.watch import follow

    backend = SlurmCli(spec)
    record = submit(deployment, spec, cluster, serve_options, backend)
    err = console(stderr=True)
    if no_wait:
        _report(
            {"job_id": record.job_id, "state": "SUBMITTED", "endpoint": None, "log_dir": str(record.job_dir)}, as_json
        )
        return
    err.print(f"submitted job {record.job_id} ({record.model}, {record.engine}, {record.nodes} nodes)")
    with err.status("waiting for the job") as live:
        outcome = follow(record, backend, lambda text: live.update(f"job {record.job_id}: {text}"))
    result: dict[str, Any] = {
        "job_id": record.job_id,
        "state": "READY" if outcome.ready else outcome.phase.upper(),
        "endpoint": outcome.endpoint,
        "log_dir": str(record.job_dir),
        "message": outcome.message,
        "failed_node": outcome.failed_node,
        "log_tail": outcome.log_tail,
    }
    if not outcome.ready:
        if as_json:
            emit_json(result)
        else:
            err.print(f"[red]job {record.job_id} failed[/]: {outcome.message}")
            if outcome.log_tail:
                where = f"node {outcome.failed_node}" if outcome.failed_node is not None else "the job"
                err.print(f"last lines of {where}'s log:", markup=False)
                err.print("\n".join("  " + line for line in outcome.log_tail), markup=False)
        raise typer.Exit(1)
    if as_json:
        emit_json(result)
        return
    reach = f"nsenter --net=/run/netns/{spec.login_netns} " if spec.login_netns else ""
    out = console()
    out.print(f"[green]ready[/]: {outcome.endpoint} (job {record.job_id}, logs in {record.job_dir})")
    out.print(f"try:  lc-cluster ask {record.job_id} 'Hello!'", markup=False)
    out.print(f"      {reach}curl -s {outcome.endpoint}/v1/models", markup=False)
    out.print(f"stop: lc-cluster stop {record.job_id}", markup=False)


def _report(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(result)
    else:
        typer.echo(f"submitted job {result['job_id']}; logs in {result['log_dir']}")


def register(app: typer.Typer) -> None:
    app.command()(serve)
