"""The batch script for one serving job: a deployment plus the cluster file's settings. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lc_cluster import __version__
from lc_cluster.cluster import ClusterFile
from lc_cluster.deployment import Deployment
from lc_cluster.engines import get_engine
from lc_cluster.errors import LcError
from lc_cluster.templates import render

_TOOLS = Path(__file__).with_name("node_tools.py")
_JOB_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class ServeOptions:
    engine_args: tuple[str, ...] = ()
    ready_timeout_s: int | None = None
    """Overrides the plan's start-up deadline."""


def job_name(deployment: Deployment) -> str:
    return "lc-" + _JOB_NAME.sub("-", deployment.plan.model.name)[:60]


def check_engine_args(deployment: Deployment, engine_args: tuple[str, ...]) -> None:
    """Extra engine arguments may add to the command, never change the layout lc-cluster wired."""
    engine = get_engine(deployment.plan.engine)
    planned = {a for c in deployment.commands for a in c.argv if a.startswith("-")}
    for arg in engine_args:
        flag = arg.split("=", 1)[0]
        if flag in planned or flag.replace("_", "-") in engine.managed_flags:
            raise LcError(
                f"--engine-arg {arg!r} would change what lc-cluster plans ({flag}): use the plan options "
                "(--tp, --dp, --ep, --pp, --port, --mtp) instead"
            )


def node_env(deployment: Deployment, cluster: ClusterFile) -> list[dict[str, str]]:
    extra: dict[str, str] = {}
    if cluster.paths.model_cache:
        extra["HF_HOME"] = cluster.paths.model_cache
    if cluster.paths.offline:
        extra["HF_HUB_OFFLINE"] = "1"
    extra.update(cluster.runtime.env)
    envs = []
    for command in deployment.commands:
        clash = sorted(set(extra) & set(command.env))
        if clash:
            raise LcError(
                f"runtime.env sets {', '.join(clash)}, which lc-cluster sets per node from the plan: "
                "remove it from the cluster file"
            )
        envs.append({**command.env, **extra})
    return envs


def _runtime(cluster: ClusterFile, engine: str, env_keys: list[str]) -> dict[str, Any]:
    runtime = cluster.runtime
    if runtime.kind != "host" and not runtime.image:
        raise LcError(f"runtime.kind {runtime.kind} needs runtime.image in the cluster file")
    venv = runtime.engine_venvs.get(engine)  # type: ignore[call-overload]
    parts: dict[str, Any] = {
        "venv_bin": f"{venv}/bin" if runtime.kind == "host" and venv else None,
        "prefix": [],
        "srun_extra": [],
        "cleanup": ["true"],
    }
    if runtime.kind == "apptainer":
        binds = [a for m in runtime.mounts for a in ("--bind", m)]
        parts["prefix"] = ["apptainer", "exec", "--nv", *binds, runtime.image]
    elif runtime.kind == "docker":
        name = "lc-${SLURM_JOB_ID}-${NODE_INDEX}"
        volumes = [a for m in runtime.mounts for a in ("-v", m)]
        passed = [a for k in [*env_keys, "LC_CLUSTER_JOB"] for a in ("-e", k)]
        # Host network and IPC (NCCL needs a large /dev/shm), RDMA needs unlimited locked memory.
        parts["prefix"] = [
            "docker", "run", "--rm", "--name", name, "--network", "host", "--ipc", "host",
            "--ulimit", "memlock=-1:-1", "--gpus", "all", *volumes, *passed, runtime.image,
        ]  # fmt: skip
        # Killing the docker client does not stop its container.
        parts["cleanup"] = ["docker", "rm", "-f", name]
    elif runtime.kind == "pyxis":
        extra = [f"--container-image={runtime.image}"]
        if runtime.mounts:
            extra.append("--container-mounts=" + ",".join(runtime.mounts))
        parts["srun_extra"] = extra
    return parts


def batch_script(deployment: Deployment, cluster: ClusterFile, options: ServeOptions) -> str:
    plan = deployment.plan
    check_engine_args(deployment, options.engine_args)
    envs = node_env(deployment, cluster)
    bind = plan.request.bind
    # Polled on the head, from the batch shell: the loopback address works unless the server binds one address.
    poll_host = bind if bind not in (None, "0.0.0.0") else "127.0.0.1"
    if poll_host == "${NODE_IP}":
        poll_host = "${HEAD_IP}"
    summary = (
        f"{plan.model.name} on {plan.layout.nodes} x {plan.layout.gpus_per_node} x {plan.gpu.name} "
        f"with {plan.engine} {plan.engine_version} ({plan.layout.describe()})"
    )
    return render(
        "serve.sbatch.j2",
        version=__version__,
        summary=summary,
        job_name=job_name(deployment),
        gpus_per_node=plan.layout.gpus_per_node,
        time_limit=cluster.slurm.time_limit,
        log_dir=cluster.paths.log_dir,
        partition=cluster.slurm.partition,
        account=cluster.slurm.account,
        qos=cluster.slurm.qos,
        extra_sbatch=cluster.slurm.extra_sbatch,
        tools=_TOOLS.read_text(),
        interface=cluster.network.service_interface or "",
        nodes=[
            {"index": c.index, "argv": c.argv, "env": [f"{k}={v}" for k, v in env.items()]}
            for c, env in zip(deployment.commands, envs, strict=True)
        ],
        engine_args=options.engine_args,
        ready_url=f"http://{poll_host}:{plan.http_port}{plan.ready_path}",
        ready_timeout_s=options.ready_timeout_s or plan.ready_timeout_s,
        http_port=plan.http_port,
        **_runtime(cluster, plan.engine, sorted(envs[0])),
    )
