"""The job record keeps the versioned plan: day-2 commands find each process by its fields, and records belong to
exactly one cluster."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lc_cluster.deployment import Asked, deploy, resolve
from lc_cluster.errors import LcError
from lc_cluster.jobs import records
from lc_cluster.jobs.lifecycle import log_path, processes
from lc_cluster.jobs.node_tools import Phase
from lc_cluster.jobs.records import JobRecord
from lc_cluster.jobs.watch import explain


def _record(tmp_path: Path, cluster: str, job_id: str, **asked: object) -> JobRecord:
    plan = deploy(resolve(Asked(**asked), None)).as_dict()  # type: ignore[arg-type]
    record = JobRecord(job_id=job_id, token=f"t{job_id}", cluster=cluster, cluster_file="/nonexistent.yaml",
                       model=plan["model"], engine=plan["engine"], nodes=plan["nodes"], http_port=plan["http_port"],
                       log_dir=str(tmp_path / "logs"), submitted_at=float(job_id), plan=plan)  # fmt: skip
    record.job_dir.mkdir(parents=True)
    for p in plan["processes"]:
        (record.job_dir / f"{p['name']}.log").write_text(f"log of {p['name']}\n")
        (record.job_dir / f"{p['name']}.cmd.json").write_text(
            json.dumps(
                {"role": "ignored", "instance": 9, "index": 9, "hostname": f"n{p['node']}", "node_ip": "10.0.0.1"}
            )
        )
    records.save(record)
    record.key_path.write_text("lck-secret\n")
    return record


PD = {"model": "deepseek-v4-flash", "gpu": "H200", "nodes": 2, "prefill": "nodes=1,dp=8", "decode": "nodes=1,dp=8"}


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LC_CLUSTER_STATE", str(tmp_path / "state"))
    return tmp_path


def test_logs_of_each_role_are_found_by_field(state: Path) -> None:
    record = _record(state, "prod", "7", **PD)
    assert log_path(record, 0, "prefill", 0).name == "prefill0.node-0.log"
    assert log_path(record, 1, "decode", 0).name == "decode0.node-1.log"
    assert log_path(record, 0, "router", 0).name == "router.node-0.log"
    with pytest.raises(LcError, match="runs decode and prefill instances: pass --role"):
        log_path(record, 1, None, 0)
    with pytest.raises(LcError, match="has no decode 0 on node 0: it runs prefill 0 on node 0, decode 0 on node 1"):
        log_path(record, 0, "decode", 0)


def test_status_takes_roles_and_nodes_from_the_plan_not_from_the_files(state: Path) -> None:
    record = _record(state, "prod", "7", **PD)
    found = {(p["name"], p["role"], p["instance"], p["node"]) for p in processes(record)}
    assert found == {("prefill0.node-0", "prefill", 0, 0), ("decode0.node-1", "decode", 0, 1),
                     ("router.node-0", "router", 0, 0)}  # fmt: skip


def test_a_failed_process_is_named_from_the_plan(state: Path) -> None:
    record = _record(state, "prod", "7", **PD)
    (record.job_dir / "decode0.node-1.exit").write_text("137\n")
    outcome = explain(record, Phase.FAILED, "the job failed")
    assert (outcome.failed_node, outcome.failed_process) == (1, "decode0.node-1")
    assert outcome.failed_where == "decode instance 0 on node 1" and "killed by SIGKILL" in outcome.message
    assert outcome.log_tail == ["log of decode0.node-1"]


def test_logs_role_through_the_cli(state: Path) -> None:
    _record(state, "prod", "7", **PD)
    env = {**os.environ, "LC_CLUSTER_STATE": str(state / "state")}
    done = subprocess.run([sys.executable, "-m", "lc_cluster", "logs", "7", "--role", "decode", "--node", "1"],
                          env=env, capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 0 and done.stdout == "log of decode0.node-1\n", done.stderr


def test_removing_one_clusters_records_leaves_every_other_cluster_alone(state: Path) -> None:
    mine = _record(state, "sandbox", "1", model="tiny", gpu="CPU-SANDBOX")
    other = _record(state, "sandbox-prod", "2", model="tiny", gpu="CPU-SANDBOX")
    assert records.forget_cluster("sandbox") == 1
    assert not mine.path.exists() and not mine.key_path.exists()
    assert other.path.exists() and other.key_path.read_text() == "lck-secret\n"
    assert [r.cluster for r in records.all_records()] == ["sandbox-prod"]


def test_a_record_from_before_the_plan_was_kept_says_so(state: Path) -> None:
    record = _record(state, "prod", "3", model="tiny", gpu="CPU-SANDBOX")
    record.plan = {}
    with pytest.raises(LcError, match="recorded before lc-cluster kept the plan"):
        log_path(record, 0, None, 0)
