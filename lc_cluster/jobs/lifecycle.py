"""A job's life on Slurm: submit the job value, describe it, follow a node's log, stop it."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lc_cluster import safe_files, validate
from lc_cluster.cluster import load_cluster
from lc_cluster.engines import get_engine
from lc_cluster.errors import LcError, WorldError
from lc_cluster.http_client import metrics_via
from lc_cluster.jobs.backend import SlurmBackend, SlurmCli
from lc_cluster.jobs.job import Job, job_secrets
from lc_cluster.jobs.node_tools import Phase, mark
from lc_cluster.jobs.records import COMMENT_PREFIX, JobRecord, save
from lc_cluster.jobs.watch import ACTIVE

_STOP_WAIT_S = 90
_LIVE = (Phase.SUBMITTED, Phase.STARTING, Phase.LOADING, Phase.READY)
_FOLLOW_POLL_S = 1.0


def submit(job: Job, backend: SlurmBackend) -> JobRecord:
    """Record first (pending), then submit, then complete the record: no job runs that `status` cannot see."""
    log_dir = Path(job.cluster.paths.log_dir)
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LcError(f"cannot create the log directory {log_dir}: {exc.strerror}") from None
    plan = job.deployment.plan
    record = JobRecord(
        job_id="",
        token=secrets.token_hex(8),
        cluster=job.cluster.name,
        cluster_file=str(job.cluster.source),
        model=plan.model.name,
        engine=plan.engine,
        nodes=job.deployment.nodes,
        gpus=job.deployment.nodes * job.deployment.gpus_per_node,
        http_port=job.deployment.entry_port,
        log_dir=str(log_dir),
        submitted_at=time.time(),
        plan=job.as_dict(),
    )
    pending = save(record)
    try:
        # The key and runtime.env's secrets reach the job only through sbatch's environment (Slurm keeps it with the
        # job, private to its owner): never argv, the script or the job's files.
        secret_env = {**job_secrets(job.cluster), **({"LC_API_KEY": record.make_api_key()} if plan.api_key else {})}
        record.job_id = backend.submit(job.script, record.comment, secret_env)
    except BaseException:
        pending.unlink(missing_ok=True)
        record.key_path.unlink(missing_ok=True)
        raise
    try:
        save(record)
    except LcError as exc:
        raise WorldError(f"job {record.job_id} was submitted but not recorded ({exc}): scancel {record.job_id}, "
                         "then serve again") from None  # fmt: skip
    pending.unlink(missing_ok=True)
    # Readable as the job's own files are, and written only as a new file
    # (in a shared log folder another user may have planted one, or a symlink, under that name).
    sbatch_copy = log_dir / f"lc-{record.job_id}.sbatch"
    try:
        safe_files.create(sbatch_copy, job.script, 0o666 & ~job.cluster.paths.umask)
    except OSError as exc:
        # Not left running half-kept: the copy is what a person on call reads first.
        backend.cancel(record.job_id)
        raise WorldError(f"cannot write {sbatch_copy} ({exc.strerror}: another user's file or link there?): job "
                         f"{record.job_id} was cancelled; remove that file and serve again") from None  # fmt: skip
    return record


def unrecorded(records: list[JobRecord]) -> list[dict[str, Any]]:
    """Jobs lc-cluster submitted (by their comment) on the records' clusters that no completed record names: the
    state directory failed between submitting and recording."""
    known = {(r.cluster, r.job_id) for r in records if r.job_id}
    found = []
    for cluster_file in sorted({r.cluster_file for r in records}):
        try:
            cluster = load_cluster(cluster_file)
            queue = SlurmCli(cluster).queue()
        except LcError:
            continue
        for state in queue:
            if state.comment.startswith(COMMENT_PREFIX) and (cluster.name, state.job_id) not in known:
                found.append({"job_id": state.job_id, "cluster": cluster.name, "state": state.state,
                              "phase": "unrecorded"})  # fmt: skip
    return found


def backend_for(record: JobRecord) -> SlurmCli:
    """The Slurm of the cluster the job was submitted to, from the cluster file the record names."""
    return SlurmCli(load_cluster(record.cluster_file))


def describe(record: JobRecord) -> dict[str, Any]:
    """What `status` shows of one job: Slurm's state beside the phase its batch script reached."""
    try:
        state = backend_for(record).state(record.job_id) if record.job_id else None
        slurm_state = state.state if state else ("GONE" if record.job_id else "NOT SUBMITTED")
    except LcError:
        slurm_state = "UNKNOWN"
    phase = record.phase()
    return {
        "job_id": record.job_id,
        "cluster": record.cluster,
        "model": record.model,
        "engine": record.engine,
        "nodes": record.nodes,
        "state": slurm_state,
        "phase": phase.value,
        "endpoint": record.marker().get("endpoint"),
        "log_dir": str(record.job_dir),
        "processes": processes(record),
        # A job that ended leaves its scrape.json behind, naming addresses that another job may serve on now.
        "load": load(record) if slurm_state == "RUNNING" and phase is Phase.READY else [],
    }


