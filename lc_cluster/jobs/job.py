"""The job value: a deployment and the cluster file it runs on, resolved once into every node's environment and the
batch script. `plan --cluster`, `serve --dry-run` and `serve` print or submit this one value. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lc_cluster import __version__
from lc_cluster.cluster import ClusterFile, load_cluster
from lc_cluster.deployment import Asked, Deployment, deploy, resolve
from lc_cluster.engines.base import API_KEY_CONFIG
from lc_cluster.errors import LcError
from lc_cluster.jobs.node_tools import Phase
from lc_cluster.planning import Plan
from lc_cluster.rendering import render

_TOOLS = Path(__file__).with_name("node_tools.py")
_JOB_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_JOB_DIR = "${LC_JOB_DIR}"


@dataclass(frozen=True)
class Job:
    deployment: Deployment
    cluster: ClusterFile
    name: str
    """Slurm's job name."""
    node_env: tuple[dict[str, str], ...]
    """Each node's whole engine environment: the plan's and the cluster file's."""
    script: str

    def as_dict(self, *, script: bool = False) -> dict[str, Any]:
        doc = self.deployment.as_dict()
        for node, env in zip(doc["nodes"], self.node_env, strict=True):
            node["env"] = dict(env)
        doc["cluster"] = {"name": self.cluster.name, "file": str(self.cluster.source)}
        doc["job_name"] = self.name
        if script:
            doc["script"] = self.script
        return doc


def prepare(asked: Asked, cluster_ref: str | None) -> Job:
    """Everything `serve` checks before it submits: cluster file, model, layout, memory, ports, engine arguments."""
    cluster = load_cluster(cluster_ref)
    return build_job(deploy(resolve(asked, cluster)), cluster)


def build_job(deployment: Deployment, cluster: ClusterFile) -> Job:
    plan = deployment.plan
    envs = tuple(_node_env(deployment, cluster))
    name = "lc-" + _JOB_NAME.sub("-", plan.model.name)[:60]
    summary = (
        f"{plan.model.name} on {plan.layout.nodes} x {plan.layout.gpus_per_node} x {plan.gpu.name} "
        f"with {plan.engine} {plan.engine_version} ({plan.layout.describe()})"
    )
    script = render(
        "serve.sbatch.j2",
        version=__version__,
        summary=summary,
        job_name=name,
        phase=Phase,
        gpus_per_node=plan.layout.gpus_per_node,
        time_limit=cluster.slurm.time_limit,
        log_dir=cluster.paths.log_dir,
        umask=f"{cluster.paths.umask:04o}",
        partition=cluster.slurm.partition,
        account=cluster.slurm.account,
        qos=cluster.slurm.qos,
        extra_sbatch=cluster.slurm.extra_sbatch,
        tools=_TOOLS.read_text(),
        interface=cluster.network.service_interface or "",
        nodes=[
            {
                "index": c.index,
                "argv": c.argv,
                "literal_args": c.literal_args,
                "env": [f"{k}={v}" for k, v in e.items()],
            }
            for c, e in zip(deployment.commands, envs, strict=True)
        ],
        ready_url=_ready_url(plan),
        ready_timeout_s=plan.ready_timeout_s,
        http_port=plan.http_port,
        api_key=plan.api_key,
        api_key_file=any(API_KEY_CONFIG in c.argv for c in deployment.commands),
        **_runtime(cluster, plan.engine, sorted(envs[0])),
    )
    return Job(deployment=deployment, cluster=cluster, name=name, node_env=envs, script=script)


def _ready_url(plan: Plan) -> str:
    """Polled on the head, from the batch shell: loopback works unless the server binds one address."""
    bind = plan.request.bind
    host = bind if bind not in (None, "0.0.0.0") else "127.0.0.1"
    if host == "${NODE_IP}":
        host = "${HEAD_IP}"
    return f"http://{host}:{plan.http_port}{plan.ready_path}"


def _node_env(deployment: Deployment, cluster: ClusterFile) -> list[dict[str, str]]:
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
    # Containers see the job's own folder at the same path: engines read files the job writes there (api-key.yaml).
    mounts = [*runtime.mounts, f"{_JOB_DIR}:{_JOB_DIR}"]
    if runtime.kind == "apptainer":
        binds = [a for m in mounts for a in ("--bind", m)]
        parts["prefix"] = ["apptainer", "exec", "--nv", *binds, runtime.image]
    elif runtime.kind == "docker":
        name = "lc-${SLURM_JOB_ID}-${NODE_INDEX}"
        volumes = [a for m in mounts for a in ("-v", m)]
        passed = [a for k in [*env_keys, "LC_CLUSTER_JOB"] for a in ("-e", k)]
        # Host network and IPC (NCCL needs a large /dev/shm), RDMA needs unlimited locked memory.
        parts["prefix"] = [
            "docker", "run", "--rm", "--name", name, "--network", "host", "--ipc", "host",
            "--ulimit", "memlock=-1:-1", "--gpus", "all", *volumes, *passed, runtime.image,
        ]  # fmt: skip
        # Killing the docker client does not stop its container.
        parts["cleanup"] = ["docker", "rm", "-f", name]
    elif runtime.kind == "pyxis":
        parts["srun_extra"] = [f"--container-image={runtime.image}", "--container-mounts=" + ",".join(mounts)]
    return parts
