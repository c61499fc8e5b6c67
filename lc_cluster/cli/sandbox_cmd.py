"""`lc-cluster sandbox up|status|down`: a real Slurm cluster with a real vLLM on this machine."""

from __future__ import annotations

from typing import Annotated

import typer

from lc_cluster.cli.options import JsonFlag
from lc_cluster.cli.output import console, emit_json
from lc_cluster.sandbox.topology import DEFAULT_NAME
from lc_cluster.schemas import versioned

NameOpt = Annotated[
    str,
    typer.Option(
        "--name",
        envvar="LC_CLUSTER_SANDBOX",
        help="Which sandbox: namespaces, state and the cluster file NAME.yaml derive from it.",
    ),
]
sandbox = typer.Typer(
    help="The local sandbox cluster: try lc-cluster, and test it, on one machine.", no_args_is_help=True
)


@sandbox.command()
def up(
    nodes: Annotated[int, typer.Option("--nodes", "-N", help="Compute nodes.")] = 2,
    gpus_per_node: Annotated[int, typer.Option("--gpus-per-node", "-G", help="Stand-in GPUs per node.")] = 1,
    bare: Annotated[bool, typer.Option("--bare", help="Bare systemd hosts with sshd, for 'lc-cluster up'.")] = False,
    real_gpus: Annotated[
        bool,
        typer.Option("--real-gpus", help="Give the nodes this machine's NVIDIA GPUs and run the engines given."),
    ] = False,
    engine_venv: Annotated[
        list[str] | None,
        typer.Option("--engine-venv", help="With --real-gpus: ENGINE=VENV, where the GPU build is installed (repeat)."),
    ] = None,
    router_venv: Annotated[
        str | None, typer.Option("--router-venv", help="With --real-gpus: the venv of the routers (default: PATH).")
    ] = None,
    name: NameOpt = DEFAULT_NAME,
    as_json: JsonFlag = False,
) -> None:
    """Install what it needs and start the controller and N nodes (idempotent; caches the slow parts)."""
    from lc_cluster.errors import LcError
    from lc_cluster.sandbox.real_gpus import RealGpus
    from lc_cluster.sandbox.sandbox import up as sandbox_up

    if (engine_venv or router_venv) and not real_gpus:
        raise LcError("--engine-venv and --router-venv go with --real-gpus (the CPU sandbox brings its own)")
    venvs = dict(item.partition("=")[::2] for item in engine_venv or [])
    real = RealGpus(engine_venvs=venvs, router_venv=router_venv) if real_gpus else None
    err = console(stderr=True)
    result = sandbox_up(
        name, nodes, gpus_per_node, lambda text: err.print(f"sandbox {name}: {text}", markup=False), bare, real
    )
    if as_json:
        emit_json(versioned("sandbox", result), "sandbox")
    elif bare:
        console().print(f"sandbox up: {len(result['nodes'])} bare hosts; inventory {result['inventory']}")
        console().print(f"next: lc-cluster up -i {result['inventory']}", markup=False)
    else:
        console().print(f"sandbox up: {len(result['nodes'])} nodes; cluster file {result['cluster_file']}")
        model = "tiny-longcat --with-advice" if real_gpus else "tiny"
        console().print(f"next: lc-cluster serve {model} --cluster {name} --nodes {nodes}", markup=False)


@sandbox.command()
def status(name: NameOpt = DEFAULT_NAME, as_json: JsonFlag = False) -> None:
    """Whether the sandbox runs, its nodes and daemons."""
    from lc_cluster.sandbox.sandbox import status as sandbox_status

    result = sandbox_status(name)
    if as_json:
        emit_json(versioned("sandbox", result), "sandbox")
        return
    if not result["up"]:
        typer.echo(f"sandbox {name}: down" + (" (some daemons died; run 'sandbox up')" if result["nodes"] else ""))
        return
    typer.echo(f"sandbox {name}: up, cluster file {result['cluster_file']}")
    for node in result["nodes"]:
        typer.echo(f"  {node['name']:4} {node['ip']:12} {node['state']}")


@sandbox.command()
def down(name: NameOpt = DEFAULT_NAME) -> None:
    """Stop every job, daemon and namespace the sandbox made, and remove its files (the caches stay)."""
    from lc_cluster.sandbox.sandbox import down as sandbox_down

    err = console(stderr=True)
    sandbox_down(name, lambda text: err.print(f"sandbox {name}: {text}", markup=False))


def register(app: typer.Typer) -> None:
    app.add_typer(sandbox, name="sandbox")