def load(record: JobRecord) -> list[dict[str, Any]]:
    """Each engine head's own figures, from its /metrics (the targets the job wrote once ready): running and waiting
    requests (summed over its data-parallel ranks) and KV cache usage (the fullest rank's)."""
    try:
        groups = json.loads((record.job_dir / "scrape.json").read_text())
        netns = load_cluster(record.cluster_file).login_netns
    except (OSError, ValueError, LcError):
        return []
    names = get_engine(record.engine).load_metrics
    own = _own_targets(record)
    found = []
    for group in groups if isinstance(groups, list) else []:
        labels = group.get("labels") if isinstance(group, dict) else None
        if not isinstance(labels, dict) or labels.get("role") == "router":
            continue
        targets = group.get("targets")
        for target in targets if isinstance(targets, list) else []:
            entry: dict[str, Any] = {
                "role": str(labels.get("role")),
                "instance": str(labels.get("lc_instance")),
                "target": str(target)[:80],
            }
            if target not in own:
                # The file is the job's, in a folder others may write: it must not send status's requests elsewhere.
                found.append({**entry, "error": "not the address and port of one of the job's processes: not read"})
                continue
            try:
                samples = parse_metrics(metrics_via(netns, f"http://{target}/metrics"))
            except LcError as exc:
                found.append({**entry, "error": str(exc)})
                continue
            values = {key: samples.get(name, []) for key, name in names.items()}
            found.append({
                **entry,
                "running": sum(values["running"]) if values["running"] else None,
                "waiting": sum(values["waiting"]) if values["waiting"] else None,
                "kv_usage": max(values["kv_usage"]) if values["kv_usage"] else None,
            })  # fmt: skip
    return found


def _own_targets(record: JobRecord) -> set[str]:
    """IP:port of each process the job started: the node address it recorded, the port its plan gave it."""
    ports = {p.get("name"): p.get("port") for p in record.plan.get("processes", [])}
    return {
        f"{p['ip']}:{ports[p['name']]}"
        for p in processes(record)
        if isinstance(ports.get(p["name"]), int) and validate.IPV4.fullmatch(p["ip"])
    }


def parse_metrics(text: str) -> dict[str, list[float]]:
    """Every sample of a Prometheus text exposition, by metric name."""
    samples: dict[str, list[float]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        try:
            samples.setdefault(name, []).append(float(line.rsplit(" ", 1)[1]))
        except (IndexError, ValueError):
            continue
    return samples


def log_path(record: JobRecord, node: int, role: str | None, instance: int) -> Path:
    """The log of the planned process of ROLE (default: the one engine role the job runs) and INSTANCE on NODE."""
    if role is None:
        roles = sorted({p["role"] for p in record.processes() if p["role"] != "router"})
        if len(roles) > 1:
            raise LcError(f"job {record.job_id} runs {' and '.join(roles)} instances: pass --role")
        role = roles[0]
    return record.job_dir / f"{record.process(role, instance, node)['name']}.log"


def processes(record: JobRecord) -> list[dict[str, Any]]:
    """Every planned process the job started so far (it wrote NAME.cmd.json on its node): role, node, address,
    state. Nothing is read back from a file's name."""
    found = []
    # A process the job's end killed outright (srun's --kill-on-bad-exit sends SIGKILL) leaves no exit file.
    gone = "stopped with the job" if record.phase() not in _LIVE else "started"
    for planned in record.plan.get("processes", []) if record.job_id else []:
        name = planned["name"]
        try:
            doc = json.loads((record.job_dir / f"{name}.cmd.json").read_text())
            exit_file = record.job_dir / f"{name}.exit"
            state = f"exited {exit_file.read_text().strip()}" if exit_file.exists() else gone
            found.append({"name": name, "role": planned["role"], "instance": planned["instance"],
                          "node": planned["node"], "hostname": str(doc["hostname"]), "ip": str(doc["node_ip"]),
                          "state": state})  # fmt: skip
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return found


def follow_log(path: Path, record: JobRecord, write: Callable[[str], None], backend: SlurmBackend) -> None:
    """Write what the log at PATH gains until the job ends (the last lines were printed before)."""
    offset = path.stat().st_size if path.exists() else 0
    while True:
        if path.exists():
            with path.open("rb") as f:
                f.seek(offset)
                chunk = f.read()
            offset += len(chunk)
            if chunk:
                write(chunk.decode(errors="replace"))
        state = backend.state(record.job_id)
        if state is None or state.state not in ACTIVE:
            return
        time.sleep(_FOLLOW_POLL_S)


def stop(record: JobRecord, backend: SlurmBackend) -> str:
    """Cancel the job and wait until Slurm has ended every step; returns the final state."""
    if not record.job_id:
        raise LcError(f"the job in {record.path} was never submitted: remove that record")
    backend.cancel(record.job_id)
    deadline = time.monotonic() + _STOP_WAIT_S
    while time.monotonic() < deadline:
        state = backend.state(record.job_id)
        if state is None or state.state not in ACTIVE:
            if record.job_dir.is_dir():  # a job cancelled before its batch script ran has no folder
                mark(str(record.job_dir / "state.json"), Phase.STOPPED)
            return state.state if state else "CANCELLED"
        time.sleep(1)
    raise LcError(
        f"job {record.job_id} still has running steps after {_STOP_WAIT_S} s: check 'squeue -j {record.job_id}'"
    )
