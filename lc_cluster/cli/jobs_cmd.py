"""Day-2 commands on jobs lc-cluster started: status, logs, stop, ask."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lc_cluster.cli import options as o
from lc_cluster.cli.output import console, emit_json, table

if TYPE_CHECKING:
    from lc_cluster.cluster import ClusterFile
    from lc_cluster.slurm.backend import SlurmCli
    from lc_cluster.slurm.records import JobRecord

JobArg = Annotated[str, typer.Argument(help="Slurm job id (see 'lc-cluster status').")]


def _cluster_of(record: JobRecord) -> ClusterFile:
    from lc_cluster.cluster import load_cluster

    return load_cluster(record.cluster_file)


def _backend(record: JobRecord) -> SlurmCli:
    from lc_cluster.slurm.backend import SlurmCli

    return SlurmCli(_cluster_of(record))


def _describe(record: JobRecord) -> dict[str, Any]:
    from lc_cluster.errors import LcError

    phase = record.phase()
    try:
        state = _backend(record).state(record.job_id)
        slurm_state = state.state if state else "GONE"
    except LcError:
        slurm_state = "UNKNOWN"
    return {
        "job_id": record.job_id,
        "cluster": record.cluster,
        "model": record.model,
        "engine": record.engine,
        "nodes": record.nodes,
        "state": slurm_state,
        "phase": phase.get("phase", "submitted"),
        "endpoint": phase.get("endpoint"),
        "log_dir": str(record.job_dir),
    }


def status(
    job: Annotated[str | None, typer.Argument(help="A job id; none lists all.")] = None,
    cluster: o.ClusterOpt = None,
    as_json: o.JsonFlag = False,
) -> None:
    """Jobs lc-cluster started, with their Slurm state, phase and endpoint."""
    from lc_cluster.slurm import records

    if job is not None:
        info = _describe(records.find(job, _name(cluster)))
        if as_json:
            emit_json(info)
        else:
            for key, value in info.items():
                typer.echo(f"{key:9} {value if value is not None else '-'}")
        return
    rows = [_describe(r) for r in records.all_records() if _name(cluster) in (None, r.cluster)]
    if as_json:
        emit_json(rows)
        return
    table("Jobs", ["job", "cluster", "model", "engine", "nodes", "state", "phase", "endpoint"],
          ([r["job_id"], r["cluster"], r["model"], r["engine"], r["nodes"], r["state"], r["phase"],
            r["endpoint"] or "-"] for r in rows))  # fmt: skip


def _name(cluster: str | None) -> str | None:
    """A --cluster given as a name filters records; a path is loaded for its name."""
    if cluster is None:
        return None
    from lc_cluster.cluster import load_cluster

    return load_cluster(cluster).name


def logs(
    job: JobArg,
    node: Annotated[int, typer.Option("--node", "-n", min=0, help="Node index.")] = 0,
    lines: Annotated[int, typer.Option("--lines", min=1, help="How many last lines.")] = 100,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing until the job ends.")] = False,
    cluster: o.ClusterOpt = None,
) -> None:
    """Print a node's engine log (node 0 is the head)."""
    from lc_cluster.errors import LcError
    from lc_cluster.slurm import records
    from lc_cluster.slurm.watch import ACTIVE, tail

    record = records.find(job, _name(cluster))
    if not 0 <= node < record.nodes:
        raise LcError(f"job {job} has nodes 0 to {record.nodes - 1}")
    path = record.job_dir / f"node-{node}.log"
    if not path.exists() and not follow:
        raise LcError(f"no log yet at {path}: the node has not started its engine")
    for line in tail(path, lines):
        typer.echo(line)
    if not follow:
        return
    backend = _backend(record)
    offset = path.stat().st_size if path.exists() else 0
    while True:
        if path.exists():
            with path.open("rb") as f:
                f.seek(offset)
                chunk = f.read()
            offset += len(chunk)
            if chunk:
                typer.echo(chunk.decode(errors="replace"), nl=False)
        state = backend.state(record.job_id)
        if state is None or state.state not in ACTIVE:
            return
        time.sleep(1)


def stop(job: JobArg, cluster: o.ClusterOpt = None, as_json: o.JsonFlag = False) -> None:
    """Cancel a job and wait until every step and engine on every node is gone."""
    from lc_cluster.slurm import jobs, records

    record = records.find(job, _name(cluster))
    final = jobs.stop(record, _backend(record))
    if as_json:
        emit_json({"job_id": job, "state": final, "log_dir": str(record.job_dir)})
    else:
        typer.echo(f"job {job}: {final}")


def ask(
    job: JobArg,
    prompt: Annotated[str, typer.Argument(help="The question.")],
    cluster: o.ClusterOpt = None,
    as_json: o.JsonFlag = False,
) -> None:
    """Send one chat request to the job's endpoint and print the answer."""
    from lc_cluster.errors import LcError
    from lc_cluster.http_client import chat_via
    from lc_cluster.slurm import records

    record = records.find(job, _name(cluster))
    endpoint = record.phase().get("endpoint")
    if not endpoint:
        raise LcError(f"job {job} is not ready yet: 'lc-cluster status {job}' shows where it is")
    result = chat_via(_cluster_of(record).login_netns, endpoint, prompt)
    if as_json:
        emit_json({"job_id": job, "endpoint": endpoint, **result})
    else:
        # A model's text may hold control characters; the terminal gets them visible, not acted upon.
        answer = "".join(c if c.isprintable() or c in "\n\t" else "\ufffd" for c in result["answer"])
        console().print(answer, markup=False)


def register(app: typer.Typer) -> None:
    for command in (status, logs, stop, ask):
        app.command()(command)
