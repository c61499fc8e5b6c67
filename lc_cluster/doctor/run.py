"""The doctor's Slurm job: every node reads itself with node_facts.py --live, then the ranks run a collective with the
engine's torch; the results come back through the shared log folder and are judged here."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lc_cluster import __version__, validate
from lc_cluster.catalog.schema import ENGINE_NAMES, GpuSpec, ModelSpec
from lc_cluster.cluster import ClusterFile, load_cluster
from lc_cluster.doctor import checks
from lc_cluster.doctor.checks import Check, Expected
from lc_cluster.engines.base import NIC_SETTINGS, fabric_env, left_to_facts
from lc_cluster.errors import LcError
from lc_cluster.jobs.backend import SlurmBackend, SlurmCli
from lc_cluster.jobs.job import TOOLS, runtime_parts
from lc_cluster.jobs.watch import ACTIVE
from lc_cluster.provision.runner import NODE_FACTS_SCRIPT
from lc_cluster.rendering import render

COLLECTIVE_PY = Path(__file__).with_name("collective.py")
COMMENT = "lc-cluster doctor"
# Collective message size: large enough to reach bus bandwidth on NVLink and InfiniBand, small enough for the CPUs of
# a sandbox.
_MIB = {"gpu": 256, "cpu": 16}
_ITERATIONS = 10
_COLLECTIVE_PORT = 29555
_POLL_S = 2.0


@dataclass(frozen=True)
class DoctorRequest:
    cluster: ClusterFile
    gpu: GpuSpec
    engine: str
    nodes: int | None = None
    nodelist: str | None = None
    exclude: str | None = None
    model: ModelSpec | None = None
    collective: bool = True
    min_busbw_gbs: float | None = None
    timeout_s: int = 600


@dataclass
class Report:
    job_id: str
    nodes: dict[str, list[Check]]
    collective: dict[str, Any] | None = None
    fabric: list[Check] = field(default_factory=list)

    @property
    def failing(self) -> list[str]:
        return sorted(n for n, found in self.nodes.items() if any(c.ok is False for c in found))

    @property
    def ok(self) -> bool:
        return not self.failing and all(c.ok is not False for c in self.fabric)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "job_id": self.job_id,
            "nodes": {n: [c.as_dict() for c in found] for n, found in sorted(self.nodes.items())},
            "collective": self.collective,
            "fabric": [c.as_dict() for c in self.fabric],
            "exclude": ",".join(self.failing),
        }


def _engine_path(cluster: ClusterFile, engine: str) -> str | None:
    runtime = cluster.runtime
    if runtime.kind == "host":
        venv = runtime.engine_venvs.get(engine)  # type: ignore[call-overload]
        return f"{venv}/bin/python3" if venv else None
    # An apptainer image is a file on the nodes; registry images (docker, pyxis) are pulled when the job starts.
    return runtime.image if runtime.kind == "apptainer" and runtime.image and runtime.image.startswith("/") else None


def _live_spec(req: DoctorRequest) -> dict[str, str]:
    spec = {"engine": _engine_path(req.cluster, req.engine) or ""}
    cache = req.cluster.paths.model_cache
    if cache:
        spec["cache_dir"] = cache
    model = req.model
    if model is not None:
        if model.source.startswith("/"):
            spec["model_dir"] = model.source
        elif cache:
            spec["snapshots"] = f"{cache}/hub/models--{model.source.replace('/', '--')}/snapshots"
    return {k: v for k, v in spec.items() if v}


def script(req: DoctorRequest) -> str:
    cluster = req.cluster
    cpu = req.gpu.arch == "cpu"
    # The collective's NICs are chosen as a serving job's are: pinned by the cluster file, else from the node's facts.
    fabric = cluster.network.fabric()
    pinned = fabric_env(fabric)
    passed = ["MASTER_ADDR", "MASTER_PORT", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", *NIC_SETTINGS]
    parts = runtime_parts(cluster, req.engine, passed)
    return render(
        "doctor.sbatch.j2",
        version=__version__,
        nodes=req.nodes,
        nodelist=req.nodelist,
        exclude=req.exclude,
        gpus_per_node=cluster.gpus_per_node,
        time_limit=f"0:{max(req.timeout_s // 60, 2)}:00",
        log_dir=cluster.paths.log_dir,
        umask=f"{cluster.paths.umask:04o}",
        partition=cluster.slurm.partition,
        account=cluster.slurm.account,
        qos=cluster.slurm.qos,
        extra_sbatch=cluster.slurm.extra_sbatch,
        facts_py=NODE_FACTS_SCRIPT.read_text(),
        collective_py=COLLECTIVE_PY.read_text(),
        tools=TOOLS.read_text(),
        node_root=cluster.node_root or "/",
        live=json.dumps(_live_spec(req), sort_keys=True),
        interface=cluster.network.service_interface or "",
        collective=req.collective,
        port=_COLLECTIVE_PORT,
        mib=_MIB["cpu" if cpu else "gpu"],
        iterations=_ITERATIONS,
        ranks_per_node=1 if cpu else cluster.gpus_per_node,
        pinned=[f"{k}={v}" for k, v in pinned.items()],
        derive=left_to_facts(fabric),
        node_facts=cluster.paths.node_facts,
        **parts,
    )


def run(req: DoctorRequest, backend: SlurmBackend, progress: Callable[[str], None]) -> Report:
    text = script(req)
    log_dir = Path(req.cluster.paths.log_dir)
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LcError(f"cannot create the log directory {log_dir}: {exc.strerror}") from None
    job_id = backend.submit(text, COMMENT, {})
    progress(f"doctor job {job_id} submitted")
    try:
        _wait(job_id, req.timeout_s, backend, progress)
    finally:
        state = backend.state(job_id)
        if state is not None and state.state in ACTIVE:
            backend.cancel(job_id)
    return judge(req, job_id, Path(req.cluster.paths.log_dir) / f"doctor-{job_id}")


def _wait(job_id: str, timeout_s: int, backend: SlurmBackend, progress: Callable[[str], None]) -> None:
    end = time.monotonic() + timeout_s
    last = ""
    while time.monotonic() < end:
        state = backend.state(job_id)
        if state is None or state.state not in ACTIVE:
            return
        if state.state != last:
            progress(f"doctor job {job_id}: {state.state.lower()} {state.reason if state.state == 'PENDING' else ''}")
            last = state.state
        time.sleep(_POLL_S)
    raise LcError(f"doctor job {job_id} did not finish within {timeout_s} s: see 'squeue -j {job_id}'")


def judge(req: DoctorRequest, job_id: str, out: Path) -> Report:
    hcas = None
    if req.cluster.network.ib_hca and not req.cluster.network.ib_hca.startswith("^"):
        hcas = tuple(h.split(":")[0] for h in req.cluster.network.ib_hca.lstrip("=").split(","))
    want = Expected(
        gpu=req.gpu, gpus_per_node=req.cluster.gpus_per_node, hcas=hcas,
        model_bytes=int(req.model.size_gb * 1e9) if req.model else None,
    )  # fmt: skip
    engine_path = _engine_path(req.cluster, req.engine)
    facts = {}
    for path in sorted(out.glob("*.json")):
        if path.name != "collective.json":
            try:
                facts[path.stem] = json.loads(path.read_text())
            except ValueError:
                facts[path.stem] = {}
    if not facts:
        raise LcError(f"doctor job {job_id} left no node report in {out}: see {out.parent}/doctor-{job_id}.out")
    report = Report(job_id, {node: checks.judge(f, want, engine_path) for node, f in facts.items()})
    if req.collective:
        report.collective, report.fabric = _collective(req, out, list(facts.values()))
    return report


def _last_object(path: Path) -> dict[str, Any] | None:
    """Rank 0's JSON line among whatever else the ranks printed (NCCL_DEBUG=INFO writes to stdout)."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict) and {"ranks", "backend", "all_reduce_busbw_gbs"} <= set(value):
            return value
    return None


