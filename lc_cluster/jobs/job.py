"""The job value: a deployment and the cluster file it runs on, resolved once into every node's environment and the
batch script. `plan --cluster`, `serve --dry-run` and `serve` print or submit this one value. Pure."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lc_cluster import __version__, validate
from lc_cluster.cluster import ClusterFile, load_cluster
from lc_cluster.deployment import Asked, Deployment, Process, deploy, resolve
from lc_cluster.engines.base import HEAD_IP, NODE_IP, ip_of_node, reads_key_file
from lc_cluster.errors import LcError
from lc_cluster.jobs.node_tools import Phase
from lc_cluster.rendering import SECRET_PREFIX, render
from lc_cluster.routers import METRICS_PORT, ROUTER_READY_PATH

TOOLS = Path(__file__).with_name("node_tools.py")
_JOB_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_JOB_DIR = "${LC_JOB_DIR}"


@dataclass(frozen=True)
class Job:
    deployment: Deployment
    cluster: ClusterFile
    name: str
    """Slurm's job name."""
    process_env: tuple[dict[str, str], ...]
    """Each process's whole environment (the plan's and the cluster file's), in the deployment's process order."""
    script: str
    scrape: list[dict[str, Any]]
    """Prometheus file_sd target groups: each engine head that serves /metrics, and the router's metrics port."""

    def as_dict(self, *, script: bool = False) -> dict[str, Any]:
        doc = self.deployment.as_dict()
        for process, env in zip(doc["processes"], self.process_env, strict=True):
            process["env"] = dict(env)
            process["derived"] = left_to_node(process["derived"], env)
        doc["cluster"] = {"name": self.cluster.name, "file": str(self.cluster.source)}
        doc["job_name"] = self.name
        doc["metrics"] = self.scrape
        if script:
            doc["script"] = self.script
        return doc


def prepare(asked: Asked, cluster_ref: str | None, exclude: str | None = None) -> Job:
    """Everything `serve` checks before it submits: cluster file, model, layout, memory, ports, engine arguments, and
    the nodes to leave out (a Slurm node list, e.g. what `doctor` found failing)."""
    validate.hostnames("--exclude", exclude)
    cluster = load_cluster(cluster_ref)
    return build_job(deploy(resolve(asked, cluster)), cluster, exclude)


def build_job(deployment: Deployment, cluster: ClusterFile, exclude: str | None = None) -> Job:
    plan = deployment.plan
    processes = deployment.processes
    envs = tuple(_process_env(p, cluster) for p in processes)
    name = "lc-" + _JOB_NAME.sub("-", plan.model.name)[:60]
    instances = f"{len(deployment.instances)} x " if len(deployment.instances) > 1 else ""
    summary = (
        f"{plan.model.name} on {deployment.nodes} x {deployment.gpus_per_node} x {plan.gpu.name} "
        f"with {plan.engine} {plan.engine_version} ({instances}{plan.layout.describe()})"
    )
    nodes: list[dict[str, Any]] = [{"index": i, "processes": []} for i in range(deployment.nodes)]
    router = None
    for process, env in zip(processes, envs, strict=True):
        entry = {
            "name": process.name,
            "role": process.role,
            "instance": process.instance,
            "argv": process.command.argv,
            "literal_args": process.command.literal_args,
            "env": [f"{k}={v}" for k, v in env.items()],
            "derived": ",".join(left_to_node(process.command.derived, env)),
        }
        if process.role == "router":
            router = {**entry, "url": f"http://${{HEAD_IP}}:{process.port}{ROUTER_READY_PATH}"}
        else:
            nodes[process.node]["processes"].append(entry)
    router_venv = cluster.runtime.router_venv
    # What a container must be given by name (docker -e NAME): every engine process's environment.
    engine_env_names = sorted({k for p, e in zip(processes, envs, strict=True) if p.role != "router" for k in e})
    scrape = scrape_targets(deployment, name)
    script = render(
        "serve.sbatch.j2",
        version=__version__,
        summary=summary,
        job_name=name,
        phase=Phase,
        gpus_per_node=deployment.gpus_per_node,
        time_limit=cluster.slurm.time_limit,
        log_dir=cluster.paths.log_dir,
        umask=f"{cluster.paths.umask:04o}",
        partition=cluster.slurm.partition,
        account=cluster.slurm.account,
        qos=cluster.slurm.qos,
        extra_sbatch=[*cluster.slurm.extra_sbatch, *([f"--exclude={exclude}"] if exclude else [])],
        tools=TOOLS.read_text(),
        interface=cluster.network.service_interface or "",
        node_facts=cluster.paths.node_facts,
        nodes=nodes,
        router=router,
        router_bin=f"{router_venv}/bin" if router_venv else None,
        # Another node's address is needed where an instance's head is not node 0, or a router names them all.
        node_ips=router is not None,
        ready_urls=_ready_urls(deployment),
        ready_timeout_s=plan.ready_timeout_s,
        router_timeout_s=_ROUTER_TIMEOUT_S,
        http_port=deployment.entry_port,
        scrape_json=json.dumps(scrape, sort_keys=True),
        scrape_dir=cluster.paths.scrape_dir,
        api_key=plan.api_key,
        api_key_file=any(reads_key_file(p.command.argv) for p in processes),
        **runtime_parts(
            cluster, plan.engine, engine_env_names, rdma=any(p.role in ("prefill", "decode") for p in processes)
        ),
    )
    return Job(deployment=deployment, cluster=cluster, name=name, process_env=envs, script=script, scrape=scrape)


