"""The package as users install it: a wheel in a fresh venv, run from outside the repository."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml


def _run(cli: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(cli), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def test_an_installed_wheel_plans_and_renders_jobs_outside_the_repository(wheel_cli: Path, tmp_path: Path) -> None:
    assert "site-packages" not in str(Path(__file__)) and Path(__file__).resolve().parents[2] not in wheel_cli.parents
    planned = _run(wheel_cli, tmp_path, "plan", "longcat-flash-chat", "--gpu", "H800", "--nodes", "2", "--json")
    assert planned.returncode == 0, planned.stderr
    assert len(json.loads(planned.stdout)["processes"]) == 2

    cluster = tmp_path / "c.yaml"
    cluster.write_text(yaml.safe_dump({"name": "c", "gpu": "H800-80G", "gpus_per_node": 8,
                                       "paths": {"log_dir": "/shared/logs"}}))  # fmt: skip
    dry = _run(wheel_cli, tmp_path, "serve", "longcat-flash-chat", "--cluster", str(cluster), "--nodes", "2",
               "--dry-run", "--json")  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    doc = json.loads(dry.stdout)
    # The script came from the wheel's own templates, and the node tools are inlined into it.
    assert doc["script"].startswith("#!/bin/bash") and "def node_ip" in doc["script"]
    # `up` finds the playbooks shipped in the wheel (a bad name lists them).
    listed = _run(wheel_cli, tmp_path, "up", "-i", str(tmp_path), "--playbook", "nope.yml")
    assert listed.returncode == 2 and "site.yml" in listed.stderr
