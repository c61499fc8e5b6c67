"""`lc-cluster up` and `lc-cluster inventory check`: provision hosts with the project's Ansible roles."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lc_cluster.cli.options import JsonFlag
from lc_cluster.cli.output import console, emit_json, literal, table
from lc_cluster.schemas import versioned

if TYPE_CHECKING:
    from lc_cluster.provision.runner import Vault

InventoryOpt = Annotated[
    Path,
    typer.Option(
        "--inventory", "-i",
        help="Ansible inventory (file or directory). An executable file is a dynamic inventory: Ansible runs it.",
    ),
]  # fmt: skip
VaultFileOpt = Annotated[
    Path | None,
    typer.Option("--vault-password-file", exists=True, dir_okay=False, help="Opens the inventory's vaulted values."),
]
AskVaultOpt = Annotated[bool, typer.Option("--ask-vault-pass", help="Ask for the vault password (kept in memory).")]
inventory_app = typer.Typer(help="Inventory checks.", no_args_is_help=True)


def up(
    inventory: InventoryOpt,
    tags: Annotated[str | None, typer.Option("--tags", help="Only these tags (e.g. base,slurm).")] = None,
    limit: Annotated[str | None, typer.Option("--limit", help="Only these hosts or groups.")] = None,
    check: Annotated[bool, typer.Option("--check", help="Change nothing; report what would change.")] = False,
    diff: Annotated[bool, typer.Option("--diff", help="Show the changes to files.")] = False,
    full: Annotated[
        bool, typer.Option("--full", help="Run every layer's tasks, also where hosts are as the last run left them.")
    ] = False,
    playbook: Annotated[str, typer.Option("--playbook", help="Playbook in playbooks/.")] = "site.yml",
    vault_password_file: VaultFileOpt = None,
    ask_vault_pass: AskVaultOpt = False,
    as_json: JsonFlag = False,
) -> None:
    """Provision the inventory's hosts: checks the inventory first, then runs the roles, host by host."""
    from lc_cluster.provision import inventory as inv
    from lc_cluster.provision.runner import RunOptions, forks_for, playbook_path, run_playbook

    playbook_path(playbook)
    vault = _vault(vault_password_file, ask_vault_pass)
    groups = inv.check(inventory, vault)
    options = RunOptions(
        tags=tags, limit=limit, check=check, diff=diff, full=full, forks=forks_for(len(inv.hosts(groups))), vault=vault
    )
    err = console(stderr=True)
    with err.status("starting") as live:

        def progress(host: str, status: str, task: str) -> None:
            if status in ("failed", "unreachable"):
                err.print(f"[red]{literal(host)}: {status}[/] {literal(task)}")
            live.update(f"{literal(host)}: {literal(task)} ({status})")

        result = run_playbook(playbook, inventory, options, progress)
    if as_json:
        emit_json(versioned("up", {
            "hosts": {h: r.as_dict() for h, r in sorted(result.hosts.items())},
            "ok": result.ok,
            # Why each failed or unreachable host stopped, in the tasks' own words.
            "messages": {h: r.messages for h, r in sorted(result.hosts.items()) if r.messages},
            "error": result.error or None,
            "artifacts": str(result.artifacts),
            "seconds": round(result.seconds, 1),
            "roles_run": result.roles_run,
            # Where the time went: the slowest tasks, summed over hosts.
            "slowest_tasks": [{"task": t, "seconds": round(s, 2)} for t, s in result.slowest(15)],
        }), "up")  # fmt: skip
    else:
        table(
            f"{playbook}: {result.status} in {result.seconds:.0f} s",
            ["host", "ok", "changed", "failed", "unreachable"],
            ([h, r.ok, r.changed, r.failed, r.unreachable] for h, r in sorted(result.hosts.items())),
        )
        for host, recap in sorted(result.hosts.items()):
            for message in recap.messages:
                err.print(f"{host}: {message}", markup=False)
        if result.error:
            err.print(f"ansible: {result.error}", markup=False)
        err.print(f"artifacts: {result.artifacts}", markup=False)
    if not result.ok:
        raise typer.Exit(1)


@inventory_app.command("check")
def check_inventory(
    inventory: InventoryOpt,
    vault_password_file: VaultFileOpt = None,
    ask_vault_pass: AskVaultOpt = False,
    as_json: JsonFlag = False,
) -> None:
    """Validate groups, variables and known host keys without touching any host."""
    from lc_cluster.provision import inventory as inv

    groups = inv.check(inventory, _vault(vault_password_file, ask_vault_pass))
    if as_json:
        emit_json(versioned("inventory", {"ok": True, "groups": groups}), "inventory")
    else:
        typer.echo(f"{inventory}: ok ({', '.join(f'{g}: {len(h)}' for g, h in groups.items())})")


def _vault(password_file: Path | None, ask: bool) -> Vault:
    from lc_cluster.errors import LcError
    from lc_cluster.provision.runner import Vault

    if password_file is not None and ask:
        raise LcError("--vault-password-file and --ask-vault-pass exclude each other: pass one")
    password = typer.prompt("Vault password", hide_input=True) if ask else None
    return Vault(password_file=password_file.resolve() if password_file else None, password=password)


def register(app: typer.Typer) -> None:
    app.command()(up)
    app.add_typer(inventory_app, name="inventory")
