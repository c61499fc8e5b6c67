"""Shared helpers: run the real CLI in-process, the way a user's shell would call it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from lc_cluster.schemas import CHECK_ENV

# Every --json document the CLI prints during the tests, in-process or in a child, is checked against its schema.
os.environ[CHECK_ENV] = "1"


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The installed entry point in a child process: exit codes, stdout and stderr exactly as a user sees them."""
    return subprocess.run(
        [sys.executable, "-m", "lc_cluster", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def plan_json(*args: str) -> dict[str, Any]:
    from typer.testing import CliRunner

    from lc_cluster.cli import build

    result = CliRunner().invoke(build(), ["plan", *args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


@pytest.fixture(autouse=True)
def _no_user_models(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests see only the built-in catalog unless they add files themselves."""
    monkeypatch.setenv("LC_CLUSTER_MODELS", str(tmp_path_factory.mktemp("user-models")))
