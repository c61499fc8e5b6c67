"""The cluster file: where and how jobs run. Strict; every path and name is checked before anything is submitted."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from lc_cluster import safe_files, validate
from lc_cluster.catalog.schema import EngineName
from lc_cluster.errors import LcError
from lc_cluster.paths import config_home
from lc_cluster.planning.request import Fabric
from lc_cluster.strict import describe, parse
from lc_cluster.userfiles import read_yaml

# Names and paths that are not what the patterns allow (spaces, quotes, '$', newlines) are refused here rather than
# quoted later, because #SBATCH lines and slurm.conf are not parsed by a shell.
_check = validate.check


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Slurm(_Strict):
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    time_limit: str = "1-00:00:00"
    conf: str | None = Field(default=None, description="SLURM_CONF for the client commands; None: the system's")
    extra_sbatch: tuple[str, ...] = Field(default=(), description="extra #SBATCH options, e.g. --constraint=h100")

    @field_validator("partition", "account", "qos")
    @classmethod
    def _names(cls, v: str | None) -> str | None:
        return _check(validate.NAME, "Slurm name", v)

    @field_validator("time_limit")
    @classmethod
    def _time(cls, v: str) -> str:
        _check(validate.SLURM_TIME, "Slurm time limit (e.g. 4:00:00 or 1-00:00:00)", v)
        return v

    @field_validator("conf")
    @classmethod
    def _conf(cls, v: str | None) -> str | None:
        return _check(validate.PATH, "absolute path", v)

    @field_validator("extra_sbatch")
    @classmethod
    def _extra(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for option in v:
            if not validate.SBATCH_OPTION.fullmatch(option):
                raise ValueError(f"{option!r} is not an sbatch option like --constraint=h100 or --reservation=maint")
            name = option.split("=", 1)[0]
            # sbatch (getopt_long) also takes any unambiguous prefix of a long option: --nod=4 is --nodes=4.
            managed = next((m for m in _MANAGED_SBATCH if m == name or (len(name) > 3 and m.startswith(name))), None)
            if managed is not None:
                hint = _MANAGED_SBATCH[managed] or "lc-cluster sets it from the plan; remove it"
                raise ValueError(f"{option!r} would change what lc-cluster sets ({managed}): {hint}")
        return v


# The batch script's own options (its header and sbatch's command line), with where to set each instead.
_MANAGED_SBATCH = {
    "--nodes": "use serve's --nodes", "--partition": "use slurm.partition", "--account": "use slurm.account",
    "--qos": "use slurm.qos", "--time": "use slurm.time_limit", "--exclude": "use serve's --exclude",
    "--output": "use paths.log_dir", "--error": "use paths.log_dir", "--chdir": "", "--job-name": "",
    "--ntasks": "", "--ntasks-per-node": "", "--gres": "", "--gpus": "", "--gpus-per-node": "", "--gpus-per-task": "",
    "--exclusive": "", "--oversubscribe": "", "--share": "", "--wrap": "", "--comment": "", "--export": "",
    "--export-file": "", "--array": "", "--parsable": "", "--open-mode": "", "--hetjob": "", "--container": "",
}  # fmt: skip


class Network(_Strict):
    service_interface: str | None = Field(default=None, description="NIC whose IPv4 address each node serves on")
    socket_ifname: str | None = Field(default=None, description="GLOO/NCCL_SOCKET_IFNAME")
    ib_hca: str | None = None
    ib_gid_index: int | None = Field(default=None, ge=0)
    api_bind: str | None = Field(default=None, description="--host for the API server; None: engine default")

    @field_validator("service_interface", "socket_ifname", "api_bind")
    @classmethod
    def _names(cls, v: str | None) -> str | None:
        return _check(validate.NAME, "interface or address", v)

    @field_validator("ib_hca")
    @classmethod
    def _hcas(cls, v: str | None) -> str | None:
        return _check(validate.IB_HCA, "NCCL_IB_HCA list", v)

    def fabric(self, override: Fabric | None = None) -> Fabric:
        """This file's fabric settings, each one the user set explicitly winning."""
        override = override or Fabric()
        return replace(
            override,
            socket_ifname=override.socket_ifname or self.socket_ifname,
            ib_hca=override.ib_hca or self.ib_hca,
            ib_gid_index=override.ib_gid_index if override.ib_gid_index is not None else self.ib_gid_index,
        )


