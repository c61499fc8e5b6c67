"""Plan a canary (the model's own plan, on a shrunken copy of its architecture, on the GPUs at hand) and run it
locally: build the model folder, start the planned command with dummy weights, wait until it answers a chat request
and a short generation, stop it, and say what failed first."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, NoReturn

from lc_cluster import safe_files
from lc_cluster.bench.client import run_client
from lc_cluster.catalog.schema import Engines, ModelSpec
from lc_cluster.deployment import Asked, Deployment, Process, deploy, resolve
from lc_cluster.engines import Engine
from lc_cluster.engines.base import API_KEY_CONFIG, BenchLoad, key_file_text, reads_key_file
from lc_cluster.errors import LcError
from lc_cluster.host import pids_in_group
from lc_cluster.http_client import chat, completion
from lc_cluster.jobs.node_tools import answers

# Model types whose transformers config class carries the real model's values: the canary needs no download for them.
# The class describes the BF16 checkpoint only: an FP8 one's quantization_config is in its own config.json.
BUILTIN_CONFIGS = {("longcat-flash", "bf16"): "longcat_flash"}
# What engines put before each line of a worker process: "(EngineCore pid=12) ERROR 11-23 19:43:23 [core.py:1165] ".
_PREFIX = re.compile(r"^\([\w.-]+ pid=\d+\)\s?(?:[A-Z]+ \d\d-\d\d [\d:]+ \[[^\]]*\] )?")
# The line a traceback ends with: an exception's (dotted) class name at the start, then its message.
_RAISED = re.compile(r"^[A-Za-z_][\w.]*(: .*)?$")
_OTHER_NODE = re.compile(r"\$\{IP_OF_NODE_\d+\}")
_ERROR = re.compile(r"\b[A-Za-z_][\w.]*(Error|Exception): .*")


@dataclass
class CanaryResult:
    passed: bool
    model_dir: str
    processes: list[dict[str, Any]]
    """Each process as it ran here: name, role, node, the GPUs of this machine it had, argv and env."""
    seconds_to_ready: float | None = None
    answer: str | None = None
    generated: str | None = None
    error: str | None = None
    advice: list[str] = field(default_factory=list)
    log: str = ""
    """The log of the process that failed first, or the entry process's."""
    logs: dict[str, str] = field(default_factory=dict)
    bench: dict[str, Any] | None = None
    """The engine's benchmark client's figures against it, where asked for (ClientFigures)."""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def plan_canary(asked: Asked, model_dir: Path, skip: tuple[str, ...] = ()) -> Deployment:
    """The plan the full model would get, for the shrunken copy in model_dir. SKIP leaves the named known defects'
    fixes out (to show that a fix is needed)."""
    request = resolve(asked, None)
    unknown = set(skip) - {q.id for q in request.quirks}
    if unknown:
        raise LcError(
            f"--skip-quirk {', '.join(sorted(unknown))}: no such quirk; 'lc-cluster plan' lists those that apply"
        )
    request = replace(request, quirks=tuple(q for q in request.quirks if q.id not in skip))
    real = request.model
    arch = real.architecture.model_copy(
        update={"layers": 2, "routed_experts": min(real.architecture.routed_experts, 16)}
    )
    small = real.model_copy(update={
        "source": str(model_dir), "size_gb": 0.5, "params_b": 0.5, "active_params_b": None, "architecture": arch,
        "upstream_minimum": None, "ready_timeout_s": None, "engines": _own_drafts(real, str(model_dir)),
    })  # fmt: skip
    deployment = deploy(replace(request, model=small))
    ports = Counter(p.port for p in deployment.processes if p.port)
    if any(count > 1 for count in ports.values()):
        # Nodes of their own in the plan, one host here: the instances' ports would collide.
        raise LcError(
            "the plan gives instances on different nodes the same port, which collide on one machine: plan them on "
            "one node (--nodes 1 --gpus-per-node N) to run them here"
        )
    return deployment


def _own_drafts(real: ModelSpec, source: str) -> Engines:
    """REAL's recipes, where one drafts from the model's own MTP head (its draft model is the model itself), drafting
    from SOURCE, the shrunken copy, instead."""
    sglang = real.engines.sglang
    if sglang is None or sglang.mtp is None or sglang.mtp.draft_model != real.source:
        return real.engines
    mtp = sglang.mtp.model_copy(update={"draft_model": source})
    return real.engines.model_copy(update={"sglang": sglang.model_copy(update={"mtp": mtp})})


def model_source(family: str, dtype: str, config: Path | None) -> str:
    if config is not None:
        return str(config)
    if (family, dtype) in BUILTIN_CONFIGS:
        return BUILTIN_CONFIGS[(family, dtype)]
    # Without it an FP8 checkpoint's canary would run the BF16 kernels and prove nothing about FP8.
    raise LcError(f"no built-in config for the {dtype} {family} checkpoint: pass its config.json with --config")


