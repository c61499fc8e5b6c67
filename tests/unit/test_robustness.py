"""Hostile and broken input: values ending in a newline, broken job records. Each case would have passed or crashed
before; each must now give a one-line error (or a named warning) and change nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lc_cluster.cli.options import JsonFlag
from tests.conftest import cli

PLAN = ["plan", "longcat-flash-chat", "--gpu", "H800", "--nodes", "2"]


def _cluster(tmp_path: Path, **changes: object) -> str:
    doc: dict[str, object] = {"name": "t", "gpu": "H800-80G", "gpus_per_node": 8, "paths": {"log_dir": "/shared/logs"}}
    doc.update(changes)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--engine-version", "0.33.0\n"], "is not a version number"),
        (["--engine-version", " 0.33.0"], "is not a version number"),
        (["--ifname", "ib0\n"], "--ifname"),
        (["--ib-hca", "mlx5_0\n"], "--ib-hca"),
        (["--bind", "0.0.0.0\n"], "--bind"),
    ],
)
def test_options_ending_in_a_newline_are_refused(args: list[str], message: str) -> None:
    result = cli(*PLAN, *args)
    assert result.returncode == 2, result.stdout
    assert message in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "changes",
    [
        {"slurm": {"partition": "gpu\n"}},
        {"slurm": {"time_limit": "4:00:00\n"}},
        {"slurm": {"extra_sbatch": ["--exclusive\n"]}},
        {"network": {"service_interface": "bond0\n"}},
        {"paths": {"log_dir": "/shared/logs\n"}},
        {"runtime": {"env": {"A\n": "x"}}},
    ],
)
def test_cluster_values_ending_in_a_newline_are_refused(tmp_path: Path, changes: dict[str, object]) -> None:
    result = cli("serve", "longcat-flash-chat", "--cluster", _cluster(tmp_path, **changes), "--nodes", "2", "--dry-run")
    assert result.returncode == 2, result.stdout
    # The message shows the value as Python writes it, newline and all.
    assert "\\n'" in result.stderr and "Traceback" not in result.stderr
    assert "#SBATCH" not in result.stdout


def test_model_names_and_sources_ending_in_a_newline_are_refused(tmp_path: Path) -> None:
    assert cli("plan", "longcat-flash-chat\n", "--gpu", "H800").returncode == 2
    model = tmp_path / "m.yaml"
    model.write_text(yaml.safe_dump({"extends": "tiny", "name": "mine", "source": "org/name\n"}))
    result = cli("plan", "mine", "--gpu", "H800", "--model-file", str(model))
    assert result.returncode == 2 and "source" in result.stderr


def test_broken_job_records_are_skipped_and_named(tmp_path: Path) -> None:
    jobs = tmp_path / "state" / "jobs"
    jobs.mkdir(parents=True)
    (jobs / "c-1.json").write_text('{"job_id": "1", "clus')  # truncated
    (jobs / "c-2.json").write_text('["a list"]')  # foreign
    (jobs / "c-3.json").write_bytes(b"\xff\xfe not text")
    env = {**os.environ, "LC_CLUSTER_STATE": str(tmp_path / "state")}
    done = subprocess.run([sys.executable, "-m", "lc_cluster", "status", "--json"], env=env, capture_output=True,
                          text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"schema_version": 1, "jobs": []}
    for name in ("c-1.json", "c-2.json", "c-3.json"):
        assert f"{jobs / name}: skipped" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_record_of_the_wrong_types_is_skipped_and_the_others_still_work(tmp_path: Path) -> None:
    jobs = tmp_path / "state" / "jobs"
    jobs.mkdir(parents=True)
    good = {"job_id": "41", "token": "aa11", "cluster": "c", "cluster_file": "/nonexistent.yaml", "model": "tiny",
            "engine": "vllm", "nodes": 1, "http_port": 8000, "log_dir": str(tmp_path / "logs"),
            "submitted_at": 1.0}  # fmt: skip
    (jobs / "c-41.json").write_text(json.dumps(good))
    bad = {
        "c-1.json": {**good, "job_id": "1", "submitted_at": "yesterday"},
        "c-2.json": {**good, "job_id": 2},
        "c-3.json": {**good, "job_id": "3", "nodes": "1"},
        "c-4.json": {**good, "job_id": "4", "token": "../../../etc/x"},  # its key file would be outside the folder
        "c-5.json": {**good, "job_id": "5", "cluster": "c\n"},
    }
    for name, data in bad.items():
        (jobs / name).write_text(json.dumps(data))
    env = {**os.environ, "LC_CLUSTER_STATE": str(tmp_path / "state")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "lc_cluster", *args], env=env, capture_output=True, text=True,
                              check=False)  # fmt: skip

    done = run("status", "--json")
    assert done.returncode == 0, done.stderr
    assert [j["job_id"] for j in json.loads(done.stdout)["jobs"]] == ["41"]
    for name in bad:
        assert f"{jobs / name}: skipped" in done.stderr, done.stderr
    # The job commands find the good record past the bad ones, and name a bad one as not there.
    logs = run("logs", "41")
    assert "internal error" not in logs.stderr and "no job 41" not in logs.stderr, logs.stderr
    missing = run("logs", "2")
    assert missing.returncode == 2 and "5 unreadable records skipped" in missing.stderr, missing.stderr


def test_a_state_file_that_is_not_an_object_reads_as_no_phase(tmp_path: Path) -> None:
    from lc_cluster.jobs.node_tools import Phase
    from lc_cluster.jobs.records import JobRecord

    record = JobRecord(job_id="7", token="t", cluster="c", cluster_file="/x.yaml", model="m", engine="vllm",
                       nodes=1, http_port=8000, log_dir=str(tmp_path), submitted_at=0.0)  # fmt: skip
    (tmp_path / "7").mkdir()
    (tmp_path / "7" / "state.json").write_text("[1, 2]")
    assert record.marker() == {} and record.phase() is Phase.SUBMITTED


def test_ask_follows_only_the_planned_endpoint(tmp_path: Path) -> None:
    from lc_cluster.errors import LcError
    from lc_cluster.jobs.records import JobRecord

    record = JobRecord(job_id="8", token="t", cluster="c", cluster_file="/x.yaml", model="m", engine="vllm",
                       nodes=1, http_port=8000, log_dir=str(tmp_path), submitted_at=0.0)  # fmt: skip
    (tmp_path / "8").mkdir()
    state = tmp_path / "8" / "state.json"
    state.write_text(json.dumps({"phase": "ready", "endpoint": "http://10.0.0.1:8000"}))
    assert record.endpoint() == "http://10.0.0.1:8000"
    for planted in ("http://evil.example:8000", "http://10.0.0.1:9999", "file:///etc/passwd", "http://10.0.0.1:8000/x"):
        state.write_text(json.dumps({"phase": "ready", "endpoint": planted}))
        with pytest.raises(LcError, match="not the planned port"):
            record.endpoint()


@pytest.mark.parametrize("as_json", [False, True])
def test_a_bug_exits_70_with_one_line_and_the_traceback_in_a_private_file(
    as_json: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import typer

    from lc_cluster.cli import app, output

    def broken(as_json: JsonFlag = False) -> None:
        raise RuntimeError("a defect of ours")

    def build() -> typer.Typer:
        t = typer.Typer()
        t.command()(broken)
        return t

    monkeypatch.setattr(app, "build", build)
    monkeypatch.setattr(output, "_json_errors", False)
    monkeypatch.setenv("LC_CLUSTER_STATE", str(tmp_path))
    monkeypatch.delenv("LC_CLUSTER_DEBUG", raising=False)
    monkeypatch.setattr(sys, "argv", ["lc-cluster", *(["--json"] if as_json else [])])
    with pytest.raises(SystemExit) as ended:
        app.main()
    assert ended.value.code == 70
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and err.startswith("internal error: this is a bug in lc-cluster")
    (saved,) = (tmp_path / "crashes").iterdir()
    assert str(saved) in err and "RuntimeError: a defect of ours" in saved.read_text()
    assert saved.stat().st_mode & 0o077 == 0
    if as_json:
        doc = json.loads(out)
        assert (doc["kind"], doc["exit_code"], doc["traceback_file"]) == ("internal", 70, str(saved))
    else:
        assert out == ""


def test_slurm_refusing_a_job_is_the_worlds_failure_exit_1(tmp_path: Path) -> None:
    """sbatch's own refusal comes after every check passed: exit 1, not the bad-input 2."""
    from lc_cluster.errors import WorldError
    from lc_cluster.jobs.backend import SlurmCli

    class Cluster:
        login_netns = None

        class paths:
            umask = 0o022

        class slurm:
            conf = str(tmp_path / "no-such-slurm.conf")

    with pytest.raises(WorldError) as raised:
        SlurmCli(Cluster()).submit("#!/bin/bash\n", "lc-cluster:x", {})  # type: ignore[arg-type]
    assert raised.value.exit_code == 1