class Runtime(_Strict):
    kind: Literal["host", "pyxis", "apptainer", "docker"] = "host"
    engine_venvs: dict[EngineName, str] = Field(
        default_factory=dict, description="host: the venv each engine is installed in (its bin/ goes first on PATH)"
    )
    router_venv: str | None = Field(
        default=None, description="the venv with vllm-router/sglang-router, on the head node (default: PATH)"
    )
    image: str | None = Field(default=None, description="pyxis/apptainer/docker: the engine image")
    mounts: tuple[str, ...] = Field(default=(), description="SRC:DST bind mounts into the container")
    env: dict[str, str] = Field(default_factory=dict, description="extra engine environment; may use ${NODE_INDEX}")

    @field_validator("engine_venvs")
    @classmethod
    def _venvs(cls, v: dict[str, str]) -> dict[str, str]:
        for path in v.values():
            _check(validate.PATH, "absolute path", path)
        return v

    @field_validator("router_venv")
    @classmethod
    def _router_venv(cls, v: str | None) -> str | None:
        return _check(validate.PATH, "absolute path", v)

    @field_validator("image")
    @classmethod
    def _image(cls, v: str | None) -> str | None:
        return _check(validate.IMAGE, "image reference or .sif path", v)

    @field_validator("mounts")
    @classmethod
    def _mounts(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for mount in v:
            _check(validate.MOUNT, "mount (SRC:DST, absolute paths)", mount)
        return v

    @field_validator("env")
    @classmethod
    def _env(cls, v: dict[str, str]) -> dict[str, str]:
        for key in v:
            _check(validate.ENV_NAME, "environment variable name", key)
            if key.startswith(validate.MANAGED_ENV_PREFIXES):
                raise ValueError(f"{key} is the batch script's own (LC_*, SLURM_*): remove it")
        return v


# Where role node_facts writes each node's facts (its default node_facts_path).
NODE_FACTS_PATH = "/etc/lc-cluster/node-facts.json"


class Paths(_Strict):
    log_dir: str = Field(description="shared directory for job logs, seen by every node and the login host")
    model_cache: str | None = Field(default=None, description="HF_HOME with the pre-fetched weights")
    offline: bool = Field(default=True, description="HF_HUB_OFFLINE=1: use only the staged weights")
    node_facts: str = Field(
        default=NODE_FACTS_PATH,
        description="the facts file role node_facts writes on every node (%N: the node's name)",
    )
    scrape_dir: str | None = Field(
        default=None,
        description="folder Prometheus reads file_sd targets from: each ready job writes lc-JOB.json there",
    )
    group_readable: bool = Field(
        default=False, description="job folders and logs readable by your group (0750/0640); default: you only"
    )

    @property
    def umask(self) -> int:
        """What jobs run and write with: Slurm applies the submitting process's umask to the job."""
        return 0o027 if self.group_readable else 0o077

    @field_validator("log_dir", "model_cache", "scrape_dir")
    @classmethod
    def _paths(cls, v: str | None) -> str | None:
        return _check(validate.PATH, "absolute path", v)

    @field_validator("node_facts")
    @classmethod
    def _node_path(cls, v: str) -> str:
        _check(validate.NODE_PATH, "absolute path (%N: the node's name)", v)
        return v


class ClusterFile(_Strict):
    name: str
    gpu: str = Field(description="GPU type, see 'lc-cluster gpus'")
    gpus_per_node: int = Field(gt=0, le=64)
    slurm: Slurm = Slurm()
    network: Network = Network()
    runtime: Runtime = Runtime()
    paths: Paths
    login_netns: str | None = Field(
        default=None, description="sandbox only: network namespace the login host's commands run in"
    )
    gpu_hour_usd: float | None = Field(
        default=None, gt=0, description="what one GPU-hour costs: bench's cost per million output tokens"
    )
    node_root: str = Field(
        default="/",
        description="sandbox only: a folder per node (%N: its name) standing in for / where doctor reads /sys, /proc",
    )
    _source: Path | None = PrivateAttr(default=None)

    @property
    def source(self) -> Path:
        """The file this was read from, so a job record can find it again."""
        if self._source is None:
            raise LcError(f"cluster {self.name} was not read from a file")
        return self._source

    @field_validator("name", "login_netns")
    @classmethod
    def _names(cls, v: str | None) -> str | None:
        return _check(validate.NAME, "name", v)

    @field_validator("node_root")
    @classmethod
    def _node_root(cls, v: str) -> str:
        _check(validate.NODE_PATH, "absolute path (%N: the node's name)", v)
        return v


def cluster_path(ref: str | None) -> Path:
    """--cluster takes a path (anything with a '/' or ending in .yaml) or a name under ~/.config/lc-cluster/clusters."""
    ref = ref or os.environ.get("LC_CLUSTER_CLUSTER") or "default"
    if "/" in ref or ref.endswith((".yaml", ".yml")):
        return Path(ref)
    if not validate.CLUSTER_NAME.fullmatch(ref):
        raise LcError(f"--cluster {ref!r}: give a cluster name (1-64 letters, digits, '.', '_', '-') or a file path")
    return config_home() / "clusters" / f"{ref}.yaml"


def cluster_name(ref: str | None) -> str | None:
    """The name a --cluster value stands for: a name as given, a path loaded for the name inside it."""
    if ref is None or cluster_path(ref) == config_home() / "clusters" / f"{ref}.yaml":
        return ref
    return load_cluster(ref).name


def load_cluster(ref: str | None) -> ClusterFile:
    path = cluster_path(ref)
    try:
        found = path.is_file()
    except OSError as exc:
        raise LcError(f"--cluster {str(path)[:80]!r}: {exc.strerror}") from None
    if not found:
        raise LcError(f"no cluster file at {path}: run 'lc-cluster init' to write one, or pass --cluster NAME|PATH")
    data = read_yaml(path)
    try:
        cluster = parse(ClusterFile, data)
    except ValidationError as exc:
        raise LcError(f"{path}: {describe(exc, ClusterFile)}") from None
    cluster._source = path.resolve()
    return cluster


def write_example(name: str, force: bool) -> Path:
    """`lc-cluster init`: the commented example as clusters/NAME.yaml; returns its path."""
    if not validate.CLUSTER_NAME.fullmatch(name):
        raise LcError(f"--name {name!r}: a cluster name is 1-64 letters, digits, '.', '_' or '-' (not a path)")
    path = config_home() / "clusters" / f"{name}.yaml"
    text = EXAMPLE.format(name=name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # A symlink there, even a dangling one, is something in the way, not a place to write through. Its owner's
        # alone: the file will hold runtime.env, tokens among it.
        if force:
            safe_files.replace(path, text, 0o600)
        else:
            safe_files.create(path, text, 0o600)
    except FileExistsError:
        raise LcError(f"{path} exists: edit it, or pass --force to overwrite it") from None
    except OSError as exc:
        raise LcError(f"cannot write {path}: {exc.strerror}: set LC_CLUSTER_HOME to a folder you can write") from None
    return path


EXAMPLE = """\
# lc-cluster cluster file. Every key is checked: a misspelt key is an error, not a silent default.
name: {name}
gpu: H800-80G                 # GPU type: 'lc-cluster gpus' lists them
gpus_per_node: 8

slurm:
  partition: gpu              # null: the cluster's default partition
  account: null
  qos: null
  time_limit: "1-00:00:00"    # a 560B model takes hours to load; leave room for serving
  conf: null                  # SLURM_CONF for sbatch/squeue; null: the system's
  extra_sbatch: []            # e.g. [--constraint=h800]; serve asks for whole nodes itself

gpu_hour_usd: null            # what one GPU-hour costs: bench prints the cost per million tokens

network:
  service_interface: bond0    # each node serves on this NIC's IPv4 address (never 127.* or 169.254.*)
  # The next two, when null, are read on each node at run time from its facts file (lc-cluster up writes it): the
  # interface that carries the node's address, and the HCAs whose ports are Active.
  socket_ifname: bond0        # GLOO_SOCKET_IFNAME / NCCL_SOCKET_IFNAME
  ib_hca: mlx5_0,mlx5_1,mlx5_2,mlx5_3   # NCCL_IB_HCA
  ib_gid_index: null          # RoCE usually needs 3
  api_bind: 0.0.0.0           # --host of the API server (SGLang's default is 127.0.0.1)

runtime:
  kind: host                  # host | pyxis | apptainer | docker
  engine_venvs:               # host: where each engine is installed
    vllm: /opt/venvs/vllm
    sglang: /opt/venvs/sglang
  image: null                 # pyxis/apptainer/docker: e.g. vllm/vllm-openai:v0.11.0
  mounts: []                  # containers: [/shared/models:/models]
  env: {{}}                   # extra environment for the engines

paths:
  log_dir: /shared/lc-cluster/logs   # must be visible from every node and from here
  model_cache: /shared/hf            # HF_HOME holding the pre-fetched weights
  offline: true                      # HF_HUB_OFFLINE=1
  group_readable: false              # job folders and logs for you only (true: your group may read them)
  node_facts: /etc/lc-cluster/node-facts.json   # written on every node by lc-cluster up (role node_facts)
  scrape_dir: null                   # Prometheus file_sd folder (role monitoring's monitoring_file_sd_dir)
"""
