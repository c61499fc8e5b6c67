"""Every command that reads user input, driven with generated hostile and malformed input against a scratch home:
no traceback ever, a refusal is one line on stderr with exit status 2, and nothing is written outside the scratch
folder. (Commands that install or provision, `sandbox up` and `up`, are driven by the integration tests.)"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lc_cluster.cli.app import main

HOSTILE = st.one_of(
    st.sampled_from([
        "gpu\n", "x\ny", "$(reboot)", "`id`", "'", '"', "a b", "../x", "/etc/passwd", "\x1b[2J", "\x00", "-", "--",
        "9" * 40, "-1", "0", "${HEAD_IP}", "é", "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
        "a" * 300, "", " ", "--help=", "=", "-p", "--wheel", "/",  # an option name where a value goes; the root
    ]),
    st.text(max_size=40),
)  # fmt: skip
# Nine levels of nine aliases: 387 million values once expanded, from 400 bytes.
ALIAS_BOMB = b"l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + b"".join(
    b"l%d: &l%d [%s]\n" % (i, i, b", ".join([b"*l%d" % (i - 1)] * 9)) for i in range(1, 9)
)
FILE_BYTES = st.one_of(
    st.sampled_from(
        [b"\xff\xfe\x00", b"[1, 2]", b"name: [", b"a: b\n" * 3, b"", b"{{", b"!!python/object:os.system x",
         ALIAS_BOMB, b"a: &a [1, *a]\n", b"name: x\nname: y\n"]
    ),
    st.binary(max_size=200),
)  # fmt: skip


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    old = sys.argv
    sys.argv = ["lc-cluster", *args]
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = old
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, sub in (("HOME", "home"), ("LC_CLUSTER_HOME", "config"), ("LC_CLUSTER_STATE", "state"),
                      ("LC_CLUSTER_CACHE", "cache")):  # fmt: skip
        (tmp_path / sub).mkdir()
        monkeypatch.setenv(name, str(tmp_path / sub))
    # Temporary files belong in the scratch folder too; tempfile reads TMPDIR once, so its cache is reset.
    (tmp_path / "tmp").mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    monkeypatch.setattr(tempfile, "tempdir", None)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _commands(value: str, file: Path) -> list[list[str]]:
    return [
        ["plan", value, "--gpu", "H800"],
        ["plan", "tiny", "--gpu", value],
        ["plan", "tiny", "--gpu", "H100", "--engine-version", value],
        ["plan", "tiny", "--gpu", "H100", "--ifname", value],
        ["plan", "tiny", "--gpu", "H100", "--engine-arg", value],
        ["plan", "tiny", "--gpu", "H100", "--tp", value],
        ["plan", "tiny", "--gpu", "H100", "--model-file", str(file)],
        ["serve", "tiny", "--cluster", value, "--dry-run"],
        ["serve", "tiny", "--cluster", str(file), "--dry-run"],
        ["plan", "tiny", "--cluster", str(file)],
        ["init", "--name", value],
        ["status", value],
        ["logs", value],
        ["stop", value],
        ["ask", value, value],
        ["models", "--model-file", str(file)],
        ["plan", "tiny", "--gpu", "H100", "--gpus-per-node", "2", "--prefill", value, "--decode", "gpus=1"],
        ["plan", "tiny", "--gpu", "H100", "--gpus-per-node", "2", "--replicas", "2", "--router", value],
        [
            "plan",
            "tiny",
            "--gpu",
            "H100",
            "--gpus-per-node",
            "2",
            "--prefill",
            "gpus=1",
            "--decode",
            "gpus=1",
            "--kv-connector",
            value,
        ],
        ["canary", value],
        ["up", "-i", value, "--check"],
        ["inventory", "check", "-i", value],
        ["inventory", "check", "-i", str(file)],
        ["mirror", "build", str(file.with_suffix(".d")), "--deb", value],
        ["mirror", "build", value, "--root", str(file.parent)],
        ["sandbox", "status", "--name", value],
        ["doctor", "--exclude", value],
        ["doctor", "--exclude", f"n[{value}]"],
        ["gpus"],
        ["canary", "tiny", "--gpu", "CPU-SANDBOX", "--skip-quirk", value],
    ]


def _outside(scratch: Path) -> set[str]:
    """What a command could have written outside the scratch folder: the repository's tree, and what lc-cluster or
    ansible-runner would name in /tmp (other processes on the machine write there too)."""
    repo = Path(__file__).resolve().parents[2]
    ours = [p for p in Path("/tmp").iterdir() if p.name.startswith(("lc-", "lc_", ".ansible"))]
    return {str(p) for p in (*repo.iterdir(), *ours) if not str(p).startswith(str(scratch))}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=HOSTILE, content=FILE_BYTES)
def test_hostile_input_gets_one_line_and_exit_2(
    scratch: Path, capsys: pytest.CaptureFixture[str], value: str, content: bytes
) -> None:
    file = scratch / "input.yaml"
    file.write_bytes(content)
    before = _outside(scratch)
    for args in _commands(value, file):
        code, out, err = _run(args, capsys)
        where = f"lc-cluster {' '.join(map(repr, args))}"
        assert "Traceback" not in out + err and "internal error" not in err, f"{where}:\n{err}"
        assert code in (0, 2), f"{where}: exit {code}\n{err}"
        if code == 2:
            lines = [line for line in err.splitlines() if line.strip()]
            assert lines and len(lines) <= 2, f"{where}: not a short message:\n{err}"
    assert _outside(scratch) - before == set(), "written outside the scratch folder"
    # Nothing under the scratch home either, except cluster files that `init` was asked to write.
    written = {p.relative_to(scratch).parts[0] for p in scratch.rglob("*") if p.is_file() and p.name != "input.yaml"}
    written.discard("tmp")
    assert written <= {"config"}, written
    assert os.getcwd() == str(scratch)


# JSON as another program (or another user of a shared log folder) might leave it: any shape, any type.
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
GOOD_RECORD = {"job_id": "1", "token": "ab12", "cluster": "c", "cluster_file": "/nonexistent.yaml", "model": "tiny",
               "engine": "vllm", "nodes": 1, "http_port": 8000, "submitted_at": 1.0}  # fmt: skip


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from([*GOOD_RECORD, "plan", "gpus"]), value=JSON_VALUES, state=JSON_VALUES, scrape=JSON_VALUES)
def test_hostile_job_files_get_one_line_never_a_traceback(
    scratch: Path, capsys: pytest.CaptureFixture[str], field: str, value: object, state: object, scrape: object
) -> None:
    """A job record with one field of any type or shape, and its state.json and scrape.json of any shape: status,
    logs, stop and ask say what is wrong in a line, or carry on without the bad file."""
    jobs = scratch / "state" / "jobs"
    jobs.mkdir(exist_ok=True)
    job_dir = scratch / "logs" / "1"
    job_dir.mkdir(parents=True, exist_ok=True)
    (jobs / "c-1.json").write_text(json.dumps({**GOOD_RECORD, "log_dir": str(scratch / "logs"), field: value}))
    # A good record beside it: the bad one must not take the other jobs down with it (they are sorted together).
    (jobs / "c-2.json").write_text(json.dumps({**GOOD_RECORD, "job_id": "2", "log_dir": str(scratch / "logs")}))
    (job_dir / "state.json").write_text(json.dumps(state))
    (job_dir / "scrape.json").write_text(json.dumps(scrape))
    for args in (
        ["status", "--json"],
        ["status", "1"],
        ["logs", "1"],
        ["logs", "2"],
        ["ask", "1", "hi", "--timeout", "1"],
    ):
        code, out, err = _run(args, capsys)
        where = f"lc-cluster {' '.join(args)} with {field}={value!r}, state {state!r}, scrape {scrape!r}"
        assert "Traceback" not in out + err and "internal error" not in err, f"{where}:\n{err}"
        assert code in (0, 1, 2), f"{where}: exit {code}\n{err}"
