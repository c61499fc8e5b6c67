"""`lc-cluster doctor`: every node checked the way a serving job would see it, and the fabric measured."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from lc_cluster.cli import options as o
from lc_cluster.cli.output import console, emit_json, literal, table
from lc_cluster.schemas import versioned

if TYPE_CHECKING:
    from lc_cluster.doctor.run import Report

Nodelist = Annotated[str | None, typer.Option("--nodelist", "-w", help="Exactly these nodes (a Slurm node list).")]
Exclude = Annotated[str | None, typer.Option("--exclude", "-x", help="Leave these nodes out (a Slurm node list).")]


def doctor(
    cluster: o.ClusterOpt = None,
    nodes: Annotated[int | None, typer.Option("--nodes", "-N", min=1, max=1024, help="Any N nodes.")] = None,
    nodelist: Nodelist = None,
    exclude: Exclude = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Also check this model's weights.")] = None,
    engine: Annotated[
        str, typer.Option("--engine", "-e", help="The engine whose install (and torch) to use.")
    ] = "vllm",
    collective: Annotated[
        bool, typer.Option("--collective/--no-collective", help="Measure all-reduce/all-to-all bus bandwidth.")
    ] = True,
    min_busbw: Annotated[
        float | None,
        typer.Option("--min-busbw", min=0, help="All-reduce bus bandwidth floor, GB/s; default: from the HCAs."),
    ] = None,
    timeout: Annotated[
        int, typer.Option("--timeout", min=30, max=86400, help="Seconds the whole check may take.")
    ] = 600,
    dry_run: o.DryRun = False,
    as_json: o.JsonFlag = False,
) -> None:
    """Check nodes before serving: GPUs, driver and fabric manager, IB ports, peermem, limits, engine, weights, and
    the fabric's bandwidth. Exit 1 when a node or the fabric fails; prints the --exclude that leaves them out."""
    options: dict[str, Any] = {
        "engine": engine, "nodes": nodes, "nodelist": nodelist, "exclude": exclude, "model_ref": model,
        "collective": collective, "min_busbw_gbs": min_busbw, "timeout_s": timeout,
    }  # fmt: skip
    if dry_run:
        from lc_cluster.doctor.run import prepare, script

        request, _ = prepare(cluster, **options)
        typer.echo(script(request), nl=False)
        return
    report = check(cluster, **options)
    if as_json:
        emit_json(versioned("doctor", report.as_dict()), "doctor")
    else:
        show(report)
    if not report.ok:
        raise typer.Exit(1)


def check(cluster: str | None, **options: Any) -> Report:
    """The doctor's job, its progress on stderr."""
    from lc_cluster.doctor.run import prepare, run

    request, backend = prepare(cluster, **options)
    with console(stderr=True).status("doctor") as live:
        return run(request, backend, live.update)


def show(report: Report) -> None:
    out = console()
    names = list(dict.fromkeys(c.name for found in report.nodes.values() for c in found))
    from rich.text import Text

    mark = {True: Text("ok", style="green"), False: Text("FAIL", style="red"), None: "-"}
    rows = []
    for node, found in sorted(report.nodes.items()):
        by_name = {c.name: c for c in found}
        rows.append([node, *(mark[by_name[n].ok] if n in by_name else "-" for n in names)])
    table(f"doctor job {report.job_id}", ["node", *names], rows)
    for node, found in sorted(report.nodes.items()):
        for check in found:
            if check.ok is False:
                out.print(f"[red]{literal(node)}: {check.name}[/]: {literal(check.detail)}. Fix: {literal(check.fix)}.")
    for check in report.fabric:
        colour = {True: "green", False: "red", None: "yellow"}[check.ok]
        fix = f" Fix: {literal(check.fix)}." if check.fix else ""
        out.print(f"[{colour}]fabric[/]: {literal(check.detail)}.{fix}")
    if report.failing:
        out.print(f"Leave them out: lc-cluster serve ... --exclude {','.join(report.failing)}", markup=False)
    else:
        out.print(f"[green]all {len(report.nodes)} nodes pass[/] (doctor job {report.job_id})")


def register(app: typer.Typer) -> None:
    app.command()(doctor)