def build_model(python: str, model_dir: Path, source: str, mtp: bool) -> None:
    """The canary model folder, written by PYTHON, the engine's interpreter (it has transformers and tokenizers),
    which imports lc_cluster from wherever this one runs."""
    package_root = str(Path(__file__).resolve().parents[2])
    built = subprocess.run(
        [python, "-m", "lc_cluster.canary.make_model", str(model_dir), source, "1" if mtp else "0"],
        capture_output=True, text=True, check=False, env={**os.environ, "PYTHONPATH": package_root},
    )  # fmt: skip
    if built.returncode != 0:
        raise LcError(f"could not build the canary model with {python}: {built.stderr.strip().splitlines()[-1:]}")


def run_local(
    deployment: Deployment, python: str, out: Path, timeout_s: int, gpus_here: int | None = None,
    bench: BenchLoad | None = None,
) -> CanaryResult:  # fmt: skip
    """Every process of the plan, here: each node's GPUs are the next ones of this machine (node 1 of a 2 x 1 plan
    gets GPU 1), every address is 127.0.0.1. The engines start together; the router only once they all answer.
    With fewer GPUS_HERE than the plan needs, the plan's GPUs wrap around them, and the engines that share one split
    its memory (the only flag the canary adds). With BENCH, the engine's own benchmark client then sends that load
    (from PYTHON's folder, or PATH), so a setting's cost is measured on the same start."""
    key = "lck-canary-" + secrets.token_urlsafe(16)
    fill = {"${NODE_IP}": "127.0.0.1", "${HEAD_IP}": "127.0.0.1", "${LC_API_KEY}": key, "${LC_JOB_DIR}": str(out)}

    def filled(value: str) -> str:
        for name, real in fill.items():
            value = value.replace(name, real)
        return _OTHER_NODE.sub("127.0.0.1", value)

    if any(reads_key_file(p.command.argv) for p in deployment.processes):
        # 0600, as the batch script writes it on a node: the folder may be /tmp, readable by every user here.
        safe_files.replace(out / Path(API_KEY_CONFIG).name, key_file_text(key), 0o600)
    launches = share_gpus(
        [local_launch(p, deployment, python, filled, gpus_here) for p in deployment.processes], deployment.engine
    )
    result = CanaryResult(passed=False, model_dir=deployment.plan.model.source, processes=[
        {**{k: v for k, v in launch.items() if k != "env"},
         "env": {k: v.replace(key, "${LC_API_KEY}") for k, v in launch["env"].items()}}
        for launch in launches
    ])  # fmt: skip
    result.advice = [f"{q.id}: {' '.join([*q.args, *(f'{k}={v}' for k, v in q.env.items())])}"
                     for q in deployment.plan.quirks if q.action == "advise"]  # fmt: skip
    result.logs = {launch["name"]: str(out / f"{launch['name']}.log") for launch in launches}
    result.log = next(iter(result.logs.values()))
    children: dict[str, subprocess.Popen[bytes]] = {}
    started = time.monotonic()
    deadline = started + timeout_s
    # A canary killed by SIGTERM (a timeout around it, a CI runner) must still stop its engines, which run in process
    # groups of their own and would hold the GPUs: the signal ends the run as an exception would, through `finally`.
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        for stage in (
            [launch for launch in launches if launch["role"] != "router"],
            [launch for launch in launches if launch["role"] == "router"],
        ):
            for launch in stage:
                children[launch["name"]] = _start(launch, out)
            heads = [f"http://127.0.0.1:{launch['port']}/health" for launch in stage if launch["port"]]
            if not _wait_ready(heads, children, deadline):
                failed = next((name for name, child in children.items() if child.poll() is not None), None)
                if failed:
                    result.log = result.logs[failed]
                    exited = f"{failed} exited with {children[failed].returncode}"
                    result.error = first_error(Path(result.log)) or exited
                else:
                    # Alive but not answering: only a traceback is a cause; an error named in a warning is not.
                    result.error = first_error(Path(result.log), loose=False) or (
                        f"not ready within {timeout_s} s; its log ends: {last_line(Path(result.log))}"
                    )
                return result
        result.seconds_to_ready = round(time.monotonic() - started, 1)
        endpoint = f"http://127.0.0.1:{deployment.entry_port}"
        answered = chat(endpoint, "Say hello.", key, max_tokens=16)
        result.answer = answered["answer"]
        result.generated = completion(endpoint, "The quick brown fox", key, max_tokens=16)
        result.passed = True
        if bench is not None:
            source = deployment.plan.model.source
            folder = [str(Path(python).parent)] if os.sep in python else []
            env = {**os.environ, "OPENAI_API_KEY": key, "PATH": os.pathsep.join([*folder, os.environ.get("PATH", "")])}
            figures = run_client(deployment.engine, endpoint, answered["model"], source, bench, env)
            result.bench = asdict(figures)
    except LcError as exc:
        result.error = str(exc)
    finally:
        for child in reversed(children.values()):
            stop(child)
        signal.signal(signal.SIGTERM, previous)
    return result