def scrape_targets(deployment: Deployment, job_name: str) -> list[dict[str, Any]]:
    """Addresses as run-time placeholders (${HEAD_IP}, ${IP_OF_NODE_k}); the batch script fills them in."""
    plan = deployment.plan
    labels = {"lc_job_name": job_name, "model": plan.model.name, "engine": plan.engine}
    groups = [
        {"targets": [f"{ip_of_node(inst.first_node)}:{inst.plan.http_port}"],
         "labels": {**labels, "role": inst.role, "lc_instance": str(inst.index)}}
        for inst in deployment.instances
        if deployment.engine.exposes_metrics(inst.commands[0].full_argv)
    ]  # fmt: skip
    if deployment.router is not None:
        groups.append(
            {"targets": [f"{HEAD_IP}:{METRICS_PORT}"], "labels": {**labels, "role": "router", "lc_instance": "0"}}
        )
    return groups


# The router answers within seconds of starting, once it has checked its workers.
_ROUTER_TIMEOUT_S = 120


def _ready_urls(deployment: Deployment) -> list[str]:
    """Every instance head's health URL, polled from the batch shell on node 0: loopback for node 0's own instances
    unless the server binds one address."""
    urls = []
    for inst in deployment.instances:
        plan = inst.plan
        bind = plan.request.bind
        host = bind if bind not in (None, "0.0.0.0") else "127.0.0.1"
        if host == NODE_IP or (inst.first_node > 0):
            host = ip_of_node(inst.first_node)
        urls.append(f"http://{host}:{plan.http_port}{plan.ready_path}")
    return urls


def left_to_node(derived: Iterable[str], env: dict[str, str]) -> list[str]:
    """What the cluster file's runtime.env sets is pinned too: the node's facts decide only the rest."""
    return [d for d in derived if d not in env]


def job_secrets(cluster: ClusterFile) -> dict[str, str]:
    """The runtime.env values whose names say they are secrets, as LC_SECRET_<NAME>: the job gets them in sbatch's
    environment (Slurm keeps it private to the job's owner); the plan, the script and every record name them only."""
    return {
        f"{SECRET_PREFIX}{k}": v for k, v in cluster.runtime.env.items() if validate.SECRET_ENV.fullmatch(k.upper())
    }


def _process_env(process: Process, cluster: ClusterFile) -> dict[str, str]:
    if process.role == "router":
        return dict(process.env)
    extra: dict[str, str] = {}
    if cluster.paths.model_cache:
        extra["HF_HOME"] = cluster.paths.model_cache
    if cluster.paths.offline:
        extra["HF_HUB_OFFLINE"] = "1"
    secret = job_secrets(cluster)
    extra.update({k: f"${{{SECRET_PREFIX}{k}}}" if f"{SECRET_PREFIX}{k}" in secret else v
                  for k, v in cluster.runtime.env.items()})  # fmt: skip
    clash = sorted(set(extra) & set(process.env))
    if clash:
        raise LcError(
            f"runtime.env sets {', '.join(clash)}, which lc-cluster sets per node from the plan: "
            "remove it from the cluster file"
        )
    return {**process.env, **extra}


def runtime_parts(cluster: ClusterFile, engine: str, env_keys: list[str], rdma: bool = False) -> dict[str, Any]:
    """How processes run in the cluster's runtime. RDMA: they move KV caches between engines over the HCAs."""
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
        name = "lc-${SLURM_JOB_ID}-${LC_PROC}"
        volumes = [a for m in mounts for a in ("-v", m)]
        passed = [a for k in [*env_keys, "LC_CLUSTER_JOB"] for a in ("-e", k)]
        # Host network and IPC (NCCL needs a large /dev/shm), RDMA needs unlimited locked memory. The image's own
        # entrypoint (vllm/vllm-openai's is `vllm serve`) is cleared: the container runs exactly the planned argv.
        # A PD job's KV connector reaches the HCAs' devices: privileged, as the DeepSeek-V4-Flash recipe runs it.
        parts["prefix"] = [
            "docker", "run", "--rm", "--name", name, "--network", "host", "--ipc", "host",
            "--ulimit", "memlock=-1:-1", "--gpus", "all", *(["--privileged"] if rdma else []), "--entrypoint", "",
            *volumes, *passed, runtime.image,
        ]  # fmt: skip
        # Killing the docker client does not stop its container.
        parts["cleanup"] = ["docker", "rm", "-f", name]
    elif runtime.kind == "pyxis":
        parts["srun_extra"] = [f"--container-image={runtime.image}", "--container-mounts=" + ",".join(mounts)]
    return parts
