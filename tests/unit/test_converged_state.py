"""playbooks/converged/state.sh, run here on scratch files: a layer is left out only when the host reads exactly as
its last converge left it, so each kind of drift must change the verdict, and nothing the script reads may leave the
host."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from lc_cluster.provision.runner import PLAYBOOKS

SCRIPT = (PLAYBOOKS / "converged" / "state.sh").read_text()


@pytest.fixture()
def host(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "munge.key").write_text("secret-key-material\n")
    (tmp_path / "etc" / "with space.conf").write_text("a = 1\n")
    (tmp_path / "etc" / "globbed-by-mistake").write_text("x\n")
    (tmp_path / "reading").write_text("port up\n")
    return {"root": tmp_path, "stamp": tmp_path / "var" / "converged" / "base"}


def state(host: dict[str, Path], mode: str, inputs: str = "inputs-digest") -> str:
    root = host["root"]
    files = "\n".join([f"{root}/etc/munge.key", f"{root}/etc/with space.conf", f"{root}/etc", f"{root}/etc/glob*"])
    commands = f"cat '{root}/reading'"
    done = subprocess.run(
        ["sh", "-c", SCRIPT, "state.sh", str(host["stamp"]), inputs, files, "", "", commands, mode],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "secret-key-material" not in done.stdout + done.stderr
    return done.stdout.strip()


def test_a_first_run_reads_nothing_and_a_record_makes_the_next_check_converge(host: dict[str, Path]) -> None:
    assert state(host, "check") == "differs"
    assert not host["stamp"].exists()
    assert state(host, "record") == ""
    assert len(host["stamp"].read_text().strip()) == 64
    assert host["stamp"].parent.stat().st_mode & 0o777 == 0o700
    assert state(host, "check") == "converged"


DRIFTS = {
    "content": lambda root: (root / "etc" / "munge.key").write_text("another key\n"),
    "mode": lambda root: (root / "etc" / "munge.key").chmod(0o600),
    "removed": lambda root: (root / "etc" / "with space.conf").unlink(),
    "folder-mode": lambda root: (root / "etc").chmod(0o700),
    "command-output": lambda root: (root / "reading").write_text("port down\n"),
}


@pytest.mark.parametrize("drift", DRIFTS)
def test_each_kind_of_drift_changes_the_verdict(host: dict[str, Path], drift: str) -> None:
    state(host, "record")
    DRIFTS[drift](host["root"])
    assert state(host, "check") == "differs"


def test_what_is_not_listed_leaves_the_verdict_alone(host: dict[str, Path]) -> None:
    """The control for the drifts above: a new file in a listed folder is not read (only the folder's own mode)."""
    state(host, "record")
    (host["root"] / "etc" / "new-file").write_text("")
    assert state(host, "check") == "converged"


def test_inputs_change_the_verdict_and_lists_do_not_glob(host: dict[str, Path]) -> None:
    state(host, "record")
    assert state(host, "check", inputs="another-digest") == "differs"
    # "glob*" is a path, not a pattern: the file it would match is not read.
    (host["root"] / "etc" / "globbed-by-mistake").write_text("changed\n")
    assert state(host, "check") == "converged"
