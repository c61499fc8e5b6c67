"""The batch script for each container runtime, and the checks that run before anything is submitted."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from lc_cluster.cluster import ClusterFile
from lc_cluster.deployment import Asked, deploy, resolve
from lc_cluster.errors import LcError
from lc_cluster.jobs.job import build_job
from tests.conftest import cli


def cluster(**changes: Any) -> ClusterFile:
    doc: dict[str, Any] = {"name": "t", "gpu": "H800-80G", "gpus_per_node": 8, "paths": {"log_dir": "/shared/logs"}}
    doc.update(changes)
    return ClusterFile.model_validate(doc)


def batch_script(spec: ClusterFile, **asked: Any) -> str:
    """The script of longcat-flash-chat on 2 nodes of the given cluster, with any other plan options."""
    deployment = deploy(resolve(Asked(model="longcat-flash-chat", nodes=2, **asked), spec))
    return build_job(deployment, spec).script


def render(spec: ClusterFile, **asked: Any) -> str:
    script = batch_script(spec, **asked)
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)
    return script


def test_host_runtime_puts_the_engine_venv_first_and_reads_ranks_per_task() -> None:
    script = render(cluster(runtime={"engine_venvs": {"vllm": "/opt/vllm"}}, network={"service_interface": "ib0"}))
    assert "LC_BIN=/opt/vllm/bin" in script
    # Only the engine's own process gets the venv first on PATH: the node tools (records, the log filter) must run
    # with the node's python3, not whatever python3 an engine venv holds.
    assert script.count("export PATH") == 1
    run = script.split("lc_run() {")[1].split("\n}\n")[0]
    assert 'export PATH="$LC_BIN:$PATH"' in run.split("exec setsid")[0].split("(\n")[1]
    assert "--kill-on-bad-exit=1" in script
    # The rank is looked up inside lc_node, which srun runs on each node, not in the batch shell.
    body = script.split("lc_node() {")[1].split("\n}\n")[0]
    assert "SLURMD_NODENAME" in body and "lc ip ib0" in body
    assert "SLURM_NODEID" not in script.split("lc_node() {")[0]


def test_docker_runtime_uses_host_network_ipc_and_unlimited_memlock() -> None:
    script = render(cluster(runtime={"kind": "docker", "image": "vllm/vllm-openai:v0.11.0", "mounts": ["/m:/m"]}))
    line = next(ln for ln in script.splitlines() if ln.strip().startswith("exec setsid"))
    for part in ("docker run --rm", "--network host", "--ipc host", "--ulimit memlock=-1:-1", "--gpus all",
                 "-v /m:/m", '-v "${LC_JOB_DIR}":"${LC_JOB_DIR}"', "-e VLLM_HOST_IP", "-e VLLM_API_KEY",
                 "vllm/vllm-openai:v0.11.0"):  # fmt: skip
        assert part in line
    assert "docker rm -f" in script


def test_pyxis_runtime_gives_srun_the_image_and_mounts() -> None:
    script = render(cluster(runtime={"kind": "pyxis", "image": "nvcr.io#vllm:1", "mounts": ["/a:/a", "/b:/b"]}))
    step = next(ln for ln in script.splitlines() if "--kill-on-bad-exit=1" in ln)
    assert "--container-image=nvcr.io#vllm:1" in step
    assert '--container-mounts=/a:/a,/b:/b,"${LC_JOB_DIR}":"${LC_JOB_DIR}"' in step


def test_apptainer_runtime_runs_the_engine_with_gpus() -> None:
    script = render(cluster(runtime={"kind": "apptainer", "image": "/images/vllm.sif", "mounts": ["/m:/m"]}))
    assert 'apptainer exec --nv --bind /m:/m --bind "${LC_JOB_DIR}":"${LC_JOB_DIR}" /images/vllm.sif' in script


def test_containers_need_an_image() -> None:
    with pytest.raises(LcError, match=r"needs runtime\.image"):
        batch_script(cluster(runtime={"kind": "docker"}))


def test_engine_args_may_not_rewire_the_layout() -> None:
    for arg in ("--data-parallel-size=4", "--headless", "--tensor-parallel-size", "--data-parallel-rank=1",
                "-dpl=2", "-dpa", "--tensor-parallel=4", "--data_parallel_size=2", "--host=0.0.0.0"):  # fmt: skip
        with pytest.raises(LcError, match="would change what lc-cluster plans"):
            batch_script(cluster(), engine_args=(arg,))


def test_cluster_env_may_not_override_per_node_settings() -> None:
    with pytest.raises(LcError, match="VLLM_HOST_IP"):
        batch_script(cluster(runtime={"env": {"VLLM_HOST_IP": "1.2.3.4"}}))


def test_sbatch_options_come_from_the_cluster_file() -> None:
    spec = cluster(slurm={"partition": "gpu", "account": "llm", "qos": "high", "time_limit": "4:00:00",
                          "extra_sbatch": ["--constraint=h800"]})  # fmt: skip
    script = render(spec, ready_timeout_s=77)
    for line in ("#SBATCH --partition=gpu", "#SBATCH --account=llm", "#SBATCH --qos=high", "#SBATCH --constraint=h800",
                 "#SBATCH --time=4:00:00", "#SBATCH --nodes=2", "#SBATCH --gres=gpu:8"):  # fmt: skip
        assert line in script.splitlines()
    assert 'wait-ready 77 "$step" http://127.0.0.1:8000/health' in script


def test_a_job_takes_whole_nodes_also_on_some_of_their_gpus() -> None:
    """Two jobs on one node would both listen on the planned ports (HTTP 8000, DP RPC 13345, router metrics 29000)."""
    spec = cluster()
    script = build_job(deploy(resolve(Asked(model="tiny", gpus_per_node=4), spec)), spec).script
    # sbatch reads #SBATCH lines up to the first command.
    header = script.split("\nset -uo pipefail\n")[0].splitlines()
    assert "#SBATCH --exclusive" in header and "#SBATCH --gres=gpu:4" in header


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"paths": {"log_dir": "/shared/my logs"}}, "'paths.log_dir'"),
        ({"paths": {"log_dir": "relative/logs"}}, "'paths.log_dir'"),
        ({"slurm": {"partition": "gpu;reboot"}}, "'slurm.partition'"),
        ({"slurm": {"extra_sbatch": ["--wrap=reboot now"]}}, "'slurm.extra_sbatch'"),
        ({"slurm": {"extra_sbatch": ["--constraint=h800", "--nodes=64"]}}, "(--nodes): use serve's --nodes"),
        ({"slurm": {"extra_sbatch": ["--nod=64"]}}, "would change what lc-cluster sets (--nodes)"),
        ({"slurm": {"extra_sbatch": ["--time=9-00:00:00"]}}, "(--time): use slurm.time_limit"),
        ({"slurm": {"extra_sbatch": ["--output=/tmp/x"]}}, "(--output): use paths.log_dir"),
        ({"slurm": {"extra_sbatch": ["--export=NONE"]}}, "(--export): lc-cluster sets it from the plan"),
        ({"slurm": {"extra_sbatch": ["--comment=x"]}}, "(--comment)"),
        ({"runtime": {"env": {"BAD-NAME": "x"}}}, "'runtime.env'"),
        ({"runtime": {"env": {"LC_API_KEY": "mine"}}}, "LC_API_KEY is the batch script's own"),
        # Strict: YAML's true is not a count, "off" not a switch, other scripts' digits not Slurm's.
        ({"gpus_per_node": True}, "'gpus_per_node': Input should be a valid integer"),
        ({"gpus_per_node": "8"}, "'gpus_per_node'"),
        ({"paths": {"log_dir": "/shared/logs", "offline": "off"}}, "'paths.offline'"),
        ({"slurm": {"time_limit": "\uff14:00:00"}}, "'slurm.time_limit'"),
        ({"network": {"ib_hca": "mlx5_0:\uff11"}}, "'network.ib_hca'"),
        ({"slurm": {"partition": "p" * 5000}}, "'slurm.partition'"),
        ({"runtime": {"env": {"SLURM_JOB_ID": "1"}}}, "'runtime.env'"),
        ({"slurm": {"partiton": "gpu"}}, "did you mean 'partition'"),
    ],
)
def test_bad_cluster_files_are_refused_with_the_key(tmp_path: Path, changes: dict[str, Any], message: str) -> None:
    doc = {"name": "t", "gpu": "H800-80G", "gpus_per_node": 8, "paths": {"log_dir": "/shared/logs"}, **changes}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(doc))
    result = cli("serve", "longcat-flash-chat", "--cluster", str(path), "--nodes", "2", "--dry-run")
    assert result.returncode == 2
    assert message in result.stderr


def test_init_writes_a_cluster_file_that_loads_and_dry_run_prints_the_script(tmp_path: Path) -> None:
    env_home = {"LC_CLUSTER_HOME": str(tmp_path)}
    done = subprocess.run(["python3", "-m", "lc_cluster", "init", "--name", "prod"], capture_output=True, text=True,
                          env={**__import__("os").environ, **env_home}, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    path = tmp_path / "clusters" / "prod.yaml"
    again = subprocess.run(["python3", "-m", "lc_cluster", "init", "--name", "prod"], capture_output=True, text=True,
                           env={**__import__("os").environ, **env_home}, check=False)  # fmt: skip
    assert again.returncode == 2 and "--force" in again.stderr
    dry = cli("serve", "longcat-flash-chat", "--cluster", str(path), "--nodes", "2", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith("#!/bin/bash") and "#SBATCH --partition=gpu" in dry.stdout
    # Exact names: NCCL would take mlx5_1 as a prefix of mlx5_10 too.
    assert "NCCL_IB_HCA==mlx5_0,mlx5_1,mlx5_2,mlx5_3" in dry.stdout


# The DeepSeek-V4-Flash recipe's single-node PD on 8 x H200, as its docker commands run it.
PD_RECIPE = {"model": "deepseek-v4-flash", "gpu": "H200", "kv_connector": "mooncake", "prefill": "gpus=4,dp=4",
             "decode": "gpus=4,dp=4"}  # fmt: skip
HF_CACHE = "/root/.cache/huggingface:/root/.cache/huggingface"
RECIPE_IMAGE = "vllm/vllm-openai:deepseekv4-cu130"


def _pd_script(runtime: dict[str, Any]) -> str:
    spec = cluster(gpu="H200-141G", runtime=runtime)
    deployment = deploy(resolve(Asked(**PD_RECIPE), spec))
    script = build_job(deployment, spec).script
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)
    return script


def test_the_pd_recipe_in_docker_has_the_recipes_container_flags() -> None:
    """The recipe's `docker run --gpus all --privileged --ipc=host --network host -v HF_CACHE IMAGE`, with the
    engine's argv exactly as planned (the image's `vllm serve` entrypoint cleared) and every process's environment
    passed by name (the values stay out of the process list)."""
    script = _pd_script({"kind": "docker", "image": RECIPE_IMAGE, "mounts": [HF_CACHE]})
    line = next(ln for ln in script.splitlines() if ln.strip().startswith("exec setsid docker"))
    words = line.split()
    for flags in (["--gpus", "all"], ["--privileged"], ["--ipc", "host"], ["--network", "host"],
                  ["-v", HF_CACHE], ["--entrypoint", "''"]):  # fmt: skip
        assert any(words[i : i + len(flags)] == flags for i in range(len(words))), flags
    assert words[-2:] == [RECIPE_IMAGE, '"${argv[@]}"']
    for name in ("VLLM_MOONCAKE_BOOTSTRAP_PORT", "CUDA_VISIBLE_DEVICES", "VLLM_ENGINE_READY_TIMEOUT_S"):
        assert f"-e {name} " in line
    # Each instance's argv starts with the engine's own command, which the cleared entrypoint lets run as written.
    for role in ("prefill0.node-0", "decode0.node-0"):
        start = next(ln for ln in script.splitlines() if ln.strip().startswith(f"lc_run {role} "))
        assert " vllm serve deepseek-ai/DeepSeek-V4-Flash " in start


def test_only_pd_jobs_run_privileged() -> None:
    serve = render(cluster(runtime={"kind": "docker", "image": RECIPE_IMAGE}))
    assert "--privileged" not in serve and "--entrypoint ''" in serve


def test_the_pd_recipe_under_pyxis_and_apptainer() -> None:
    pyxis = _pd_script({"kind": "pyxis", "image": "vllm/vllm-openai:deepseekv4-cu130"})
    step = next(ln for ln in pyxis.splitlines() if "--kill-on-bad-exit=1" in ln)
    assert f"--container-image={RECIPE_IMAGE}" in step
    apptainer = _pd_script({"kind": "apptainer", "image": "/images/vllm-deepseekv4-cu130.sif"})
    assert "apptainer exec --nv" in apptainer and "/images/vllm-deepseekv4-cu130.sif" in apptainer
