"""`lc-cluster serve`: the job value printed (--dry-run) or submitted and followed until it answers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from lc_cluster.cli import doctor_cmd
from lc_cluster.cli import options as o
from lc_cluster.cli.output import console, emit_json, literal

if TYPE_CHECKING:
    from lc_cluster.deployment import Asked


@o.plan_options
def serve(
    asked: Asked,
    cluster: str | None,
    dry_run: o.DryRun = False,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Submit and return at once.")] = False,
    exclude: doctor_cmd.Exclude = None,
    preflight: Annotated[
        bool, typer.Option("--preflight", help="Run doctor on the partition's nodes first; submit only if all pass.")
    ] = False,
    as_json: o.JsonFlag = False,
) -> None:
    """Serve a model on the cluster: validate everything, submit one Slurm job, wait until it answers."""
    from lc_cluster.jobs.job import prepare
    from lc_cluster.schemas import versioned

    job = prepare(asked, cluster, exclude)
    if preflight and not dry_run:
        report = doctor_cmd.check(
            cluster, engine=job.deployment.plan.engine, exclude=exclude, model_ref=job.deployment.plan.model.name
        )
        if not report.ok:
            doctor_cmd.show(report)
            console(stderr=True).print("[red]preflight failed[/]: nothing submitted")
            raise typer.Exit(1)
    if dry_run:
        if as_json:
            emit_json(job.as_dict(script=True), "plan")
        else:
            typer.echo(job.script, nl=False)
        return

    from lc_cluster.jobs.backend import SlurmCli
    from lc_cluster.jobs.lifecycle import submit
    from lc_cluster.jobs.watch import follow

    backend = SlurmCli(job.cluster)
    record = submit(job, backend)
    err = console(stderr=True)
    if no_wait:
        if as_json:
            emit_json(versioned("serve", {"job_id": record.job_id, "state": "SUBMITTED", "endpoint": None,
                                          "log_dir": str(record.job_dir), "message": None, "failed_node": None,
                                          "failed_process": None, "log_tail": []}), "serve")  # fmt: skip
        else:
            typer.echo(f"submitted job {record.job_id}; logs in {record.job_dir}")
        return
    err.print(f"submitted job {record.job_id} ({record.model}, {record.engine}, {record.nodes} nodes)")
    with err.status("waiting for the job") as live:
        outcome = follow(record, backend, lambda text: live.update(f"job {record.job_id}: {text}"))
    result: dict[str, Any] = versioned("serve", {
        "job_id": record.job_id,
        "state": "READY" if outcome.ready else outcome.phase.value.upper(),
        "endpoint": outcome.endpoint,
        "log_dir": str(record.job_dir),
        "message": outcome.message,
        "failed_node": outcome.failed_node,
        "failed_process": outcome.failed_process,
        "log_tail": outcome.log_tail,
    })  # fmt: skip
    if as_json:
        emit_json(result, "serve")
    elif not outcome.ready:
        err.print(f"[red]job {record.job_id} failed[/]: {literal(outcome.message)}")
        if outcome.log_tail:
            err.print(f"last lines of {outcome.failed_where}'s log:", markup=False)
            err.print("\n".join("  " + line for line in outcome.log_tail), markup=False)
    else:
        login_netns = job.cluster.login_netns
        reach = f"nsenter --net=/run/netns/{login_netns} " if login_netns else ""
        out = console()
        out.print(f"[green]ready[/]: {outcome.endpoint} (job {record.job_id}, logs in {record.job_dir})")
        out.print(f"try:  lc-cluster ask {record.job_id} 'Hello!'", markup=False)
        key = f' -H "Authorization: Bearer $(cat {record.key_path})"' if record.api_key() else ""
        out.print(f"      {reach}curl -s{key} {outcome.endpoint}/v1/models", markup=False)
        out.print(f"stop: lc-cluster stop {record.job_id}", markup=False)
    if not outcome.ready:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(serve)