def _collective(
    req: DoctorRequest, out: Path, facts: list[dict[str, Any]]
) -> tuple[dict[str, Any] | None, list[Check]]:
    found = _last_object(out / "collective.json")
    if found is None:
        err = (out / "collective.err").read_text().strip().splitlines() if (out / "collective.err").exists() else []
        return None, [
            Check(
                "collective",
                False,
                f"did not complete: {(err or ['no output'])[-1][:300]}",
                "see the doctor job's collective.err; NCCL_DEBUG=INFO in runtime.env shows the transport",
            )
        ]
    result = found
    if result["ranks"] < 2:
        return result, [Check("collective", None, "one rank: nothing to measure")]
    ranks_per_node = max(result["ranks"] // max(len(facts), 1), 1)
    # The HCAs set the floor only for NCCL: Gloo (no GPU) moves data over TCP sockets whatever the fabric.
    derived = (
        checks.expected_busbw_gbs(facts, ranks_per_node) if len(facts) > 1 and result["backend"] == "nccl" else None
    )
    floor = req.min_busbw_gbs if req.min_busbw_gbs is not None else derived
    result["threshold_gbs"] = floor
    figures = (f"all-reduce {result['all_reduce_busbw_gbs']:.2f} GB/s, all-to-all "
               f"{result['all_to_all_busbw_gbs']:.2f} GB/s bus bandwidth over {result['ranks']} ranks "
               f"({result['backend']})")  # fmt: skip
    if floor is None:
        return result, [
            Check("collective", True, figures + "; no fabric threshold (one node, no HCA, or Gloo over TCP)")
        ]
    slow = result["all_reduce_busbw_gbs"] < floor
    return result, [Check(
        "collective", not slow, f"{figures}; threshold {floor:.2f} GB/s",
        "NCCL_DEBUG=INFO shows the transport: 'NET/Socket' instead of 'NET/IB' means the HCAs are not used (peermem, "
        "NCCL_IB_HCA, ports); run doctor on node pairs to find the slow one" if slow else "",
    )]  # fmt: skip


def prepare(
    cluster_ref: str | None,
    *,
    engine: str,
    nodes: int | None = None,
    nodelist: str | None = None,
    exclude: str | None = None,
    model_ref: str | None = None,
    collective: bool = True,
    min_busbw_gbs: float | None = None,
    timeout_s: int = 600,
) -> tuple[DoctorRequest, SlurmCli]:
    """Everything checked before the job is submitted; with neither NODES nor NODELIST, every node of the cluster
    file's partition that can take a job now."""
    from lc_cluster.catalog.loader import load_catalog

    validate.hostlist("--nodelist", nodelist)
    excluded = set(validate.hostnames("--exclude", exclude))
    if engine not in ENGINE_NAMES:
        raise LcError(f"--engine {engine!r}: give one of {', '.join(ENGINE_NAMES)}")
    cluster = load_cluster(cluster_ref)
    catalog = load_catalog()
    backend = SlurmCli(cluster)
    if nodes is None and nodelist is None:
        usable = [n for n in backend.usable_nodes(cluster.slurm.partition) if n not in excluded]
        if not usable:
            raise LcError(f"no node of partition {cluster.slurm.partition or '(default)'} can take a job now "
                          "(sinfo): pass --nodelist to wait for busy ones")  # fmt: skip
        nodelist = ",".join(usable)
    request = DoctorRequest(
        cluster=cluster, gpu=catalog.gpu(cluster.gpu), engine=engine, nodes=nodes, nodelist=nodelist,
        exclude=exclude, model=catalog.model(model_ref) if model_ref else None, collective=collective,
        min_busbw_gbs=min_busbw_gbs, timeout_s=timeout_s,
    )  # fmt: skip
    return request, backend
