"""Defects found on the way (issue 21, item 7), each held by a test that failed before its fix: bracketed node lists,
the metrics of finished jobs, the job poll, the context a benchmark must fit in and the reason its requests failed."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from lc_cluster import validate
from lc_cluster.bench import run, scenarios
from lc_cluster.errors import LcError
from lc_cluster.jobs import lifecycle
from lc_cluster.jobs.backend import JobState, SlurmCli
from lc_cluster.jobs.records import JobRecord, save
from tests.conftest import cli

TINY_ARGV = ["vllm", "serve", "lc-cluster/tiny-llama", "--dtype", "float32", "--max-model-len", "256"]


def _cluster_file(tmp_path: Path) -> str:
    doc = {"name": "t", "gpu": "H800-80G", "gpus_per_node": 8, "paths": {"log_dir": str(tmp_path / "logs")}}
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def _record(tmp_path: Path, *, phase: str = "ready", argv: list[str] | None = None) -> JobRecord:
    """Job 7 of the tiny model on cluster t, its batch script at PHASE with an endpoint and a scrape file."""
    record = JobRecord(job_id="7", token="abc", cluster="t", cluster_file=_cluster_file(tmp_path), model="tiny",
                       engine="vllm", nodes=1, http_port=8000, log_dir=str(tmp_path / "logs"), submitted_at=0.0,
                       plan={"processes": [{"name": "node-0", "role": "serve", "instance": 0, "node": 0,
                                            "port": 8000, "argv": argv or TINY_ARGV}]})  # fmt: skip
    record.job_dir.mkdir(parents=True)
    (record.job_dir / "node-0.cmd.json").write_text(json.dumps({"hostname": "n1", "node_ip": "10.0.0.1"}))
    (record.job_dir / "state.json").write_text(json.dumps({"phase": phase, "endpoint": "http://10.0.0.1:8000"}))
    scrape = [{"labels": {"role": "serve", "lc_instance": "0"}, "targets": ["10.0.0.1:8000"]}]
    (record.job_dir / "scrape.json").write_text(json.dumps(scrape))
    return record


# 1. doctor --exclude gpu[01-02],gpu05


def test_a_bracketed_node_list_is_split_only_between_names() -> None:
    assert validate.hostnames("--exclude", "gpu[01-02],gpu05") == ["gpu01", "gpu02", "gpu05"]
    assert validate.hostnames("--exclude", "n[8-10,3],a.b-c") == ["n8", "n9", "n10", "n3", "a.b-c"]
    assert validate.hostnames("--exclude", "gpu[001-002]") == ["gpu001", "gpu002"]
    assert validate.hostnames("--exclude", None) == []


@pytest.mark.parametrize(
    ("value", "message"),
    [("gpu[03-01]", "'03-01' is not a range"), ("gpu[1--2]", "'1--2' is not a range"), ("gpu[1,]", "'' is not"),
     ("gpu[-]", "'-' is not"), ("n[0-99999999]", "more than 65536 nodes"), ("n[" + "9" * 5000 + "]", "is not a range"),
     ("gpu[1-2", "a Slurm node list")],
)  # fmt: skip
def test_node_lists_slurm_would_refuse_are_refused_with_one_line(value: str, message: str) -> None:
    with pytest.raises(LcError, match=message.replace("[", r"\[")):
        validate.hostnames("--exclude", value)


def test_doctor_leaves_out_every_node_of_a_bracketed_exclude(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lc_cluster.doctor.run import prepare

    nodes = ["gpu01", "gpu02", "gpu03", "gpu05"]
    monkeypatch.setattr(SlurmCli, "usable_nodes", lambda self, partition: nodes)
    request, _ = prepare(_cluster_file(tmp_path), engine="vllm", exclude="gpu[01-02],gpu05")
    assert request.nodelist == "gpu03"


def test_doctor_refuses_a_broken_range_with_exit_2() -> None:
    done = cli("doctor", "--exclude", "gpu[05-01]")
    assert done.returncode == 2 and "'05-01' is not a range" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


# 2. status scrapes the metrics of finished jobs


class _Slurm:
    def __init__(self, state: str) -> None:
        self.state_name = state

    def state(self, job_id: str) -> JobState:
        return JobState(job_id=job_id, state=self.state_name, reason="", nodes="n1")


@pytest.mark.parametrize(("state", "phase"), [("COMPLETED", "ready"), ("CANCELLED", "stopped"), ("RUNNING", "loading")])
def test_status_reads_no_metrics_of_a_job_that_is_not_serving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state: str, phase: str
) -> None:
    record = _record(tmp_path, phase=phase)
    monkeypatch.setattr(lifecycle, "backend_for", lambda r: _Slurm(state))

    def scrape(netns: str | None, url: str) -> str:
        raise AssertionError(f"{url} scraped")

    monkeypatch.setattr(lifecycle, "metrics_via", scrape)
    assert lifecycle.describe(record)["load"] == []


def test_status_reads_the_metrics_of_a_serving_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    record = _record(tmp_path)
    monkeypatch.setattr(lifecycle, "backend_for", lambda r: _Slurm("RUNNING"))
    monkeypatch.setattr(lifecycle, "metrics_via", lambda netns, url: "vllm:num_requests_running 3\n")
    [found] = lifecycle.describe(record)["load"]
    assert found["target"] == "10.0.0.1:8000" and found["running"] == 3


@pytest.mark.parametrize(
    "groups",
    [[{"labels": {"role": "serve"}, "targets": [t]}] for t in ("18000", "evil.example:8000", "10.0.0.1:9999",
                                                              "10.0.0.2:8000", 8000, None, "10.0.0.1:8000/x")]
    + [{"a": 1}, [1, 2], [{"labels": "x", "targets": ["10.0.0.1:8000"]}], [{"labels": {}, "targets": "10.0.0.1:8000"}]],
)  # fmt: skip
def test_status_reads_metrics_only_from_the_jobs_own_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, groups: object
) -> None:
    """scrape.json lies in the job's folder, which others may write: a target that is not IP:port of one of the job's
    processes is named, never fetched (http://18000/metrics was a request off the machine)."""
    record = _record(tmp_path)
    (record.job_dir / "scrape.json").write_text(json.dumps(groups))
    monkeypatch.setattr(lifecycle, "backend_for", lambda r: _Slurm("RUNNING"))

    def scrape(netns: str | None, url: str) -> str:
        raise AssertionError(f"{url} fetched")

    monkeypatch.setattr(lifecycle, "metrics_via", scrape)
    for entry in lifecycle.describe(record)["load"]:
        assert "not the address and port of one of the job's processes" in entry["error"]


# 3. the job poll dumps the whole squeue --json


def _slurm_answers(monkeypatch: pytest.MonkeyPatch, answers: dict[str, tuple[int, str, str]]) -> list[list[str]]:
    """Slurm's commands answer (exit, stdout, stderr) by name; returns the argv of every call."""
    calls: list[list[str]] = []

    def fake(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append(argv)
        code, out, err = answers[argv[0]]
        return subprocess.CompletedProcess(argv, code, out, err)

    monkeypatch.setattr(subprocess, "run", fake)
    return calls


def _jobs(*states: tuple[int, str]) -> str:
    return json.dumps({"jobs": [{"job_id": job, "job_state": [state], "nodes": "n1"} for job, state in states]})


def test_the_poll_asks_squeue_for_the_job_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lc_cluster.cluster import load_cluster

    calls = _slurm_answers(monkeypatch, {"squeue": (0, _jobs((7, "RUNNING")), "")})
    state = SlurmCli(load_cluster(_cluster_file(tmp_path))).state("7")
    assert state is not None and state.state == "RUNNING"
    assert calls == [["squeue", "--json", "--jobs=7"]]


def test_a_slurm_that_lists_every_job_still_gives_this_ones_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slurm before 23.02 ignores --jobs with --json."""
    from lc_cluster.cluster import load_cluster

    _slurm_answers(monkeypatch, {"squeue": (0, _jobs((6, "PENDING"), (7, "RUNNING"), (8, "PENDING")), "")})
    state = SlurmCli(load_cluster(_cluster_file(tmp_path))).state("7")
    assert state is not None and state.state == "RUNNING"


def test_a_job_squeue_forgot_is_asked_of_scontrol(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lc_cluster.cluster import load_cluster

    forgot = (1, "", "slurm_load_jobs error: Invalid job id specified\n")
    calls = _slurm_answers(monkeypatch, {"squeue": forgot, "scontrol": (0, _jobs((7, "COMPLETED")), "")})
    slurm = SlurmCli(load_cluster(_cluster_file(tmp_path)))
    state = slurm.state("7")
    assert state is not None and state.state == "COMPLETED"
    assert [c[0] for c in calls] == ["squeue", "scontrol"]
    _slurm_answers(monkeypatch, {"squeue": forgot, "scontrol": forgot})
    assert slurm.state("7") is None


def test_a_squeue_that_fails_otherwise_is_the_worlds_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lc_cluster.cluster import load_cluster
    from lc_cluster.errors import WorldError

    _slurm_answers(monkeypatch, {"squeue": (1, "", "slurm_load_jobs error: Unable to contact slurm controller\n")})
    with pytest.raises(WorldError, match="Unable to contact slurm controller"):
        SlurmCli(load_cluster(_cluster_file(tmp_path))).state("7")


# 5. bench with its defaults sends prompts longer than the job's context


def test_the_context_is_the_planned_max_model_len_else_the_models(tmp_path: Path) -> None:
    assert run.context_len(_record(tmp_path / "a")) == 256
    assert run.context_len(_record(tmp_path / "b", argv=[*TINY_ARGV[:-2], "--max_model_len=200"])) == 200
    # `auto` leaves the model's own (tiny: 512), as does a record that keeps no plan.
    assert run.context_len(_record(tmp_path / "c", argv=[*TINY_ARGV[:-1], "auto"])) == 512
    unplanned = _record(tmp_path / "d")
    unplanned.plan = {}
    assert run.context_len(unplanned) == 512


def test_the_scenarios_own_lengths_shrink_to_fit_the_context() -> None:
    chat = scenarios.load("chat-short")
    room = 256 - scenarios.CHAT_TEMPLATE_TOKENS
    assert scenarios.fit(chat, 256, given=()) == scenarios.load("chat-short", {"input_len": 128, "output_len": 64})
    assert scenarios.fit(chat, 4096, given=()) == chat
    given_in = scenarios.fit(scenarios.load("chat-short", {"input_len": 150}), 256, given=["input_len"])
    assert (given_in.input_len, given_in.output_len) == (150, room - 150)
    long = scenarios.fit(scenarios.load("long-context"), 4096, given=())
    assert long.input_len + long.output_len <= 4096 - scenarios.CHAT_TEMPLATE_TOKENS and long.output_len > 0


@pytest.mark.parametrize(
    ("asked", "given"),
    [({"input_len": 200, "output_len": 56}, ["input_len", "output_len"]), ({"input_len": 200}, ["input_len"])],
)
def test_lengths_given_that_do_not_fit_are_refused_with_the_lengths_that_do(
    asked: dict[str, int], given: list[str]
) -> None:
    with pytest.raises(LcError, match=r"--input-len 200.*256-token context.*--input-len \+ --output-len <= 192"):
        scenarios.fit(scenarios.load("chat-short", asked), 256, given=given)


def test_bench_refuses_lengths_over_the_jobs_context_with_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LC_CLUSTER_STATE", str(tmp_path / "state"))
    save(_record(tmp_path))
    done = cli("bench", "7", "--input-len", "300", "--output-len", "100")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "<= 192" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_failed_requests_are_reported_with_the_clients_first_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LC_CLUSTER_STATE", str(tmp_path / "state"))
    errors = ["", "  \n", "Traceback (most recent call last):\n  ...\nValueError: max_tokens is too large", "Bad"]

    def client(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        folder, name = argv[argv.index("--result-dir") + 1], argv[argv.index("--result-filename") + 1]
        Path(folder, name).write_text(json.dumps({"completed": 0, "failed": 4, "errors": errors}))
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(subprocess, "run", client)
    load = scenarios.load("chat-short", {"prompts": 4})
    result = run.run(_record(tmp_path), "chat-short", load)
    assert result.problems[0] == "4 of 4 requests failed (ValueError: max_tokens is too large)"


def test_doctor_dry_run_prints_the_job_and_submits_nothing(tmp_path: Path) -> None:
    done = cli("doctor", "--cluster", _cluster_file(tmp_path), "--nodelist", "gpu01,gpu02", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "#SBATCH --nodelist=gpu01,gpu02" in done.stdout and "submitted" not in done.stderr


def test_doctor_timeout_is_bounded() -> None:
    done = cli("doctor", "--timeout", str(10**9), "--dry-run")
    assert done.returncode == 2 and "--timeout" in done.stderr
