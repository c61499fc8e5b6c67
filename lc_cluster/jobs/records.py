"""The jobs lc-cluster started: one JSON file each under the state directory, so `status` can list them."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lc_cluster.errors import LcError
from lc_cluster.jobs.node_tools import Phase
from lc_cluster.paths import state_home


@dataclass
class JobRecord:
    job_id: str
    cluster: str
    cluster_file: str
    model: str
    engine: str
    nodes: int
    log_dir: str
    submitted_at: float

    @property
    def job_dir(self) -> Path:
        return Path(self.log_dir) / self.job_id

    def marker(self) -> dict[str, Any]:
        """What the batch script last wrote to its state file: the phase and what came with it (endpoint, reason)."""
        try:
            data: dict[str, Any] = json.loads((self.job_dir / "state.json").read_text())
        except (OSError, ValueError):
            return {}
        return data

    def phase(self) -> Phase:
        try:
            return Phase(self.marker().get("phase", Phase.SUBMITTED))
        except ValueError:
            return Phase.SUBMITTED


def _dir() -> Path:
    return state_home() / "jobs"


def save(record: JobRecord) -> None:
    folder = _dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{record.cluster}-{record.job_id}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(record), indent=2))
    os.replace(tmp, path)


def all_records() -> list[JobRecord]:
    folder = _dir()
    records = [JobRecord(**json.loads(p.read_text())) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []
    return sorted(records, key=lambda r: r.submitted_at)


def find(job_id: str, cluster: str | None = None) -> JobRecord:
    matches = [r for r in all_records() if r.job_id == job_id and cluster in (None, r.cluster)]
    if not matches:
        raise LcError(f"no job {job_id} started by lc-cluster here: 'lc-cluster status' lists them")
    if len(matches) > 1:
        clusters = ", ".join(r.cluster for r in matches)
        raise LcError(f"job {job_id} exists on several clusters ({clusters}): pass --cluster")
    return matches[0]
