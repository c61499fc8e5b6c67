"""`lc-cluster inventory check`: groups and variables are checked before any host is touched."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import cli

EXAMPLE = Path(__file__).resolve().parents[2] / "inventory" / "example"


def copy_example(tmp_path: Path) -> Path:
    target = tmp_path / "inventory"
    shutil.copytree(EXAMPLE, target)
    return target


def with_vars(tmp_path: Path, text: str) -> Path:
    """The example inventory with more lines in its group_vars/all.yml."""
    inventory = copy_example(tmp_path)
    vars_file = inventory / "group_vars" / "all.yml"
    vars_file.write_text(vars_file.read_text() + text)
    return inventory


def test_the_example_inventory_passes() -> None:
    result = cli("inventory", "check", "-i", str(EXAMPLE), "--json")
    assert result.returncode == 0, result.stderr
    groups = json.loads(result.stdout)["groups"]
    assert groups == {"slurm_controller": ["head01"], "gpu_nodes": ["gpu01", "gpu02"], "login": ["login01"]}


def test_a_misspelt_variable_names_the_right_one(tmp_path: Path) -> None:
    inventory = with_vars(tmp_path, "slurm_partiton: batch\n")
    result = cli("inventory", "check", "-i", str(inventory))
    assert result.returncode == 2
    assert "unknown variable 'slurm_partiton' (did you mean 'slurm_partition'?)" in result.stderr


def test_wrong_types_and_choices_are_refused(tmp_path: Path) -> None:
    inventory = with_vars(tmp_path, "base_nofile: lots\nslurm_proctrack: proctrack/pgid\n")
    result = cli("inventory", "check", "-i", str(inventory))
    assert result.returncode == 2
    assert "'base_nofile' must be of type int, not str" in result.stderr
    assert "'slurm_proctrack' must be one of proctrack/cgroup, proctrack/linuxproc" in result.stderr


def test_groups_the_playbooks_need(tmp_path: Path) -> None:
    inventory = copy_example(tmp_path)
    hosts = inventory / "hosts.yml"
    hosts.write_text("all:\n  children:\n    gpu_nodes:\n      hosts:\n        gpu01: {}\n")
    result = cli("inventory", "check", "-i", str(inventory))
    assert result.returncode == 2
    assert "group slurm_controller needs exactly one host, has 0" in result.stderr


def test_up_refuses_a_bad_inventory_before_running_anything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inventory = with_vars(tmp_path, "slurm_munge_keys: abc\n")
    state = tmp_path / "state"
    monkeypatch.setenv("LC_CLUSTER_STATE", str(state))
    result = cli("up", "-i", str(inventory))
    assert result.returncode == 2
    assert "did you mean 'slurm_munge_key'" in result.stderr
    assert not (state / "ansible").exists()


def test_a_choice_that_mixes_words_and_booleans(tmp_path: Path) -> None:
    ok = cli("inventory", "check", "-i", str(with_vars(tmp_path / "a", "nvidia_driver_fabric_manager: true\n")))
    assert ok.returncode == 0, ok.stderr
    bad = cli("inventory", "check", "-i", str(with_vars(tmp_path / "b", "nvidia_driver_fabric_manager: sometimes\n")))
    assert bad.returncode == 2
    assert "'nvidia_driver_fabric_manager' must be one of auto, True, False, not 'sometimes'" in bad.stderr