def _terminated(signum: int, _frame: object) -> NoReturn:
    raise SystemExit(128 + signum)


def share_gpus(launches: list[dict[str, Any]], engine: Engine) -> list[dict[str, Any]]:
    """Engines that share a GPU each take an equal part of its memory, less a margin: engines that start together
    each see the other's allocations while they size their KV cache."""
    users = Counter(g for launch in launches for g in launch["gpus"])
    for launch in launches:
        sharing = max((users[g] for g in launch["gpus"]), default=1)
        if sharing > 1:
            share = engine.memory_utilization / sharing * 0.9
            launch["argv"] = [*launch["argv"], engine.memory_flag, f"{share:.2f}"]
    return launches


def local_launch(
    process: Process, deployment: Deployment, python: str, filled: Callable[[str], str], gpus_here: int | None = None
) -> dict[str, Any]:
    planned = [filled(a) for a in process.command.full_argv]
    env = {k: filled(v) for k, v in process.env.items()}
    gpus: list[int] = []
    if process.role == "router":
        # The router is a program of its own, installed beside the engine's python.
        where = os.pathsep.join([str(Path(python).parent), os.environ.get("PATH", "")])
        argv = [shutil.which(planned[0], path=where) or planned[0], *planned[1:]]
    else:
        launcher = deployment.engine.launcher
        argv = [python, *deployment.engine.module_launcher, *planned[len(launcher) :], "--load-format", "dummy"]
        per_node = deployment.gpus_per_node
        gpus = [process.node * per_node + g for g in (process.gpus or range(per_node))]
        gpus = [g % gpus_here for g in gpus] if gpus_here else gpus
        env["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, gpus))
    return {"name": process.name, "role": process.role, "node": process.node, "gpus": gpus, "port": process.port,
            "argv": argv, "env": env}  # fmt: skip


def _start(launch: dict[str, Any], out: Path) -> subprocess.Popen[bytes]:
    with (out / f"{launch['name']}.log").open("wb") as sink:
        return subprocess.Popen(
            launch["argv"], env={**os.environ, **launch["env"], "HF_HUB_OFFLINE": "1"}, stdout=sink,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip


def first_error(log: Path, loose: bool = True) -> str | None:
    """The engine's first real error: the exception line that ends its first traceback (worker prefixes removed).
    LOOSE: without a traceback, the first line that names an exception (an engine that exited may have logged only
    that)."""
    lines = _lines(log)
    for i, line in enumerate(lines):
        if line.startswith("Traceback (most recent call last)"):
            for follow in lines[i + 1 :]:
                if _RAISED.match(follow):
                    return follow.strip()[:500]
    found = next((line for line in lines if _ERROR.search(line)), None) if loose else None
    return found.strip()[:500] if found else None


def last_line(log: Path) -> str:
    """Where a stalled engine stopped: its log's last line that says something."""
    return next((line.strip()[:300] for line in reversed(_lines(log)) if line.strip()), "(the log is empty)")


def _lines(log: Path) -> list[str]:
    try:
        return [_PREFIX.sub("", line.rstrip("\r")) for line in log.read_text(errors="replace").splitlines()]
    except OSError:
        return []


def _wait_ready(urls: list[str], children: dict[str, subprocess.Popen[bytes]], deadline: float) -> bool:
    """Like the job's wait-ready, with the same probe, but the engines are our children here: a crashed one is a
    zombie until polled, which the job's pid check would take for alive."""
    waiting = list(urls)
    while time.monotonic() < deadline and all(child.poll() is None for child in children.values()):
        waiting = [url for url in waiting if not answers(url)]
        if not waiting:
            return True
        time.sleep(2)
    return False


def stop(child: subprocess.Popen[bytes], grace_s: float = 15) -> None:
    """SIGTERM to the process's group, then SIGKILL to whatever of the group is left. The group, not the process: on
    an H200 a DP rank's worker outlived its engine, stuck on its dead peer, holding 131 GiB of the GPU."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        end = time.monotonic() + grace_s
        try:
            os.killpg(child.pid, sig)
        except ProcessLookupError:
            return
        while time.monotonic() < end:
            child.poll()  # the leader, once it exits, is reaped here
            if not pids_in_group(child.pid):
                return
            time.sleep(0.5)
