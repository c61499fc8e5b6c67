"""`lc-cluster plan`: the layout, the memory budget and every node's exact command, without running anything."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from lc_cluster.cli import options as o
from lc_cluster.cli.output import console, emit_json, shell_line, table

if TYPE_CHECKING:
    from lc_cluster.deployment import Asked


@o.plan_options
def plan(asked: Asked, cluster: str | None, as_json: o.JsonFlag = False) -> None:
    """Plan a deployment and print every node's command. Exit 2, with the reason, when it cannot work.

    With --cluster, the plan is the job 'serve' would submit there: the same argv and environment on every node."""
    from lc_cluster.deployment import deploy, resolve
    from lc_cluster.planning.quirks import verified_note

    if cluster is not None:
        from lc_cluster.jobs.job import prepare

        job = prepare(asked, cluster)
        deployment, doc, envs = job.deployment, job.as_dict(), list(job.process_env)
    else:
        deployment = deploy(resolve(asked, None))
        doc, envs = deployment.as_dict(), [p.env for p in deployment.processes]
    if as_json:
        emit_json(doc, "plan")
        return

    p = deployment.plan
    out = console()
    out.print(
        f"[bold]{p.model.name}[/] ({p.model.source}) on {deployment.nodes} x {deployment.gpus_per_node} x {p.gpu.name} "
        f"with {p.engine} {p.engine_version}"
    )
    if deployment.router is not None:
        out.print(f"{len(deployment.instances)} instances behind {deployment.router_kind} on node 0, port "
                  f"{deployment.entry_port}")  # fmt: skip
    rows = []
    for inst, shown in zip(deployment.instances, doc["instances"], strict=True):
        layout, m = inst.plan.layout, inst.plan.memory
        where = (
            f"nodes {inst.first_node}-{inst.first_node + layout.nodes - 1}"
            if layout.nodes > 1
            else f"node {inst.first_node}"
        )
        gpus = f", GPUs {','.join(map(str, inst.gpus))}" if inst.gpus else ""
        kv = f"; KV {shown['kv']['connector']} on port {shown['kv']['port']}" if shown["kv"] else ""
        out.print(f"{inst.role} {inst.index} on {where}{gpus}: {layout.describe()}, {layout.nodes} x "
                  f"{layout.gpus_per_node} GPUs; DP ranks per node: {layout.dp_local or 'replica spans nodes'}; "
                  f"HTTP port {inst.plan.http_port}{kv}", markup=False)  # fmt: skip
        usable = f"{m.usable_gib:.1f} ({m.utilization:.0%})"
        weights = f"{m.weights_gib:.1f} = {m.replicated_gib:.1f} + {m.experts_gib:.1f}"
        rows.append([f"{inst.role} {inst.index}", f"{m.gpu_memory_gib:g}", usable, weights,
                     f"{m.reserve_gib:.1f}", f"{m.kv_cache_gib:.1f}", f"~{m.kv_tokens:,}"])  # fmt: skip
    table(
        "Memory per GPU (GiB)",
        ["instance", "GPU", "usable", "weights = replicated + expert shard", "runtime reserve", "KV cache",
         "KV tokens per replica"],
        rows,
    )  # fmt: skip
    what = "every instance's head" if deployment.router else "the head"
    out.print(f"Ready when GET {p.ready_path} on {what} answers 200, within {p.ready_timeout_s} s.")
    if deployment.router is None and p.request.bind is None and not deployment.engine.listens_everywhere:
        out.print(f"Endpoint: {p.engine} answers on the head's 127.0.0.1 only; to reach it from other hosts set "
                  "network.api_bind: 0.0.0.0 in the cluster file (or --bind).", markup=False)  # fmt: skip
    for quirk in p.quirks:
        what = {"fix": "applied", "advise": "not applied, try if hit"}[quirk.action]
        change = " ".join([*quirk.args, *(f"{k}={v}" for k, v in quirk.env.items())]) or "no known fix"
        cost = f" Cost: {quirk.cost}." if quirk.cost else ""
        out.print(f"Quirk {quirk.id} ({what}: {change}): {quirk.symptom}. Evidence: {quirk.evidence} "
                  f"({verified_note(quirk, p.engine_version)}).{cost}", markup=False)  # fmt: skip
    if p.api_key:
        out.print("API key: required; serve makes one per job, 0600 in the state directory, and ask sends it.")
    else:
        out.print("API key: none; anyone who reaches the port can use the server.")
    for process, env, shown in zip(deployment.processes, envs, doc["processes"], strict=True):
        head = "head" if process.port is not None else "worker"
        what = f"node {process.node}" if deployment.router is None else f"{process.name} ({process.role}, {head})"
        gpus = f", GPUs {','.join(map(str, process.gpus))}" if process.gpus else ""
        out.print(f"\n[bold]# {what if deployment.router else what + f' ({head})'}{gpus}[/]")
        command = process.command
        out.print(shell_line(env, command.argv, command.literal_args), markup=False)
        if shown["derived"]:
            out.print(f"# and from the node's facts file at run time: {', '.join(shown['derived'])}", markup=False)


def register(app: typer.Typer) -> None:
    app.command()(plan)
