"""Options shared by the commands that plan (plan, serve), declared once."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from lc_cluster.planning import Network, Overrides, PlanRequest


class EngineName(StrEnum):
    vllm = "vllm"
    sglang = "sglang"


JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
ModelFiles = Annotated[
    list[Path] | None,
    typer.Option("--model-file", help="Extra model file(s) to add to the catalog.", exists=True, dir_okay=False),
]
ModelArg = Annotated[str, typer.Argument(help="Catalog name, alias or hub id (see 'lc-cluster models').")]
EngineOpt = Annotated[EngineName, typer.Option("--engine", "-e", help="Serving engine.")]
Nodes = Annotated[int, typer.Option("--nodes", "-N", min=1, max=1024, help="Number of nodes.")]
GpusPerNode = Annotated[int, typer.Option("--gpus-per-node", "-G", min=1, max=64, help="GPUs on each node.")]
Mtp = Annotated[bool, typer.Option("--mtp", help="Enable multi-token prediction (speculative decoding).")]
Tp = Annotated[int | None, typer.Option("--tp", min=1, help="Tensor-parallel size.")]
Dp = Annotated[int | None, typer.Option("--dp", min=1, help="Data-parallel size (ranks in total).")]
Ep = Annotated[int | None, typer.Option("--ep", min=1, help="Expert-parallel size (1 switches EP off).")]
Pp = Annotated[int | None, typer.Option("--pp", min=1, help="Pipeline-parallel size.")]
EngineVersion = Annotated[
    str | None,
    typer.Option("--engine-version", help="Engine release to emit flags for; 'guide' = the upstream guide's."),
]
Ifname = Annotated[str | None, typer.Option("--ifname", help="NIC for NCCL/Gloo sockets (e.g. ib0, bond0).")]
IbHca = Annotated[str | None, typer.Option("--ib-hca", help="NCCL_IB_HCA, e.g. mlx5_0,mlx5_1.")]
IbGid = Annotated[int | None, typer.Option("--ib-gid-index", min=0, help="NCCL_IB_GID_INDEX (RoCE; often 3).")]
Port = Annotated[int | None, typer.Option("--port", help="HTTP port of the API server.")]
Bind = Annotated[str | None, typer.Option("--bind", help="Address the API server listens on.")]


def plan_request(
    catalog_files: list[Path] | None,
    model: str,
    engine: EngineName,
    gpu: str,
    nodes: int,
    gpus_per_node: int,
    *,
    mtp: bool = False,
    overrides: Overrides | None = None,
    engine_version: str | None = None,
    network: Network | None = None,
    port: int | None = None,
    bind: str | None = None,
) -> PlanRequest:
    from lc_cluster.catalog import load_catalog
    from lc_cluster.planning import Network, Overrides, PlanRequest, PortOptions

    catalog = load_catalog(tuple(catalog_files or ()))
    return PlanRequest(
        model=catalog.model(model),
        engine=engine.value,
        gpu=catalog.gpu(gpu),
        nodes=nodes,
        gpus_per_node=gpus_per_node,
        overrides=overrides or Overrides(),
        mtp=mtp,
        engine_version=engine_version,
        network=network or Network(),
        ports=PortOptions(http=port),
        bind=bind,
    )


ClusterOpt = Annotated[
    str | None,
    typer.Option("--cluster", "-c", help="Cluster name (~/.config/lc-cluster/clusters/NAME.yaml) or file path."),
]
