"""`lc-cluster models` and `lc-cluster gpus`: what the catalogs hold."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from lc_cluster.cli.options import JsonFlag, ModelFiles
from lc_cluster.cli.output import emit_json, table
from lc_cluster.schemas import versioned


def models(model_file: ModelFiles = None, as_json: JsonFlag = False) -> None:
    """List the models lc-cluster knows, with the least hardware each engine needs."""
    from lc_cluster.catalog import load_catalog
    from lc_cluster.catalog.schema import ENGINE_NAMES
    from lc_cluster.deployment import minimum_hardware

    catalog = load_catalog(tuple(Path(p) for p in model_file or ()))
    rows: list[dict[str, Any]] = []
    for spec in sorted(catalog.models.values(), key=lambda m: m.name):
        minimum = {e: minimum_hardware(spec, catalog, e) for e in ENGINE_NAMES}
        rows.append(
            {
                "name": spec.name,
                "source": spec.source,
                "params_b": spec.params_b,
                "dtype": spec.dtype,
                "size_gb": spec.size_gb,
                "engines": spec.engines.available(),
                "mtp": {e: getattr(spec.engines.recipe(e), "mtp", None) is not None for e in ENGINE_NAMES},
                "minimum_hardware": minimum,
            }
        )
    if as_json:
        emit_json(versioned("models", {"models": rows}), "models")
        return
    table(
        "Models",
        ["name", "source", "params", "dtype", "size", *(f"least hardware: {e}" for e in ENGINE_NAMES)],
        (
            [
                r["name"],
                r["source"],
                f"{r['params_b']:g}B",
                r["dtype"],
                f"{r['size_gb']:g} GB",
                *(_first(r["minimum_hardware"][e]) for e in ENGINE_NAMES),
            ]
            for r in rows
        ),
    )


def gpus(as_json: JsonFlag = False) -> None:
    """List the GPU types the planner knows, with the memory CUDA reports for each."""
    from lc_cluster.catalog import load_catalog

    specs = list(load_catalog().gpus.values())
    if as_json:
        emit_json(versioned("gpus", {"gpus": [g.model_dump(mode="json") for g in specs]}), "gpus")
        return
    table(
        "GPUs",
        ["name", "aliases", "arch", "memory (GiB)", "NVSwitch"],
        ([g.name, ", ".join(g.aliases), g.arch, f"{g.memory_gib:g}", "yes" if g.nvswitch else "no"] for g in specs),
    )


def _first(options: list[str]) -> str:
    if not options:
        return "-"
    return options[0] + (f" (+{len(options) - 1} more)" if len(options) > 1 else "")


def register(app: typer.Typer) -> None:
    app.command()(models)
    app.command()(gpus)