def test_every_secret_looking_name_is_kept_from_ansible(monkeypatch: pytest.MonkeyPatch) -> None:
    from lc_cluster.provision.runner import without_secret_env

    secret = ["DB_PASS", "MY_PWD", "GH_PAT", "SESSION_JWT", "S3_KEY", "HF_TOKEN", "aws_secret_access_key", "PASSWORD"]
    kept = ["PATH", "HOME", "ANSIBLE_VAULT_PASSWORD_FILE", "KEYBOARD", "PATCH_LEVEL", "SSH_AUTH_SOCK"]
    for name in secret + kept:
        monkeypatch.setenv(name, "x")
    with without_secret_env():
        assert [n for n in secret if n in os.environ] == [] and all(n in os.environ for n in kept)
    assert all(n in os.environ for n in secret)


def test_what_nodes_say_is_printed_literally(capsys: pytest.CaptureFixture[str]) -> None:
    """A node's output with Rich markup ('[/bold]' raised MarkupError) or terminal escapes: printed, not obeyed."""
    from lc_cluster.cli.doctor_cmd import show
    from lc_cluster.doctor.checks import Check
    from lc_cluster.doctor.run import Report

    hostile = "[/bold] [red]x\x1b[2J\x07"
    checks = [Check("driver", False, hostile, fix=hostile), Check("gpus", True, "")]
    report = Report(job_id="9", nodes={"n1[/]": checks}, fabric=[Check("fabric", None, hostile)])
    show(report)
    out = capsys.readouterr().out
    assert "\x1b[2J" not in out and "\x07" not in out
    assert "[/bold] [red]x\ufffd[2J\ufffd" in out and "n1[/]" in out and "FAIL" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [(["plan", "tiny", "--gpu", "H100-80G", "--tp", "2", "--tp", "4"], "--tp given twice"),
     (["plan", "tiny", "--gpu=H100-80G", "--gpu", "H200"], "--gpu given twice"),
     (["plan", "tiny", "--gpu", "H100-80G", "--api-key", "--no-api-key"], "--api-key and --no-api-key both given"),
     (["doctor", "--timeout", "60", "--timeout=90", "--dry-run"], "--timeout given twice")],
)  # fmt: skip
def test_an_option_given_twice_is_refused_not_last_wins(args: list[str], message: str) -> None:
    done = cli(*args)
    assert done.returncode == 2 and message in done.stderr, done.stderr


def test_repeatable_options_and_option_like_values_still_pass() -> None:
    done = cli("plan", "tiny", "--gpu", "H100-80G", "--engine-arg", "--tp", "--engine-arg=--max-num-seqs=8", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["engine_args"] == ["--tp", "--max-num-seqs=8"]
