"""`lc-cluster bench`: load a running job with the engine's own benchmark client and judge the answers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lc_cluster.cli import options as o
from lc_cluster.cli.output import console, emit_json, literal, table
from lc_cluster.schemas import versioned


def bench(
    job: Annotated[str | None, typer.Argument(help="The job id (see 'lc-cluster status').")] = None,
    scenario: Annotated[str, typer.Option("--scenario", "-s", help=o.SCENARIO_HELP)] = "chat-short",
    input_len: o.BenchCount = None,
    output_len: o.BenchCount = None,
    prompts: o.BenchCount = None,
    concurrency: o.BenchCount = None,
    client: Annotated[
        str | None, typer.Option("--client", help="Whose benchmark client: vllm or sglang; default: the job's engine.")
    ] = None,
    client_venv: Annotated[
        str | None, typer.Option("--client-venv", help="The venv holding that client; default: the cluster file's.")
    ] = None,
    tokenizer: Annotated[
        str | None, typer.Option("--tokenizer", help="Hub id or folder of the tokenizer; default: the model's.")
    ] = None,
    cluster: o.ClusterOpt = None,
    timeout: Annotated[int, typer.Option("--timeout", min=10, help="Seconds the benchmark may take.")] = 3600,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Write a PNG of tokens/s per GPU against p99 TTFT over the history.")
    ] = None,
    as_json: o.JsonFlag = False,
) -> None:
    """Benchmark a running job: TTFT/TPOT/ITL percentiles, tokens/s per GPU and per user, cost per million tokens.
    Exit 1 when a request failed or answers came back empty or short. Every run is appended to the history."""
    from lc_cluster.bench import run, scenarios
    from lc_cluster.cluster import cluster_name
    from lc_cluster.errors import LcError
    from lc_cluster.jobs import records

    if job is None:
        if plot is None:
            raise LcError("give a job id to benchmark, or --plot FILE to draw the history")
        from lc_cluster.bench.plot import plot as draw

        shown = draw(run.history_path(), plot)
        console().print(f"{plot}: {shown} runs from {run.history_path()}", markup=False)
        return

    lengths = {"input_len": input_len, "output_len": output_len}
    asked = scenarios.load(scenario, {**lengths, "prompts": prompts, "concurrency": concurrency})
    record = records.find(job, cluster_name(cluster))
    context = run.context_len(record)
    load = scenarios.fit(asked, context, given=[k for k, v in lengths.items() if v is not None])
    if load != asked:
        console(stderr=True).print(f"{scenario} shrunk to {load.input_len} in, {load.output_len} out: the job's "
                                   f"context is {context} tokens", markup=False)  # fmt: skip
    with console(stderr=True).status(f"{scenario}: {load.prompts} requests, {load.concurrency} at a time"):
        result = run.run(record, scenario, load, client, client_venv, tokenizer, timeout)
    if as_json:
        emit_json(versioned("bench", result.as_dict()), "bench")
    else:
        lat = result.latency_ms
        table(
            f"job {job}: {scenario} ({load.input_len} in, {load.output_len} out, {load.prompts} requests, "
            f"concurrency {load.concurrency}) with {result.client}'s client",
            ["metric", "p50", "p90", "p99"],
            [
                [m.upper() + " ms", *(_ms(lat[f"{m}_{p}"]) for p in ("p50", "p90", "p99"))]
                for m in ("ttft", "tpot", "itl")
            ],
        )
        cost = result.usd_per_million_tokens
        console().print(
            f"output {result.output_tokens_per_s:.1f} tok/s: {result.tokens_per_s_per_gpu:.1f} per GPU, "
            f"{result.tokens_per_s_per_user:.1f} per user; "
            + (f"${cost:.2f} per million output tokens" if cost is not None else "no gpu_hour_usd in the cluster file"),
            markup=False,
        )
        for problem in result.problems:
            console(stderr=True).print(f"[red]failed[/]: {literal(problem)}")
    if plot is not None:
        from lc_cluster.bench.plot import plot as draw

        draw(run.history_path(), plot)
    if result.problems:
        raise typer.Exit(1)


def _ms(value: float | None) -> str:
    return f"{value:.1f}" if value is not None else "-"


def register(app: typer.Typer) -> None:
    app.command()(bench)
