"""Run the engine's own benchmark client against a job's endpoint, from the login host (inside the sandbox's login
namespace), and judge the result: every request answered, and every answer as long as asked."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lc_cluster.bench.client import run_client
from lc_cluster.catalog.loader import load_catalog
from lc_cluster.cluster import ClusterFile, load_cluster
from lc_cluster.engines import get_engine
from lc_cluster.engines.base import BenchLoad, served_context
from lc_cluster.errors import LcError
from lc_cluster.jobs.records import JobRecord
from lc_cluster.paths import state_home

# An answer shorter than this share of the tokens asked for (EOS ignored) means the engine cut it: a KV transfer that
# failed, a decode engine that lost its prefill, a limit set too low.
_SHORT = 0.9


@dataclass(frozen=True)
class BenchResult:
    job_id: str
    model: str
    engine: str
    client: str
    scenario: str
    load: BenchLoad
    gpus: int
    completed: int
    failed: int
    output_tokens: int
    duration_s: float
    latency_ms: dict[str, float | None]
    """ttft/tpot/itl at each percentile, e.g. ttft_p99."""
    output_tokens_per_s: float
    date: float
    gpu_hour_usd: float | None = None
    first_error: str | None = None

    @property
    def tokens_per_s_per_gpu(self) -> float:
        return self.output_tokens_per_s / max(self.gpus, 1)

    @property
    def tokens_per_s_per_user(self) -> float:
        return self.output_tokens_per_s / max(min(self.load.concurrency, self.load.prompts), 1)

    @property
    def usd_per_million_tokens(self) -> float | None:
        if self.gpu_hour_usd is None or self.output_tokens_per_s <= 0:
            return None
        return self.gpu_hour_usd * self.gpus / (self.output_tokens_per_s * 3600) * 1e6

    @property
    def problems(self) -> list[str]:
        asked = self.load.prompts * self.load.output_len
        found = []
        if self.failed:
            found.append(
                f"{self.failed} of {self.load.prompts} requests failed ({self.first_error or 'no reason given'})"
            )
        if self.output_tokens == 0:
            found.append("the server returned no output tokens at all")
        elif self.output_tokens < _SHORT * asked:
            found.append(f"{self.output_tokens} output tokens of the {asked} asked for: answers were cut short")
        return found

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "tokens_per_s_per_gpu": self.tokens_per_s_per_gpu,
            "tokens_per_s_per_user": self.tokens_per_s_per_user,
            "usd_per_million_tokens": self.usd_per_million_tokens,
            "ok": not self.problems,
            "problems": self.problems,
        }


def history_path() -> Path:
    return state_home() / "bench-history.jsonl"


def _client_path(cluster: ClusterFile, client: str, given: str | None) -> list[str]:
    """Where the client's executables are: --client-venv, else the cluster file's venv for that engine when this host
    has it (the sandbox; a login node that shares the nodes' software), else PATH."""
    venv = given or cluster.runtime.engine_venvs.get(client)  # type: ignore[call-overload]
    if venv and not Path(venv, "bin").is_dir():
        raise LcError(f"no venv at {venv} on this host: pass --client-venv with {client}'s benchmark client")
    return [f"{venv}/bin"] if venv else []


def context_len(record: JobRecord) -> int:
    """The most tokens one request may hold on the job: the model's context, or less where a planned engine command
    caps it with a number (a recipe's or --engine-arg's --max-model-len; `auto` leaves the model's)."""
    limit = load_catalog().model(record.model).architecture.max_context
    engine = get_engine(record.engine)
    for process in record.plan.get("processes", []):
        if process.get("role") != "router":
            limit = min(limit, served_context(engine, [str(a) for a in process.get("argv", [])], limit))
    return limit


def run(
    record: JobRecord, name: str, load: BenchLoad, client: str | None = None, client_venv: str | None = None,
    tokenizer: str | None = None, timeout_s: int = 3600,
) -> BenchResult:  # fmt: skip
    endpoint = record.endpoint()
    if not endpoint:
        raise LcError(f"job {record.job_id} is not ready: 'lc-cluster status {record.job_id}' shows where it is")
    cluster = load_cluster(record.cluster_file)
    client = client or record.engine
    engine = get_engine(client)
    model = load_catalog().model(record.model)
    path = _client_path(cluster, client, client_venv)
    # The key goes to the client in its environment (both clients read OPENAI_API_KEY), never in its argv.
    env = {**os.environ, "PATH": ":".join([*path, os.environ.get("PATH", "")])}
    key = record.api_key()
    if key:
        env["OPENAI_API_KEY"] = key
    if cluster.paths.model_cache:
        env["HF_HOME"] = cluster.paths.model_cache
    if cluster.paths.offline:
        env["HF_HUB_OFFLINE"] = "1"
    prefix = ["nsenter", f"--net=/run/netns/{cluster.login_netns}"] if cluster.login_netns else []
    figures = run_client(engine, endpoint, model.source, tokenizer or model.source, load, env, prefix, timeout_s)
    result = BenchResult(
        job_id=record.job_id, model=record.model, engine=record.engine, client=client, scenario=name, load=load,
        gpus=record.gpus or record.nodes * cluster.gpus_per_node, **asdict(figures), date=time.time(),
        gpu_hour_usd=cluster.gpu_hour_usd,
    )  # fmt: skip
    history_path().parent.mkdir(parents=True, exist_ok=True)
    with history_path().open("a") as f:
        f.write(json.dumps(result.as_dict()) + "\n")
    return result
