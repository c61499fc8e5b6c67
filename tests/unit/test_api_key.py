"""The per-job API key: planned where the engine can take it outside argv, never in argv, records or logs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lc_cluster.jobs import node_tools
from tests.conftest import cli, plan_json

SGLANG = ("longcat-flash-chat-fp8", "-e", "sglang", "--gpu", "H20-141G")
KEY = "lck-0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"


def test_vllm_takes_the_key_from_its_environment_by_default() -> None:
    doc = plan_json("tiny", "--gpu", "H100-80G")
    assert doc["api_key"] is True
    node = doc["processes"][0]
    assert node["env"]["VLLM_API_KEY"] == "${LC_API_KEY}"
    assert not any("api-key" in arg or "api_key" in arg for arg in node["argv"])


def test_sglang_reads_the_key_from_a_private_config_file_where_its_release_can() -> None:
    argv = plan_json(*SGLANG)["processes"][0]["argv"]
    assert argv[argv.index("--config") + 1] == "${LC_JOB_DIR}/api-key.yaml"
    old = plan_json(*SGLANG, "--engine-version", "0.5.2")
    assert old["api_key"] is False and "--config" not in old["processes"][0]["argv"]


def test_a_key_asked_for_where_only_argv_could_carry_it_is_refused() -> None:
    done = cli("plan", *SGLANG, "--engine-version", "0.5.2", "--api-key")
    assert done.returncode == 2
    assert "--engine-version 0.5.3 or newer, or --no-api-key" in done.stderr


def test_no_api_key_leaves_the_server_open() -> None:
    doc = plan_json("tiny", "--gpu", "H100-80G", "--no-api-key")
    assert doc["api_key"] is False and "VLLM_API_KEY" not in doc["processes"][0]["env"]


@pytest.mark.parametrize("arg", ["--api-key=secret", "--api_key", "--config=x.yaml"])
def test_engine_args_may_not_carry_a_key_or_replace_the_config(arg: str) -> None:
    model = SGLANG if arg.startswith("--config") else ("tiny", "--gpu", "H100-80G")
    done = cli("plan", *model, f"--engine-arg={arg}")
    assert done.returncode == 2 and "would change what lc-cluster plans" in done.stderr


def test_the_record_of_a_node_shows_the_key_as_its_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LC_API_KEY", KEY)
    path = tmp_path / "node-0.cmd.json"
    node_tools.record(
        str(path), "0", "10.0.0.1", "serve", "0", "1", "0", f"VLLM_API_KEY={KEY}", "vllm", "serve", f"--x={KEY}"
    )
    text = path.read_text()
    assert KEY not in text
    assert json.loads(text)["env"]["VLLM_API_KEY"] == "${LC_API_KEY}"


def test_the_log_filter_hides_the_key_even_split_over_reads(tmp_path: Path) -> None:
    log = tmp_path / "node-0.log"
    script = (
        "import os, sys, time\n"
        f"key = {KEY!r}\n"
        "for part in ('server_args=ServerArgs(api_key=\\'' + key[:10], key[10:] + '\\')\\n', 'done ' + key):\n"
        "    os.write(1, part.encode()); time.sleep(0.2)\n"
    )
    writer = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    subprocess.run(
        [sys.executable, str(Path(node_tools.__file__)), "redact", str(log)],
        stdin=writer.stdout, env={**os.environ, "LC_API_KEY": KEY}, check=True, timeout=30,
    )  # fmt: skip
    writer.wait(timeout=30)
    assert log.read_text() == "server_args=ServerArgs(api_key='${LC_API_KEY}')\ndone ${LC_API_KEY}"


TOKEN = "hf_0123456789abcdefSECRET"


def _token_cluster(tmp_path: Path) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(
        "name: t\ngpu: H100-80G\ngpus_per_node: 8\npaths: {log_dir: /shared/logs}\n"
        f"runtime: {{env: {{HF_TOKEN: {TOKEN}, Wandb_Api_Key: w-{TOKEN}, TOKENIZERS_PARALLELISM: 'false'}}}}\n"
    )
    return path


def test_runtime_env_secrets_are_named_in_every_output_and_plain_values_kept(tmp_path: Path) -> None:
    cluster = str(_token_cluster(tmp_path))
    for args in (("plan", "--json"), ("plan",), ("serve", "--dry-run"), ("serve", "--dry-run", "--json")):
        done = cli(args[0], "tiny", "-c", cluster, *args[1:])
        assert done.returncode == 0, done.stderr
        assert TOKEN not in done.stdout + done.stderr, args
    env = json.loads(cli("plan", "tiny", "-c", cluster, "--json").stdout)["processes"][0]["env"]
    assert env["HF_TOKEN"] == "${LC_SECRET_HF_TOKEN}" and env["Wandb_Api_Key"] == "${LC_SECRET_Wandb_Api_Key}"
    assert env["TOKENIZERS_PARALLELISM"] == "false"


def test_the_job_gets_its_secrets_only_in_sbatch_environment(tmp_path: Path) -> None:
    from lc_cluster.cluster import load_cluster
    from lc_cluster.deployment import Asked, deploy, resolve
    from lc_cluster.jobs.job import build_job, job_secrets

    spec = load_cluster(str(_token_cluster(tmp_path)))
    assert job_secrets(spec) == {"LC_SECRET_HF_TOKEN": TOKEN, "LC_SECRET_Wandb_Api_Key": f"w-{TOKEN}"}
    job = build_job(deploy(resolve(Asked(model="tiny"), spec)), spec)
    assert TOKEN not in job.script and "${LC_SECRET_HF_TOKEN}" in job.script
    assert TOKEN not in json.dumps(job.as_dict(script=True))


@pytest.mark.parametrize("name", ["HF_TOKEN", "OPENAI_API_KEY", "DB_PASSWORD", "GITHUB_PAT", "X_JWT", "KEY", "A_PWD"])
def test_secret_looking_names(name: str) -> None:
    from lc_cluster import validate

    assert validate.SECRET_ENV.fullmatch(name)


@pytest.mark.parametrize("name", ["TOKENIZERS_PARALLELISM", "NCCL_IB_PKEY", "HF_HOME", "VLLM_USE_V1", "PATH"])
def test_names_that_are_not_secrets(name: str) -> None:
    from lc_cluster import validate

    assert not validate.SECRET_ENV.fullmatch(name)


def test_the_record_and_the_log_hide_runtime_env_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LC_SECRET_HF_TOKEN", TOKEN)
    monkeypatch.setenv("LC_API_KEY", KEY)
    path = tmp_path / "node-0.cmd.json"
    node_tools.record(str(path), "0", "10.0.0.1", "serve", "0", "1", "0", f"HF_TOKEN={TOKEN}", "vllm", f"--k={KEY}")
    text = path.read_text()
    assert TOKEN not in text and KEY not in text
    assert json.loads(text)["env"]["HF_TOKEN"] == "${LC_SECRET_HF_TOKEN}"
    log = tmp_path / "node-0.log"
    tool = [sys.executable, str(Path(node_tools.__file__)), "redact", str(log)]
    subprocess.run(tool, input=f"t={TOKEN} k={KEY}".encode(), check=True, timeout=30)
    assert log.read_text() == "t=${LC_SECRET_HF_TOKEN} k=${LC_API_KEY}"
