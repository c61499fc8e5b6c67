"""`lc-cluster sandbox up|status|down`: a real Slurm cluster with a real vLLM on this machine."""

from __future__ import annotations

from typing import Annotated

import typer

from lc_cluster.cli.options import JsonFlag
from lc_cluster.cli.output import console, emit_json
from lc_cluster.sandbox.topology import DEFAULT_NAME

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
    name: NameOpt = DEFAULT_NAME,
    as_json: JsonFlag = False,
) -> None:
    """Install what it needs and start the controller and N nodes (idempotent; caches the slow parts)."""
    from lc_cluster.sandbox.sandbox import up as sandbox_up

    err = console(stderr=True)
    result = sandbox_up(
        name, nodes, gpus_per_node, lambda text: err.print(f"sandbox {name}: {text}", markup=False), bare=bare
    )
    if as_json:
        emit_json(result)
    elif bare:
        console().print(f"sandbox up: {len(result['nodes'])} bare hosts; inventory {result['inventory']}")
        console().print(f"next: lc-cluster up -i {result['inventory']}", markup=False)
    else:
        console().print(f"sandbox up: {len(result['nodes'])} nodes; cluster file {result['cluster_file']}")
        console().print(f"next: lc-cluster serve tiny --cluster {name} --nodes 2", markup=False)


@sandbox.command()
def status(name: NameOpt = DEFAULT_NAME, as_json: JsonFlag = False) -> None:
    """Whether the sandbox runs, its nodes and daemons."""
    from lc_cluster.sandbox.sandbox import status as sandbox_status

    result = sandbox_status(name)
    if as_json:
        emit_json(result)
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
