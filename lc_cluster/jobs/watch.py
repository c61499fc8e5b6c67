"""Follow a submitted job until it answers, fails or ends, and explain a failure: which node, its last lines."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lc_cluster.jobs.backend import SlurmBackend
from lc_cluster.jobs.node_tools import Phase
from lc_cluster.jobs.records import JobRecord

ACTIVE = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING"}
TAIL_LINES = 20


@dataclass(frozen=True)
class Outcome:
    ready: bool
    phase: Phase
    message: str
    endpoint: str | None = None
    failed_node: int | None = None
    failed_process: str | None = None
    """The planned process's name (its files in the job folder are NAME.log, NAME.exit)."""
    failed_where: str = "the job"
    """That process in words: 'node 1', 'decode instance 0 on node 1', 'the router on node 0'."""
    log_tail: list[str] = field(default_factory=list)


def tail(path: Path, lines: int = TAIL_LINES) -> list[str]:
    try:
        with path.open("rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 64 * 1024))
            return f.read().decode(errors="replace").splitlines()[-lines:]
    except OSError:
        return []


def describe_process(process: dict[str, Any], single: bool) -> str:
    """A planned process in words, from its fields: 'node 1' for a job of a SINGLE engine; 'serve instance 1 on
    node 1', 'the router on node 0' otherwise."""
    where = f"node {process['node']}"
    if single:
        return where
    if process["role"] == "router":
        return f"the router on {where}"
    return f"{process['role']} instance {process['instance']} on {where}"


def failing_process(job_dir: Path) -> tuple[str, int] | None:
    """(name, exit code) of the process that exited first with an error; the others were stopped because of it."""
    failed = []
    for exit_file in job_dir.glob("*.exit"):
        try:
            code = int(exit_file.read_text().strip() or "0")
        except (OSError, ValueError):
            continue
        if code != 0:
            failed.append((exit_file.stat().st_mtime, exit_file.stem, code))
    if not failed:
        return None
    _, name, code = min(failed)
    return name, code


def exit_reason(code: int) -> str:
    if code > 128:
        try:
            name = signal.Signals(code - 128).name
        except ValueError:
            name = f"signal {code - 128}"
        return f"exit code {code}: killed by {name}"
    return f"exit code {code}"


def launched(job_dir: Path) -> int:
    return len(list(job_dir.glob("*.cmd.json")))


def explain(record: JobRecord, phase: Phase, message: str) -> Outcome:
    failed = failing_process(record.job_dir)
    process = record.named(failed[0]) if failed is not None else None
    if failed is not None and process is not None:
        name, code = failed
        log = record.job_dir / f"{name}.log"
        lines = tail(log) or [f"({log} is empty: the process wrote nothing before it ended)"]
        where = describe_process(process, single=len(record.plan["instances"]) == 1 and not record.plan["router"])
        return Outcome(
            False, phase, f"{message}; {where} failed first ({exit_reason(code)})",
            failed_node=int(process["node"]), failed_process=name, failed_where=where, log_tail=lines,
        )  # fmt: skip
    if phase is Phase.TIMEOUT:
        # The first engine head's log says how far loading got.
        head = next((p for p in record.plan.get("processes", []) if p["role"] != "router"), None)
        return Outcome(False, phase, message, log_tail=tail(record.job_dir / f"{head['name']}.log") if head else [])
    batch_log = Path(record.log_dir) / f"slurm-{record.job_id}.out"
    return Outcome(False, phase, message, log_tail=tail(batch_log))


def follow(record: JobRecord, backend: SlurmBackend, update: Callable[[str], None], poll_s: float = 1.0) -> Outcome:
    while True:
        marker = record.marker()
        phase = record.phase()
        if phase in (Phase.READY, Phase.ENDED) and marker.get("endpoint"):
            return Outcome(True, Phase.READY, "ready", endpoint=str(marker["endpoint"]))
        if phase in (Phase.FAILED, Phase.TIMEOUT):
            return explain(record, phase, str(marker.get("reason", phase)))
        state = backend.state(record.job_id)
        if state is None or state.state not in ACTIVE:
            if record.phase() is Phase.READY:  # it may have become ready or failed in between
                continue
            slurm_state = state.state if state else "gone from the queue"
            return explain(record, Phase.ENDED, f"job {record.job_id} ended ({slurm_state}) before it was ready")
        if state.state == "PENDING":
            update(f"pending ({state.reason})" if state.reason and state.reason != "None" else "pending")
        elif phase is Phase.LOADING:
            update(f"loading: {launched(record.job_dir)} processes started on {record.nodes} nodes, waiting for them")
        else:
            update(f"running on {state.nodes}: starting")
        time.sleep(poll_s)
