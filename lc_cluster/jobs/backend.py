"""Talking to Slurm. One small interface; the CLI implementation (sbatch/squeue/scontrol/scancel) is the one
CI proves. pyslurm could implement the same interface, but its releases must match the Slurm release exactly and
none matches the Slurm that tests run here, so it is not offered until it can be tested."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from typing import Protocol

from lc_cluster import validate
from lc_cluster.cluster import ClusterFile
from lc_cluster.errors import LcError, WorldError

_TIMEOUT_S = 60
_USABLE = {"idle", "mix"}
# What squeue and scontrol say of a job id slurmctld no longer holds (or never held).
_FORGOTTEN = "Invalid job id specified"


@dataclass(frozen=True)
class JobState:
    job_id: str
    state: str
    """Slurm's job state: PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT, ..."""
    reason: str
    nodes: str
    comment: str = ""


class SlurmBackend(Protocol):
    def submit(self, script: str, comment: str, secret_env: dict[str, str]) -> str:
        """Submit a batch script with a job comment and extra environment for the job; return the job id."""

    def state(self, job_id: str) -> JobState | None:
        """The job's state, or None once Slurm has forgotten it."""

    def cancel(self, job_id: str) -> None: ...

    def queue(self) -> list[JobState]: ...

    def usable_nodes(self, partition: str | None) -> list[str]:
        """The partition's nodes that can run a job now (idle or partly used), by name."""


class SlurmCli:
    """The Slurm client commands, inside the login namespace where the cluster file names one (the sandbox)."""

    def __init__(self, cluster: ClusterFile) -> None:
        self._prefix = ["nsenter", f"--net=/run/netns/{cluster.login_netns}"] if cluster.login_netns else []
        self._env = dict(os.environ)
        self._umask = cluster.paths.umask
        if cluster.slurm.conf:
            self._env["SLURM_CONF"] = cluster.slurm.conf

    def _run(
        self, *argv: str, stdin: str | None = None, env: dict[str, str] | None = None, forgotten: str | None = None
    ) -> str:
        """ARGV's output; FORGOTTEN instead where it failed only because Slurm no longer knows the job."""
        try:
            done = subprocess.run(
                [*self._prefix, *argv], input=stdin, capture_output=True, text=True, env={**self._env, **(env or {})},
                timeout=_TIMEOUT_S, check=False,
            )  # fmt: skip
        # The request was checked before any of these ran: what fails here is the host or the cluster (exit 1).
        except FileNotFoundError:
            raise WorldError(f"{argv[0]} not found: install the Slurm client commands on this host") from None
        except subprocess.TimeoutExpired:
            raise WorldError(f"{argv[0]} did not answer within {_TIMEOUT_S} s: is slurmctld up?") from None
        if done.returncode != 0 and forgotten is not None and _FORGOTTEN in done.stderr:
            return forgotten
        if done.returncode != 0:
            raise WorldError(f"{argv[0]} failed: {done.stderr.strip() or done.stdout.strip()}")
        return done.stdout

    def submit(self, script: str, comment: str, secret_env: dict[str, str]) -> str:
        # --parsable prints "jobid[;cluster]". Slurm gives the job (its output file, its processes) sbatch's umask,
        # and sbatch's environment (--export=ALL, its default).
        previous = os.umask(self._umask)
        try:
            out = self._run(
                "sbatch", "--parsable", "--export=ALL", f"--comment={comment}", stdin=script, env=secret_env
            )
        finally:
            os.umask(previous)
        answer = validate.SBATCH_ANSWER.fullmatch(out.strip())
        if not answer:
            raise WorldError(f"sbatch answered {out.strip()[:200]!r}, not a job id: see `squeue --me` for a job it may "
                             "have made, and scancel it before serving again")  # fmt: skip
        return answer["job_id"]

    def queue(self) -> list[JobState]:
        return [_state(j) for j in _jobs(self._run("squeue", "--json"), "squeue")]

    def state(self, job_id: str) -> JobState | None:
        # slurmctld is asked for this job alone (the poll runs every second). Slurm before 23.02 ignores --jobs with
        # --json and lists every job, so the id is matched here too.
        queued = self._run("squeue", "--json", f"--jobs={job_id}", forgotten='{"jobs": []}')
        for job in _jobs(queued, "squeue"):
            if str(job.get("job_id")) == job_id:
                return _state(job)
        # squeue drops finished jobs; scontrol still knows them for MinJobAge seconds.
        try:
            out = self._run("scontrol", "--json", "show", "job", job_id)
        except LcError:
            return None
        jobs = _jobs(out, "scontrol")
        return _state(jobs[0]) if jobs else None

    def cancel(self, job_id: str) -> None:
        self._run("scancel", job_id)

    def usable_nodes(self, partition: str | None) -> list[str]:
        out = self._run(
            "sinfo", "--noheader", "--Node", "--format=%N %t", *(["--partition", partition] if partition else [])
        )
        # sinfo marks a node that does not respond with '*' after its state.
        return sorted({name for name, state in (line.split() for line in out.splitlines()) if state in _USABLE})


def _jobs(out: str, command: str) -> list[dict[str, object]]:
    try:
        jobs = json.loads(out).get("jobs")
        if not isinstance(jobs, list) or not all(isinstance(j, dict) for j in jobs):
            raise ValueError("no list of jobs")
    except (ValueError, AttributeError):
        raise WorldError(
            f"{command} --json gave no job list ({out.strip()[:80]!r}): lc-cluster needs Slurm's JSON output "
            "(slurm >= 21.08 with its data parser)"
        ) from None
    return jobs


def _state(job: dict[str, object]) -> JobState:
    state = job.get("job_state", "UNKNOWN")
    if isinstance(state, list):  # newer Slurm releases give a list of flags
        state = state[0] if state else "UNKNOWN"
    return JobState(
        job_id=str(job.get("job_id")),
        state=str(state),
        reason=str(job.get("state_reason", "")),
        nodes=str(job.get("nodes", "")),
        comment=str(job.get("comment") or ""),
    )
