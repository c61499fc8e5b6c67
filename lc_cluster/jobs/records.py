"""The jobs lc-cluster started: one JSON file each under the state directory, so `status` can list them.

A record is written before the job is submitted (pending, under a random token that also becomes the job's Slurm
comment) and completed with the job id after: a state directory that cannot be written stops `serve` before
anything runs, and a job whose record was never completed is still found through its comment."""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

import pydantic

from lc_cluster import validate
from lc_cluster.errors import LcError
from lc_cluster.jobs.node_tools import Phase, write_json
from lc_cluster.paths import state_home

COMMENT_PREFIX = "lc-cluster:"


@dataclass
class JobRecord:
    job_id: str
    """Slurm's id; empty while the record is pending (written, not yet submitted)."""
    token: str
    cluster: str
    cluster_file: str
    model: str
    engine: str
    nodes: int
    http_port: int
    """Where the head was planned to answer: `ask` follows no other endpoint the job's state file might name."""
    log_dir: str
    submitted_at: float
    gpus: int = 0
    """GPUs the job holds in all (0: a record written before lc-cluster kept it)."""
    plan: dict[str, Any] = field(default_factory=dict)
    """The versioned plan the job was submitted with (schemas/plan.json), its process table included; empty in a
    record written before lc-cluster kept it."""

    def process(self, role: str, instance: int, node: int) -> dict[str, Any]:
        """The planned process of ROLE's INSTANCE on NODE, found by its fields."""
        table = self.processes()
        for p in table:
            if (p["role"], p["instance"], p["node"]) == (role, instance, node):
                return p
        have = ", ".join(f"{p['role']} {p['instance']} on node {p['node']}" for p in table)
        raise LcError(f"job {self.job_id} has no {role} {instance} on node {node}: it runs {have}")

    def processes(self) -> list[dict[str, Any]]:
        table = self.plan.get("processes")
        if not isinstance(table, list):
            raise LcError(
                f"job {self.job_id} was recorded before lc-cluster kept the plan in its record: read its files in "
                f"{self.job_dir}"
            )
        return table

    def named(self, name: str) -> dict[str, Any] | None:
        """The planned process whose files in the job folder are NAME.*."""
        return next((p for p in self.plan.get("processes", []) if p.get("name") == name), None)

    @property
    def comment(self) -> str:
        return COMMENT_PREFIX + self.token

    @property
    def job_dir(self) -> Path:
        return Path(self.log_dir) / self.job_id

    @property
    def path(self) -> Path:
        return _dir() / f"{self.cluster}-{self.job_id or 'pending-' + self.token}.json"

    def marker(self) -> dict[str, Any]:
        """What the batch script last wrote to its state file: the phase and what came with it (endpoint, reason)."""
        if not self.job_id:
            return {}
        try:
            data = json.loads((self.job_dir / "state.json").read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def endpoint(self) -> str | None:
        """The ready job's endpoint, only if it is the planned port on an IPv4 address."""
        value = self.marker().get("endpoint")
        if not isinstance(value, str):
            return None
        match = re.fullmatch(rf"http://({validate.IPV4.pattern}):([0-9]+)", value, re.ASCII)
        if match is None or int(match.group(2)) != self.http_port:
            raise LcError(f"job {self.job_id}'s state file names {value!r}, not the planned port {self.http_port}")
        return value

    @property
    def key_path(self) -> Path:
        return _dir() / f"{self.token}.key"

    def api_key(self) -> str | None:
        """The key the job's server requires, or None for a job served without one."""
        try:
            return self.key_path.read_text().strip() or None
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise LcError(f"cannot read the job's API key {self.key_path}: {exc.strerror}") from None

    def make_api_key(self) -> str:
        """A new random key, written 0600 beside the record before the job exists."""
        key = "lck-" + secrets.token_urlsafe(32)
        try:
            fd = os.open(self.key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(key + "\n")
        except OSError as exc:
            raise LcError(f"cannot write the API key {self.key_path}: {exc.strerror}; nothing was submitted") from None
        return key

    def phase(self) -> Phase:
        try:
            return Phase(self.marker().get("phase", Phase.SUBMITTED))
        except ValueError:
            return Phase.SUBMITTED


def _dir() -> Path:
    return state_home() / "jobs"


def save(record: JobRecord) -> Path:
    """Write the record atomically (a crash leaves the old file or the new, never half of one)."""
    try:
        _dir().mkdir(parents=True, exist_ok=True)
        write_json(str(record.path), asdict(record))
    except OSError as exc:
        raise LcError(f"cannot record the job in {_dir()}: {exc.strerror}; nothing was submitted") from None
    return record.path


_FIELDS = {f.name for f in fields(JobRecord)}
_REQUIRED = {f.name for f in fields(JobRecord) if f.default is MISSING and f.default_factory is MISSING}
# Strict: "submitted_at": "yesterday" or an integer job_id is a bad record, not a value to coerce (or to fail on later,
# for every job, when the records are sorted or a path is built from them).
_TYPES = {name: pydantic.TypeAdapter(hint) for name, hint in get_type_hints(JobRecord).items()}
# The values a record's file names are built from (path, key_path, job_dir), nothing that leaves the folder, and
# those status prints.
_NAMED_BY = {
    "job_id": re.compile(r"[0-9]{0,18}"),
    "token": re.compile(r"[A-Za-z0-9]{1,64}"),
    "cluster": validate.CLUSTER_NAME,
    # Shown by status and logs: nothing a terminal would act on.
    "model": validate.MODEL_NAME,
    "engine": re.compile(r"[a-z]{1,16}"),
    "log_dir": validate.PATH,
}


def _parse(data: object) -> JobRecord:
    if not isinstance(data, dict) or not _REQUIRED <= set(data) <= _FIELDS:
        raise ValueError("not a job record")
    for name, value in data.items():
        try:
            _TYPES[name].validate_python(value, strict=True)
        except pydantic.ValidationError as exc:
            raise ValueError(f"{name}: {exc.errors()[0]['msg']}") from None
    record = JobRecord(**data)
    for name, pattern in _NAMED_BY.items():
        validate.check(pattern, name, getattr(record, name))
    return record


def scan() -> tuple[list[JobRecord], list[str]]:
    """Every readable record, oldest first, and what was wrong with each file that is not one."""
    folder = _dir()
    records, problems = [], []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            records.append(_parse(json.loads(path.read_text())))
        except (OSError, ValueError) as exc:
            problems.append(f"{path}: skipped ({exc.__class__.__name__}: {str(exc)[:80]})")
    return sorted(records, key=lambda r: r.submitted_at), problems


def all_records() -> list[JobRecord]:
    return scan()[0]


def forget_cluster(cluster: str) -> int:
    """Remove every record of CLUSTER, exactly that one (never sandbox-prod's for sandbox), and each job's API key."""
    gone = 0
    for record in all_records():
        if record.cluster == cluster:
            record.key_path.unlink(missing_ok=True)
            record.path.unlink(missing_ok=True)
            gone += 1
    return gone


def find(job_id: str, cluster: str | None = None) -> JobRecord:
    found, problems = scan()
    matches = [r for r in found if r.job_id == job_id and cluster in (None, r.cluster)]
    if not matches:
        unread = f" ({len(problems)} unreadable records skipped)" if problems else ""
        raise LcError(f"no job {job_id} started by lc-cluster here{unread}: 'lc-cluster status' lists them")
    if len(matches) > 1:
        clusters = ", ".join(r.cluster for r in matches)
        raise LcError(f"job {job_id} exists on several clusters ({clusters}): pass --cluster")
    return matches[0]
