"""Files written where other users may have been first, and what Slurm and the state folder answer at submit: the
script copy never lands in a file or through a link someone else planted, `init` never writes through a symlink,
and a submit that half-failed says which job exists and how to remove it."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from lc_cluster.cluster import ClusterFile, load_cluster
from lc_cluster.deployment import Asked, deploy, resolve
from lc_cluster.errors import WorldError
from lc_cluster.jobs import lifecycle
from lc_cluster.jobs.backend import SlurmCli
from lc_cluster.jobs.job import Job, build_job
from tests.conftest import cli

NOBODY = 65534


class Submitted:
    """Slurm's side of a submit, for the checks around it (the sandbox runs the real one): the job id it gives, and
    which jobs were cancelled."""

    def __init__(self, job_id: str = "4242", before: Any = None) -> None:
        self.job_id, self.before, self.cancelled = job_id, before, []

    def submit(self, script: str, comment: str, secret_env: dict[str, str]) -> str:
        if self.before:
            self.before(self.job_id)
        return self.job_id

    def cancel(self, job_id: str) -> None:
        self.cancelled.append(job_id)


def _job(log_dir: Path) -> Job:
    path = log_dir.parent / "t.yaml"
    path.write_text(yaml.safe_dump({"name": "t", "gpu": "H800-80G", "gpus_per_node": 8,
                                    "paths": {"log_dir": str(log_dir)}}))  # fmt: skip
    spec = load_cluster(str(path))
    return build_job(deploy(resolve(Asked(model="tiny", gpus_per_node=4), spec)), spec)


@pytest.fixture
def shared_logs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A log folder every user of the cluster may write to, as many sites have one."""
    monkeypatch.setenv("LC_CLUSTER_STATE", str(tmp_path / "state"))
    logs = tmp_path / "logs"
    logs.mkdir()
    logs.chmod(0o777)
    return logs


def test_the_script_copy_is_a_new_file_of_its_own(shared_logs: Path) -> None:
    job = _job(shared_logs)
    record = lifecycle.submit(job, Submitted())  # type: ignore[arg-type]
    copy = shared_logs / f"lc-{record.job_id}.sbatch"
    assert copy.read_text() == job.script
    assert stat.S_IMODE(copy.stat().st_mode) == 0o666 & ~job.cluster.paths.umask


def test_a_file_another_user_planted_under_the_copys_name_gets_nothing_and_the_job_is_cancelled(
    shared_logs: Path,
) -> None:
    planted = shared_logs / "lc-4242.sbatch"
    planted.write_text("")
    planted.chmod(0o666)
    os.chown(planted, NOBODY, NOBODY)
    slurm = Submitted()
    with pytest.raises(WorldError, match=r"cannot write .*lc-4242.sbatch .*job 4242 was cancelled; remove that file"):
        lifecycle.submit(_job(shared_logs), slurm)  # type: ignore[arg-type]
    assert planted.read_text() == "" and slurm.cancelled == ["4242"]


def test_a_planted_symlink_is_not_written_through(shared_logs: Path, tmp_path: Path) -> None:
    target = tmp_path / "victim"
    target.write_text("mine")
    (shared_logs / "lc-4242.sbatch").symlink_to(target)
    slurm = Submitted()
    with pytest.raises(WorldError, match="job 4242 was cancelled"):
        lifecycle.submit(_job(shared_logs), slurm)  # type: ignore[arg-type]
    assert target.read_text() == "mine" and slurm.cancelled == ["4242"]


def test_a_record_that_cannot_be_written_after_the_submit_names_the_job_to_cancel(shared_logs: Path) -> None:
    jobs = Path(os.environ["LC_CLUSTER_STATE"]) / "jobs"
    # The record's own name taken by a folder: the write after sbatch fails, whoever runs the test (root too).
    slurm = Submitted(before=lambda job_id: (jobs / f"t-{job_id}.json").mkdir())
    with pytest.raises(WorldError, match=r"job 4242 was submitted but not recorded .*: scancel 4242"):
        lifecycle.submit(_job(shared_logs), slurm)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "answer", ["Submitted batch job 4242", "", "4242\n4243", "\u0664\u0662", "4242;", "-1", "4242 x"]
)
def test_an_sbatch_answer_that_is_not_a_job_id_is_the_worlds_failure(
    answer: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    sbatch = bin_dir / "sbatch"
    sbatch.write_text(f"#!/bin/sh\ncat >/dev/null\nprintf '%s\\n' {answer!r}\n")
    sbatch.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    spec = ClusterFile.model_validate({"name": "t", "gpu": "H800-80G", "gpus_per_node": 8,
                                       "paths": {"log_dir": str(tmp_path)}})  # fmt: skip
    with pytest.raises(WorldError, match=r"sbatch answered .*not a job id: see `squeue --me`"):
        SlurmCli(spec).submit("#!/bin/bash\n", "lc-cluster:x", {})


def test_sbatch_on_a_multi_cluster_slurm_gives_the_id_before_the_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text("#!/bin/sh\ncat >/dev/null\necho '4242;gpu-east'\n")
    (bin_dir / "sbatch").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    spec = ClusterFile.model_validate({"name": "t", "gpu": "H800-80G", "gpus_per_node": 8,
                                       "paths": {"log_dir": str(tmp_path)}})  # fmt: skip
    assert SlurmCli(spec).submit("#!/bin/bash\n", "lc-cluster:x", {}) == "4242"


def test_init_never_writes_through_a_symlink(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LC_CLUSTER_HOME", str(tmp_path / "home"))
    clusters = tmp_path / "home" / "clusters"
    clusters.mkdir(parents=True)
    target = tmp_path / "elsewhere"
    (clusters / "prod.yaml").symlink_to(target)  # dangling: nothing there yet
    refused = cli("init", "--name", "prod")
    assert refused.returncode == 2 and "exists: edit it, or pass --force" in refused.stderr
    assert not target.exists()
    forced = cli("init", "--name", "prod", "--force")
    assert forced.returncode == 0, forced.stderr
    written = clusters / "prod.yaml"
    assert not written.is_symlink() and not target.exists() and "name: prod" in written.read_text()
    assert stat.S_IMODE(written.stat().st_mode) == 0o600


def test_init_writes_a_new_file_only_its_owner_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LC_CLUSTER_HOME", str(tmp_path / "home"))
    done = cli("init", "--name", "lab")
    assert done.returncode == 0, done.stderr
    written = tmp_path / "home" / "clusters" / "lab.yaml"
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
