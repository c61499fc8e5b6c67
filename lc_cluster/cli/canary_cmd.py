"""`lc-cluster canary`: the model's own plan, on a shrunken copy of its architecture with dummy weights, run here on
the GPUs at hand, in minutes instead of a full load on many nodes."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lc_cluster.cli import options as o
from lc_cluster.cli.output import console, emit_json
from lc_cluster.schemas import versioned

if TYPE_CHECKING:
    from lc_cluster.deployment import Asked


# What a canary plans for where the shared options leave it open: this machine's GPU, one GPU per planned node.
_HERE_GPU = "H100-80G"
_HERE_GPUS_PER_NODE = 1
_WAIT_S = 600


@o.plan_options
def canary(
    asked: Asked,
    cluster: str | None,
    gpus_here: Annotated[
        int | None,
        typer.Option("--gpus-here", min=1, help="GPUs this machine has, where the plan needs more: they are shared."),
    ] = None,
    skip_quirk: Annotated[
        list[str] | None, typer.Option("--skip-quirk", help="Leave this known defect's fix out, to see it is needed.")
    ] = None,
    python: Annotated[str, typer.Option("--python", help="The interpreter that has the engine installed.")] = "python3",
    config: Annotated[
        Path | None,
        typer.Option("--config", exists=True, dir_okay=False, help="The model's config.json, where none is built in."),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Folder for the model and the engine log.")] = None,
    bench: Annotated[
        str | None,
        typer.Option("--bench", help="Once it answers, load it with the engine's benchmark client: " + o.SCENARIO_HELP),
    ] = None,
    input_len: o.BenchCount = None,
    output_len: o.BenchCount = None,
    prompts: o.BenchCount = None,
    concurrency: o.BenchCount = None,
    as_json: o.JsonFlag = False,
) -> None:
    """Serve a shrunken copy of MODEL with exactly the flags its plan uses, here; exit 1 with the engine's first
    error (and any known fix) when it does not answer. It takes plan's and serve's options; each planned node is
    the next GPUs of this machine (--nodes 2 --gpus-per-node 1: node 1 on GPU 1, the default --gpu is H100-80G),
    with its router where it has one, and --ready-timeout is how long it waits (default 600 s)."""
    import sys
    from dataclasses import replace

    from lc_cluster.bench import scenarios
    from lc_cluster.canary.run import build_model, model_source, plan_canary, run_local
    from lc_cluster.catalog import load_catalog
    from lc_cluster.errors import LcError, WorldError

    if cluster is not None:
        raise LcError("the canary runs on this machine, not on a cluster: drop --cluster")
    asked = replace(asked, gpu=asked.gpu or _HERE_GPU, gpus_per_node=asked.gpus_per_node or _HERE_GPUS_PER_NODE)
    timeout = asked.ready_timeout_s or _WAIT_S
    model, engine, gpu, nodes, gpus = asked.model, asked.engine, asked.gpu, asked.nodes, asked.gpus_per_node
    spec = load_catalog(asked.model_files).model(model)
    skip = tuple(skip_quirk or ())
    load = None
    if bench is not None:
        lengths = {"input_len": input_len, "output_len": output_len}
        load = scenarios.load(bench, {**lengths, "prompts": prompts, "concurrency": concurrency}, "--bench")
        # The shrunken copy keeps the model's context; a recipe's --max-model-len is checked as bench does.
        load = scenarios.fit(
            load, spec.architecture.max_context, given=[k for k, v in lengths.items() if v is not None]
        )
    elif any(v is not None for v in (input_len, output_len, prompts, concurrency)):
        raise LcError("--input-len, --output-len, --prompts and --concurrency shape --bench's load: give --bench too")
    # Refusals (quirks, floors, a bad --skip-quirk, no config) come before anything is written.
    planned = plan_canary(asked, (out or Path(tempfile.gettempdir())) / "model", skip)
    if shutil.which(python) is None:
        raise LcError(f"--python {python}: no such interpreter: give the python that has {engine} installed")
    # Without a device the engine would start, look for a GPU for minutes and fail far from the reason. Any index:
    # a container given one GPU of eight may see only /dev/nvidia5.
    if planned.plan.request.gpu.arch != "cpu" and not any(Path("/dev").glob("nvidia[0-9]*")):
        raise WorldError(
            f"this machine has no NVIDIA GPU (no /dev/nvidia<N>) for a {gpu} canary: run it on a GPU host, or give "
            "--gpu CPU-SANDBOX with the engine's CPU build"
        )
    source = model_source(spec.family, spec.dtype, config)
    folder = out or Path(tempfile.mkdtemp(prefix="lc-canary-"))
    folder.mkdir(parents=True, exist_ok=True)
    model_dir = folder / "model"
    deployment = plan_canary(asked, model_dir, skip)
    build_model(python, model_dir, source, asked.mtp)
    err = console(stderr=True)
    shape = f"{nodes} x {gpus}" if nodes > 1 else str(gpus)
    with err.status(f"canary: {spec.name} on {shape} x {gpu} with {engine}, waiting for it to answer"):
        result = run_local(deployment, python, folder, timeout, gpus_here, load)
    if as_json:
        emit_json(versioned("canary", result.as_dict()), "canary")
    elif result.passed:
        console().print(
            f"canary passed: ready in {result.seconds_to_ready} s; answered {result.answer!r}", markup=False
        )
        if result.bench is not None:
            b = result.bench
            console().print(
                f"{bench}: {b['completed']} of {b['completed'] + b['failed']} requests, {b['output_tokens_per_s']:.0f} "
                f"output tok/s, median TTFT {b['latency_ms']['ttft_p50']} ms, TPOT {b['latency_ms']['tpot_p50']} ms",
                markup=False,
            )
    else:
        err.print(f"canary failed: {result.error}", markup=False)
        for advice in result.advice:
            err.print(f"  known fix to try: {advice}", markup=False)
        err.print(f"  log: {result.log}", markup=False)
    if not result.passed:
        sys.exit(1)


def register(app: typer.Typer) -> None:
    app.command()(canary)
