"""Run an engine's own benchmark client against an endpoint and read its figures. The result file comes from outside
our code (a client of whatever release the node has), so every figure is checked before it is believed: a number,
finite, not negative, and for this run's requests."""

from __future__ import annotations

import json
import math
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lc_cluster.engines.base import BenchLoad, Engine
from lc_cluster.errors import WorldError

PERCENTILES = ("p50", "p90", "p99")
METRICS = ("ttft", "tpot", "itl")


@dataclass(frozen=True)
class ClientFigures:
    completed: int
    failed: int
    output_tokens: int
    duration_s: float
    latency_ms: dict[str, float | None]
    """ttft/tpot/itl at each percentile, e.g. ttft_p99."""
    output_tokens_per_s: float
    first_error: str | None = None


def run_client(
    engine: Engine, endpoint: str, model: str, tokenizer: str, load: BenchLoad, env: Mapping[str, str],
    prefix: Sequence[str] = (), timeout_s: int = 3600,
) -> ClientFigures:  # fmt: skip
    """ENGINE's client sending LOAD to ENDPOINT (PREFIX runs it elsewhere, e.g. in a network namespace)."""
    with tempfile.TemporaryDirectory(prefix="lc-bench-") as work:
        result_file = f"{work}/result.json"
        argv = engine.bench_argv(endpoint, model, tokenizer, load, result_file)
        try:
            done = subprocess.run([*prefix, *argv], env=dict(env), capture_output=True, text=True, timeout=timeout_s,
                                  check=False)  # fmt: skip
        except FileNotFoundError:
            raise WorldError(f"{argv[0]} not found: install {engine.name}'s benchmark client, or pass --client-venv") \
                from None  # fmt: skip
        except subprocess.TimeoutExpired:
            raise WorldError(f"the benchmark did not finish within {timeout_s} s") from None
        tail = ((done.stderr or "").strip() or (done.stdout or "").strip() or "no output").splitlines()[-1][:300]
        if done.returncode != 0:
            raise WorldError(f"the benchmark client exited with {done.returncode}: {tail}")
        try:
            text = Path(result_file).read_text().strip().splitlines()[-1]
        except (OSError, IndexError):
            raise WorldError(f"the benchmark client wrote no result: {tail}") from None
    return read_figures(text, load)


def read_figures(text: str, load: BenchLoad) -> ClientFigures:
    """The figures of one result line (vLLM's and SGLang's clients write the same names), or a WorldError saying
    which is wrong."""
    try:
        doc = json.loads(text, parse_constant=_no_constant)
    except ValueError as exc:
        raise WorldError(f"the benchmark client's result is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise WorldError("the benchmark client's result is not an object")
    completed = int(_number(doc, "completed", 0, whole=True))
    failed = int(_number(doc, "failed", max(load.prompts - completed, 0), whole=True))
    if completed + failed > load.prompts:
        raise WorldError(
            f"the benchmark client's result counts {completed} completed and {failed} failed requests of the "
            f"{load.prompts} sent: not this run's"
        )
    errors = doc.get("errors") or []
    if not isinstance(errors, list):
        raise WorldError("the benchmark client's result has 'errors' that is not a list")
    # Each request's error, "" where it succeeded; the client's traceback or the server's reason ends in its last line.
    reasons = [e.strip().splitlines()[-1] for e in errors if isinstance(e, str) and e.strip()]
    return ClientFigures(
        completed=completed, failed=failed, output_tokens=int(_number(doc, "total_output_tokens", 0, whole=True)),
        duration_s=_number(doc, "duration", 0.0),
        latency_ms={f"{m}_{p}": _percentile(doc, m, p) for m in METRICS for p in PERCENTILES},
        output_tokens_per_s=_number(doc, "output_throughput", 0.0), first_error=reasons[0][:300] if reasons else None,
    )  # fmt: skip


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _number(doc: dict[str, Any], name: str, default: float, whole: bool = False) -> float:
    value = doc.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise WorldError(f"the benchmark client's result has {name}={value!r}: not a count or a duration")
    if whole and value != int(value):
        raise WorldError(f"the benchmark client's result has {name}={value!r}: not a whole number")
    return float(value)


def _percentile(doc: dict[str, Any], metric: str, p: str) -> float | None:
    """vLLM writes p50_ttft_ms; SGLang's client writes the median as median_ttft_ms."""
    name = f"{p}_{metric}_ms"
    if name not in doc and p == "p50":
        name = f"median_{metric}_ms"
    return _number(doc, name, 0.0) if doc.get(name) is not None else None
