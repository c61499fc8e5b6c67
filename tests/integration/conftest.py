"""The sandbox, brought up once for the session through the CLI a user runs, and taken down after."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from lc_cluster.sandbox.topology import Topology
from lc_cluster.schemas import CHECK_ENV
from tests.conftest import cli

RECORDER = Path(__file__).parent / "recorder"
# The tests' own sandbox, beside any the user has up (the demo's, named 'sandbox').
# LC_TEST_SANDBOX lets a developer run these beside another checkout's tests (each sandbox name is its own namespaces).
SANDBOX = os.environ.get("LC_TEST_SANDBOX", "lctest")
HUB = Topology.named(SANDBOX).hub


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    use_own_home(tmp_path_factory)
    # Two nodes with eight stand-in GPUs each: the guides' 2 x 8 layouts fit, and vLLM jobs ask for one per node.
    result = cli("sandbox", "up", "--name", SANDBOX, "--nodes", "2", "--gpus-per-node", "8", "--json", timeout=1800)
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    try:
        yield status
    finally:
        down = cli("sandbox", "down", "--name", SANDBOX, timeout=300)
        assert down.returncode == 0, down.stderr
        assert not Path("/run/netns", HUB).exists()


@pytest.fixture(scope="module")
def recorder_cluster(sandbox: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> str:
    return with_recorder(sandbox, tmp_path_factory)


def with_recorder(sandbox: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> str:
    """The sandbox's cluster file with H800 nodes whose SGLang 'venv' is the recorder."""
    doc = yaml.safe_load(Path(sandbox["cluster_file"]).read_text())
    doc["name"] = f"{sandbox['name']}-recorder"
    doc["gpu"] = "H800-80G"
    doc["runtime"]["engine_venvs"]["sglang"] = str(RECORDER)
    path = tmp_path_factory.mktemp("clusters") / "recorder.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


@pytest.fixture(scope="session")
def wheel_cli(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """lc-cluster built as a wheel and installed into a fresh venv outside the repository (not editable)."""
    out = tmp_path_factory.mktemp("wheel")
    repo = Path(__file__).resolve().parents[2]
    uv = [sys.executable, "-m", "uv"]
    subprocess.run([*uv, "build", "--wheel", "--out-dir", str(out), str(repo)], check=True, capture_output=True)
    (wheel,) = out.glob("lc_cluster-*.whl")
    venv = out / "venv"
    subprocess.run([*uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True, capture_output=True)
    subprocess.run([*uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"), str(wheel)], check=True,
                   capture_output=True)  # fmt: skip
    return venv / "bin" / "lc-cluster"


def run_wheel(cli: Path, cwd: Path, *args: str, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    """CLI (the installed wheel) run as users run it: the wheel has no jsonschema (a test dependency), so the
    schema check the suite turns on is off here and its callers check the outputs themselves."""
    env = {key: value for key, value in os.environ.items() if key != CHECK_ENV}
    return subprocess.run([str(cli), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)  # fmt: skip


def use_own_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Config and state of the tests' own (the caches stay shared); a sandbox of the user's may run beside them."""
    if os.geteuid() != 0:
        pytest.fail("the sandbox tests need root (network namespaces, daemons, containers)")
    home = tmp_path_factory.mktemp("lc-home")
    os.environ["LC_CLUSTER_HOME"] = str(home / "config")
    os.environ["LC_CLUSTER_STATE"] = str(home / "state")


def queue() -> list[str]:
    done = subprocess.run(
        ["nsenter", f"--net=/run/netns/{HUB}", "env", f"SLURM_CONF={slurm_conf()}", "squeue", "-h", "-o", "%i"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.split()


def slurm_conf() -> str:
    return str(sandbox_root() / "slurm.conf")


def sandbox_root() -> Path:
    return Path(os.environ["LC_CLUSTER_STATE"]) / "sandboxes" / SANDBOX


def job_processes(job_id: str) -> list[int]:
    """Processes anywhere on this machine started for the job (the batch script marks every engine)."""
    marker = f"LC_CLUSTER_JOB={job_id}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def wait_for(predicate: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def in_hub(*argv: str) -> str:
    done = subprocess.run(["nsenter", f"--net=/run/netns/{HUB}", *argv], capture_output=True, text=True, timeout=60,
                          check=True)  # fmt: skip
    return done.stdout
