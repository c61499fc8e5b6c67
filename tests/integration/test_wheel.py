"""The package as users install it: a wheel in a fresh venv, run from outside the repository."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from tests.integration.conftest import run_wheel


def _shipped_contract(cli: Path, kind: str, printed: str) -> dict[str, Any]:
    """PRINTED, checked against the schema the wheel itself installed (so the schemas ship with it)."""
    (schema_file,) = cli.parents[1].glob(f"lib/python*/site-packages/lc_cluster/schemas/{kind}.json")
    doc: dict[str, Any] = json.loads(printed)
    jsonschema.validate(doc, json.loads(schema_file.read_text()))
    return doc


def test_an_installed_wheel_plans_and_renders_jobs_outside_the_repository(wheel_cli: Path, tmp_path: Path) -> None:
    assert "site-packages" not in str(Path(__file__)) and Path(__file__).resolve().parents[2] not in wheel_cli.parents
    planned = run_wheel(wheel_cli, tmp_path, "plan", "longcat-flash-chat", "--gpu", "H800", "--nodes", "2", "--json")
    assert planned.returncode == 0, planned.stderr
    assert len(_shipped_contract(wheel_cli, "plan", planned.stdout)["processes"]) == 2

    cluster = tmp_path / "c.yaml"
    cluster.write_text(yaml.safe_dump({"name": "c", "gpu": "H800-80G", "gpus_per_node": 8,
                                       "paths": {"log_dir": "/shared/logs"}}))  # fmt: skip
    dry = run_wheel(wheel_cli, tmp_path, "serve", "longcat-flash-chat", "--cluster", str(cluster), "--nodes", "2",
               "--dry-run", "--json")  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    doc = _shipped_contract(wheel_cli, "plan", dry.stdout)
    # The script came from the wheel's own templates, and the node tools are inlined into it.
    assert doc["script"].startswith("#!/bin/bash") and "def node_ip" in doc["script"]
    # `up` finds the playbooks shipped in the wheel (a bad name lists them).
    listed = run_wheel(wheel_cli, tmp_path, "up", "-i", str(tmp_path), "--playbook", "nope.yml")
    assert listed.returncode == 2 and "site.yml" in listed.stderr
