"""Day-2 commands on jobs lc-cluster started: status, logs, stop, ask."""

from __future__ import annotations

from typing import Annotated

import typer

from lc_cluster.cli import options as o
from lc_cluster.cli.output import console, emit_json, table
from lc_cluster.schemas import versioned

JobArg = Annotated[str, typer.Argument(help="Slurm job id (see 'lc-cluster status').")]


def status(
    job: Annotated[str | None, typer.Argument(help="A job id; none lists all.")] = None,
    cluster: o.ClusterOpt = None,
    as_json: o.JsonFlag = False,
) -> None:
    """Jobs lc-cluster started, with their Slurm state, phase and endpoint."""
    from lc_cluster.cluster import cluster_name
    from lc_cluster.jobs import records
    from lc_cluster.jobs.lifecycle import describe, unrecorded

    name = cluster_name(cluster)
    if job is not None:
        info = describe(records.find(job, name))
        if as_json:
            emit_json(versioned("status", {"job": info}), "status")
        else:
            for key, value in info.items():
                if key not in ("processes", "load"):
                    typer.echo(f"{key:9} {value if value is not None else '-'}")
            for p in info["processes"]:
                typer.echo(f"  {p['name']:18} {p['role']:7} node {p['node']} ({p['hostname']}, {p['ip']}) {p['state']}")
            for e in info["load"]:
                where = f"  {e['role']} {e['instance']} at {e['target']}:"
                if "error" in e:
                    typer.echo(f"{where} no metrics ({e['error']})")
                else:
                    kv = f"{e['kv_usage']:.0%}" if e["kv_usage"] is not None else "-"
                    typer.echo(f"{where} {_n(e['running'])} running, {_n(e['waiting'])} waiting, KV cache {kv} used")
        return
    found, problems = records.scan()
    mine = [r for r in found if name in (None, r.cluster)]
    rows = [describe(r) for r in mine]
    for problem in problems:
        typer.echo(f"warning: {problem}", err=True)
    lost = unrecorded(mine)
    for job_info in lost:
        typer.echo(
            f"warning: job {job_info['job_id']} on {job_info['cluster']} was started by lc-cluster but has no record "
            "(the state directory failed while it was submitted): 'scancel' it or keep it",
            err=True,
        )
    rows += [{"model": None, "engine": None, "nodes": None, "endpoint": None, "log_dir": None, **j} for j in lost]
    if as_json:
        emit_json(versioned("status", {"jobs": rows}), "status")
        return
    table("Jobs", ["job", "cluster", "model", "engine", "nodes", "state", "phase", "endpoint"],
          ([r["job_id"] or "-", r["cluster"], r["model"] or "-", r["engine"] or "-", r["nodes"] or "-", r["state"],
            r["phase"], r["endpoint"] or "-"] for r in rows))  # fmt: skip


def _n(value: float | None) -> str:
    return f"{value:g}" if value is not None else "-"


def logs(
    job: JobArg,
    node: Annotated[int, typer.Option("--node", "-n", min=0, help="Node index.")] = 0,
    role: Annotated[
        str | None,
        typer.Option("--role", help="serve, prefill, decode or router; default: the job's one engine role."),
    ] = None,
    instance: Annotated[int, typer.Option("--instance", min=0, help="Which instance of the role.")] = 0,
    lines: Annotated[int, typer.Option("--lines", min=1, help="How many last lines.")] = 100,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing until the job ends.")] = False,
    cluster: o.ClusterOpt = None,
) -> None:
    """Print a process's log: a node's engine (node 0 is the head), an instance's, or the router's."""
    from lc_cluster.cluster import cluster_name
    from lc_cluster.errors import LcError
    from lc_cluster.jobs import records
    from lc_cluster.jobs.lifecycle import backend_for, follow_log, log_path
    from lc_cluster.jobs.watch import tail

    record = records.find(job, cluster_name(cluster))
    if not 0 <= node < record.nodes:
        raise LcError(f"job {job} has nodes 0 to {record.nodes - 1}")
    if role not in (None, "serve", "prefill", "decode", "router"):
        raise LcError(f"--role takes serve, prefill, decode or router, not {role!r}")
    path = log_path(record, node, role, instance)
    if not path.exists() and not follow:
        raise LcError(f"no log yet at {path}: that process has not started")
    for line in tail(path, lines):
        typer.echo(line)
    if follow:
        follow_log(path, record, lambda text: typer.echo(text, nl=False), backend_for(record))


def stop(job: JobArg, cluster: o.ClusterOpt = None, as_json: o.JsonFlag = False) -> None:
    """Cancel a job and wait until every step and engine on every node is gone."""
    from lc_cluster.cluster import cluster_name
    from lc_cluster.jobs import lifecycle, records

    record = records.find(job, cluster_name(cluster))
    final = lifecycle.stop(record, lifecycle.backend_for(record))
    if as_json:
        emit_json(versioned("stop", {"job_id": job, "state": final, "log_dir": str(record.job_dir)}), "stop")
    else:
        typer.echo(f"job {job}: {final}")


def ask(
    job: JobArg,
    prompt: Annotated[str, typer.Argument(help="The question.")],
    cluster: o.ClusterOpt = None,
    timeout: Annotated[
        int, typer.Option("--timeout", min=1, max=3600, help="Seconds to wait for each of the server's answers.")
    ] = 120,
    as_json: o.JsonFlag = False,
) -> None:
    """Send one chat request to the job's endpoint and print the answer."""
    from lc_cluster.cluster import cluster_name, load_cluster
    from lc_cluster.errors import LcError, WorldError
    from lc_cluster.http_client import chat_via
    from lc_cluster.jobs import records

    record = records.find(job, cluster_name(cluster))
    endpoint = record.endpoint()
    if not endpoint:
        raise LcError(f"job {job} is not ready yet: 'lc-cluster status {job}' shows where it is")
    result = chat_via(load_cluster(record.cluster_file).login_netns, endpoint, prompt, record.api_key(), timeout)
    if not result["answer"].strip():
        raise WorldError(f"job {job} answered with no text ({endpoint}): 'lc-cluster logs {job}' shows why")
    if as_json:
        emit_json(versioned("ask", {"job_id": job, "endpoint": endpoint, **result}), "ask")
    else:
        console().print(result["answer"], markup=False)


def register(app: typer.Typer) -> None:
    for command in (status, logs, stop, ask):
        app.command()(command)
