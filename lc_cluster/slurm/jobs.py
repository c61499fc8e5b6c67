"""Submit, stop and record serving jobs: the only place that both renders and talks to Slurm."""

from __future__ import annotations

import time
from pathlib import Path

from lc_cluster.cluster import ClusterFile, cluster_path
from lc_cluster.deployment import Deployment
from lc_cluster.errors import LcError
from lc_cluster.slurm.backend import SlurmBackend
from lc_cluster.slurm.node_tools import mark
from lc_cluster.slurm.records import JobRecord, save
from lc_cluster.slurm.script import ServeOptions, batch_script
from lc_cluster.slurm.watch import ACTIVE

_STOP_WAIT_S = 90


def submit(
    deployment: Deployment, cluster: ClusterFile, cluster_ref: str | None, options: ServeOptions, backend: SlurmBackend
) -> JobRecord:
    script = batch_script(deployment, cluster, options)  # every check runs before anything is touched
    log_dir = Path(cluster.paths.log_dir)
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LcError(f"cannot create the log directory {log_dir}: {exc.strerror}") from None
    job_id = backend.submit(script)
    plan = deployment.plan
    record = JobRecord(
        job_id=job_id,
        cluster=cluster.name,
        cluster_file=str(cluster_path(cluster_ref).resolve()),
        model=plan.model.name,
        engine=plan.engine,
        nodes=plan.layout.nodes,
        http_port=plan.http_port,
        log_dir=str(log_dir),
        submitted_at=time.time(),
        plan=deployment.as_dict(),
    )
    save(record)
    (log_dir / f"lc-{job_id}.sbatch").write_text(script)
    return record


def stop(record: JobRecord, backend: SlurmBackend) -> str:
    """Cancel the job and wait until Slurm has ended every step; returns the final state."""
    backend.cancel(record.job_id)
    deadline = time.monotonic() + _STOP_WAIT_S
    while time.monotonic() < deadline:
        state = backend.state(record.job_id)
        if state is None or state.state not in ACTIVE:
            mark(str(record.job_dir / "state.json"), "stopped")
            return state.state if state else "CANCELLED"
        time.sleep(1)
    raise LcError(
        f"job {record.job_id} still has running steps after {_STOP_WAIT_S} s: check 'squeue -j {record.job_id}'"
    )
