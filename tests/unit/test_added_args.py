"""One guard for every source of engine arguments and environment (--engine-arg, a model file's recipe and its
prefill/decode parts, a defect's fix): what lc-cluster plans and wires is never changed from outside."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import cli

TINY = ("tiny", "--gpu", "H100-80G")
LONGCAT_SGLANG = ("longcat-flash-chat", "--gpu", "H800", "--nodes", "2", "--engine", "sglang")


@pytest.mark.parametrize(
    "arg",
    ["--config=mine.yaml", "--gpu-memory-utilization=0.5", "--gpu_memory_utilization=0.5", "--uds=/tmp/s",
     "--distributed-executor-backend=ray", "--data-parallel-hybrid-lb", "-dph", "--data-parallel-external-lb",
     "--gpu-memory-util=0.5"],
)  # fmt: skip
def test_engine_args_that_replace_the_plan_are_refused(arg: str) -> None:
    done = cli("plan", *TINY, f"--engine-arg={arg}")
    assert done.returncode == 2 and "would change what lc-cluster plans" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_sglangs_memory_share_is_the_plans() -> None:
    done = cli("plan", *LONGCAT_SGLANG, "--engine-arg=--mem-fraction-static=0.95")
    assert done.returncode == 2 and "(--mem-fraction-static)" in done.stderr


def _model_file(tmp_path: Path, vllm: dict[str, object]) -> Path:
    path = tmp_path / "mine.yaml"
    recipe = {"min_version": "0.32.0", "parallelism": "dp", **vllm}
    path.write_text(yaml.safe_dump({"extends": "tiny", "name": "mine", "engines": {"vllm": recipe}}))
    return path


def _plan(path: Path, *more: str) -> tuple[int, str, str]:
    done = cli("plan", "mine", "--gpu", "H100-80G", "--model-file", str(path), *more)
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize(
    ("vllm", "says"),
    [({"args": ["--tensor-parallel-size", "4"]}, "model 'mine', vllm '--tensor-parallel-size' would change"),
     ({"args": ["--port", "1"]}, "(--port)"),
     ({"args": ["--api-key=abc"]}, "(--api-key)"),
     ({"args": ["--tensor-parallel", "2"]}, "(--tensor-parallel)"),  # argparse's prefix of --tensor-parallel-size
     ({"env": {"VLLM_API_KEY": "mine"}}, "sets VLLM_API_KEY, which lc-cluster sets for the job itself"),
     ({"env": {"NCCL_SOCKET_IFNAME": "eth9"}}, "sets NCCL_SOCKET_IFNAME"),
     ({"env": {"LC_JOB_DIR": "/tmp"}}, "sets LC_JOB_DIR"),
     ({"pd": {"decode": {"args": ["--kv-transfer-config", "{}"]}}}, "model 'mine', vllm.pd.decode '--kv-transfer"),
     ({"pd": {"env": {"VLLM_NIXL_SIDE_CHANNEL_PORT": "1"}}}, "model 'mine', vllm.pd sets VLLM_NIXL_SIDE_CHANNEL"),
     ({"env": {"PATH=/tmp/x:": "y"}}, "'PATH=/tmp/x:' is not an environment variable name"),
     ({"env": {"X\n": "y"}}, "is not an environment variable name"),
     ({"min_version": "latest"}, "'latest' is not a release number such as 0.22.0")],
)  # fmt: skip
def test_a_model_file_is_held_to_the_same_guard(tmp_path: Path, vllm: dict[str, object], says: str) -> None:
    code, _, err = _plan(_model_file(tmp_path, vllm))
    assert code == 2 and says in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_model_file_may_add_what_the_plan_leaves_open(tmp_path: Path) -> None:
    added = {"args": ["--max-num-seqs", "8", "--dtype", "float32"], "env": {"VLLM_LOG_STATS_INTERVAL": "1"}}
    code, out, err = _plan(_model_file(tmp_path, added), "--json")
    assert code == 0, err
    process = json.loads(out)["processes"][0]
    argv = process["argv"]
    assert argv[argv.index("--max-num-seqs") + 1] == "8"
    assert process["env"]["VLLM_LOG_STATS_INTERVAL"] == "1"


def test_the_catalog_and_its_fixes_pass_the_guard() -> None:
    """The shipped recipes and quirk fixes are sources like any other: every model plans on each of its engines."""
    models = json.loads(cli("models", "--json").stdout)["models"]
    for model in models:
        for engine in model["engines"]:
            done = cli("plan", model["name"], "--gpu", "H200", "--engine", engine, "--nodes", "2")
            assert "would change what lc-cluster plans" not in done.stderr, done.stderr
            assert "which lc-cluster sets for the job itself" not in done.stderr, done.stderr


@pytest.mark.parametrize(
    ("extra", "key"),
    [({"ready_timeout_s": 1e20}, "ready_timeout_s"), ({"ready_timeout_s": True}, "ready_timeout_s"),
     ({"trust_remote_code": "yes"}, "trust_remote_code"), ({"name": "m" * 5000}, "name")],
)  # fmt: skip
def test_model_files_are_strict(tmp_path: Path, extra: dict[str, object], key: str) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump({"extends": "tiny", "name": "mine", **extra}))
    done = cli("models", "--model-file", str(path))
    assert done.returncode == 2 and f"'{key}'" in done.stderr, done.stderr
