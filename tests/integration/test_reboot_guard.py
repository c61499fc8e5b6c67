"""The driver role never reboots the machine Ansible runs from: asked to, it stops before touching anything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import cli


def test_a_reboot_of_the_control_machine_is_refused_before_any_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LC_CLUSTER_STATE", str(tmp_path / "state"))
    local = {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": "/usr/bin/python3"}}
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {
        "vars": {"nvidia_driver_reboot": True},
        "children": {"slurm_controller": {"hosts": local}, "gpu_nodes": {"hosts": local}},
    }}))  # fmt: skip
    result = cli("up", "-i", str(inventory), "--playbook", "nvidia_driver.yml", "--json", timeout=300)
    assert result.returncode == 1
    recap = json.loads(result.stdout)
    assert recap["hosts"]["localhost"]["failed"] == 1 and recap["hosts"]["localhost"]["changed"] == 0
    assert "is the machine this run is driven from" in " ".join(recap["messages"]["localhost"])
