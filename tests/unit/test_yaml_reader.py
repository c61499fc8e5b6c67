"""One YAML reader for every file from outside (model files, cluster files, inventories): duplicate keys and alias
bombs refused in one line, before anything is built from them, and a FIFO never waited on."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest
import yaml

from lc_cluster.errors import LcError
from lc_cluster.userfiles import MAX_EXPANDED, check_yaml, read_yaml
from tests.conftest import cli
from tests.unit.test_fuzz_cli import ALIAS_BOMB

EXAMPLE = Path(__file__).resolve().parents[2] / "inventory" / "example"


def bomb() -> str:
    return ALIAS_BOMB.decode()


def test_anchors_that_stay_small_are_read(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("base: &b {tp: 8, dp: 1}\nprefill: *b\ndecode: {<<: *b, dp: 4}\n")
    assert read_yaml(path) == {"base": {"tp": 8, "dp": 1}, "prefill": {"tp": 8, "dp": 1}, "decode": {"tp": 8, "dp": 4}}


def test_an_alias_bomb_is_refused_at_once(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(bomb())
    # Without the bound this builds 387 million strings: a minute, then MemoryError.
    assert len(yaml.compose(path.read_text()).value) == 9  # it is valid YAML; only its expansion is refused
    started = time.monotonic()
    for reader in (read_yaml, check_yaml):
        with pytest.raises(LcError, match=f"expand to more than {MAX_EXPANDED:,} values"):
            reader(path)
    assert time.monotonic() - started < 5


def test_an_anchor_that_contains_itself_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text("a: &a [1, *a]\n")
    with pytest.raises(LcError, match=r"an anchor refers to itself \(line 1\)"):
        read_yaml(path)


@pytest.mark.parametrize(
    ("text", "lines"),
    [("tp: 8\ndp: 2\ntp: 4\n", "lines 1 and 3"), ("layout: {tp: 8, tp: 4}\n", "lines 1 and 1"),
     ("a:\n  - {x: 1}\n  - x: 1\n    y: 2\n    x: 3\n", "lines 3 and 5")],
)  # fmt: skip
def test_a_key_given_twice_is_refused_not_last_wins(tmp_path: Path, text: str, lines: str) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(text)
    with pytest.raises(LcError, match=rf"is given twice \({lines}\): keep one"):
        read_yaml(path)


def test_a_fifo_is_refused_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "model.yaml"
    os.mkfifo(fifo)
    result: list[BaseException] = []

    def read() -> None:
        try:
            read_yaml(fifo)
        except LcError as exc:
            result.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(5)
    if reader.is_alive():  # unblock the old code's open() so the test run does not hang with it
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("reading a FIFO waited for a writer")
    assert "not a regular file" in str(result[0])


@pytest.mark.parametrize(("where", "text"), [("cluster", "duplicate"), ("model", "bomb")])
def test_the_cli_says_it_in_one_line(tmp_path: Path, where: str, text: str) -> None:
    path = tmp_path / f"{where}.yaml"
    if text == "bomb":
        path.write_text(bomb() + "extends: tiny\nname: mine\n")
        result = cli("plan", "mine", "--gpu", "H100", "--model-file", str(path))
    else:
        path.write_text("name: c\ntype: slurm\npartition: gpu\npartition: batch\n")
        result = cli("plan", "tiny", "--cluster", str(path))
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and str(path) in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("file", "text", "message"),
    [("group_vars/all.yml", "slurm_partition: a\nslurm_partition: b\n", "'slurm_partition' is given twice"),
     ("host_vars/gpu01", bomb(), "expand to more than"),
     ("hosts.yml", "all:\n  children:\n    gpu_nodes: {}\n", "'all' is given twice")],
)  # fmt: skip
def test_inventories_are_read_by_the_same_rules(tmp_path: Path, file: str, text: str, message: str) -> None:
    inventory = tmp_path / "inventory"
    shutil.copytree(EXAMPLE, inventory)
    target = inventory / file
    target.parent.mkdir(exist_ok=True)
    target.write_text(target.read_text() + text if target.exists() else text)
    for args in (
        ["inventory", "check", "-i", str(inventory)],
        ["inventory", "check", "-i", str(inventory / "hosts.yml")],
    ):
        result = cli(*args)
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_inventory_vault_tags_pass_the_check(tmp_path: Path) -> None:
    path = tmp_path / "all.yml"
    path.write_text("secret: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6162\n")
    check_yaml(path)  # only Ansible can construct !vault; the check builds nothing
