"""`lc-cluster canary`: the model's own plan, on a shrunken copy of its architecture with dummy weights, run here on
the GPUs at hand, in minutes instead of a full load on many nodes."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

from lc_cluster.cli import options as o
from lc_cluster.cli.output import console, emit_json


def canary(
    model: Annotated[str, typer.Argument(help="Catalog name, alias or hub id.")],
    engine: Annotated[str, typer.Option("--engine", "-e", help="vllm or sglang.")] = "vllm",
    engine_version: Annotated[
        str | None, typer.Option("--engine-version", help="The installed engine's release (its quirks apply).")
    ] = None,
    gpu: Annotated[str, typer.Option("--gpu", "-g", help="This machine's GPU type.")] = "H100-80G",
    gpus: Annotated[int, typer.Option("--gpus", min=1, max=8, help="GPUs per node (each node is this machine).")] = 1,
    gpus_here: Annotated[
        int | None,
        typer.Option("--gpus-here", min=1, help="GPUs this machine has, where the plan needs more: they are shared."),
    ] = None,
    nodes: o.Nodes = 1,
    tp: o.Tp = None,
    dp: o.Dp = None,
    ep: o.Ep = None,
    replicas: o.Replicas = 1,
    router: o.RouterOpt = None,
    prefill: o.Prefill = None,
    decode: o.Decode = None,
    kv_connector: o.KvConnector = None,
    mtp: Annotated[bool, typer.Option("--mtp", help="With multi-token prediction.")] = False,
    quirks: Annotated[bool, typer.Option("--quirks/--no-quirks", help="Apply the known defects' fixes.")] = True,
    with_advice: o.WithAdvice = False,
    skip_quirk: Annotated[
        list[str] | None, typer.Option("--skip-quirk", help="Leave this known defect's fix out, to see it is needed.")
    ] = None,
    python: Annotated[str, typer.Option("--python", help="The interpreter that has the engine installed.")] = "python3",
    config: Annotated[
        Path | None,
        typer.Option("--config", exists=True, dir_okay=False, help="The model's config.json, where none is built in."),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Folder for the model and the engine log.")] = None,
    timeout: Annotated[int, typer.Option("--timeout", min=10, help="Seconds to wait until it answers.")] = 600,
    as_json: o.JsonFlag = False,
) -> None:
    """Serve a shrunken copy of MODEL with exactly the flags its plan uses, here; exit 1 with the engine's first
    error (and any known fix) when it does not answer. A plan of several nodes runs each node on the next GPUs of
    this machine (--nodes 2 --gpus 1: node 1 on GPU 1), with its router where it has one."""
    import sys

    from lc_cluster.canary.run import build_model, model_source, plan_canary, run_local
    from lc_cluster.catalog import load_catalog
    from lc_cluster.deployment import Asked
    from lc_cluster.planning import Overrides

    asked = Asked(model=model, engine=engine, gpu=gpu, nodes=nodes, gpus_per_node=gpus, mtp=mtp,
                  overrides=Overrides(tp=tp, dp=dp, ep=ep), engine_version=engine_version, quirks=quirks,
                  quirk_advice=with_advice, replicas=replicas, router=router, prefill=prefill, decode=decode,
                  kv_connector=kv_connector)  # fmt: skip
    spec = load_catalog().model(model)
    skip = tuple(skip_quirk or ())
    # Refusals (quirks, floors, a bad --skip-quirk, no config) come before anything is written.
    plan_canary(asked, (out or Path(tempfile.gettempdir())) / "model", skip)
    source = model_source(spec.family, spec.dtype, config)
    folder = out or Path(tempfile.mkdtemp(prefix="lc-canary-"))
    folder.mkdir(parents=True, exist_ok=True)
    model_dir = folder / "model"
    deployment = plan_canary(asked, model_dir, skip)
    build_model(python, model_dir, source, mtp)
    err = console(stderr=True)
    shape = f"{nodes} x {gpus}" if nodes > 1 else str(gpus)
    with err.status(f"canary: {spec.name} on {shape} x {gpu} with {engine}, waiting for it to answer"):
        result = run_local(deployment, python, folder, timeout, gpus_here)
    if as_json:
        emit_json(result.as_dict())
    elif result.passed:
        console().print(
            f"canary passed: ready in {result.seconds_to_ready} s; answered {result.answer!r}", markup=False
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
