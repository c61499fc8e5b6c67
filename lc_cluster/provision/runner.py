"""Run a playbook through ansible-runner: live progress per host and task, a recap per host, artifacts kept."""

from __future__ import annotations

import os
import re
import secrets
import shlex
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lc_cluster import validate
from lc_cluster.errors import LcError
from lc_cluster.paths import state_home

# Shipped inside the package, so an installed wheel runs them; the repository's roles/ and playbooks/ link here.
ANSIBLE = Path(__file__).resolve().parent.parent / "ansible"
PLAYBOOKS = ANSIBLE / "playbooks"
ROLES = ANSIBLE / "roles"
# What role node_facts runs on every node; doctor's job runs it too, with --live.
NODE_FACTS_SCRIPT = ROLES / "node_facts" / "files" / "node_facts.py"
COUNTS = ("ok", "changed", "failed", "unreachable")
FACT_CACHE_S = 3600
MAX_FORKS = 64


def forks_for(hosts: int) -> int:
    return max(1, min(hosts, MAX_FORKS))


def _fact_cache() -> Path:
    folder = state_home() / "ansible" / "facts"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def playbook_path(name: str) -> Path:
    """One of the shipped playbooks, by file name."""
    path = PLAYBOOKS / name
    if not path.is_file() or path.parent != PLAYBOOKS:
        names = ", ".join(sorted(p.name for p in PLAYBOOKS.glob("*.yml")))
        raise LcError(f"no playbook {name}: use one of {names}")
    return path


def ansible_on_path() -> None:
    """ansible-runner starts ansible-playbook and ansible-inventory by name: find the ones installed beside
    lc-cluster, also when its venv is not activated."""
    here = str(Path(sys.executable).parent)
    if here not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([here, os.environ.get("PATH", "")])


@dataclass
class HostRecap:
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    messages: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in COUNTS}


@dataclass
class RunResult:
    status: str
    rc: int
    hosts: dict[str, HostRecap]
    artifacts: Path
    seconds: float
    task_seconds: dict[str, float] = field(default_factory=dict)
    """Each task's time summed over hosts ("role : task" names), for finding where a run spends it."""
    error: str = ""
    """Ansible's own last words when the run failed before any host reported (a playbook or inventory error)."""

    @property
    def roles_run(self) -> list[str]:
        """The roles that ran any task: a layer left out as converged (playbooks/converged/) runs none."""
        return sorted({task.split(" : ")[0] for task in self.task_seconds if " : " in task})

    def slowest(self, count: int) -> list[tuple[str, float]]:
        return sorted(self.task_seconds.items(), key=lambda item: -item[1])[:count]

    @property
    def ok(self) -> bool:
        return self.rc == 0 and not any(h.failed or h.unreachable for h in self.hosts.values())


@dataclass(frozen=True)
class Vault:
    """How Ansible opens vaulted values: a password file (its path is passed, never its content) or a password the
    operator typed, answered at Ansible's prompt and kept in memory only."""

    password_file: Path | None = None
    password: str | None = field(default=None, repr=False)

    def cmdline(self) -> list[str]:
        if self.password_file is not None:
            return ["--vault-password-file", str(self.password_file)]
        return ["--ask-vault-pass"] if self.password is not None else []

    def prompts(self) -> dict[str, str] | None:
        return {r"^Vault password:\s*$": self.password} if self.password is not None else None


# Environment variables that look like secrets (validate.SECRET_ENV: *_TOKEN, *_KEY, *_PASS, *_PWD, *_PAT, *_JWT,
# ...) are kept from Ansible's processes: ansible-runner writes the whole environment of what it starts into the
# run's artifacts. Secrets reach the roles through the inventory (Vault). Ansible's own settings are paths and
# switches (ANSIBLE_VAULT_PASSWORD_FILE names a file), never secrets, and it needs them.


def _secret_looking(name: str) -> bool:
    return not name.startswith("ANSIBLE_") and validate.SECRET_ENV.fullmatch(name.upper()) is not None


@contextmanager
def without_secret_env() -> Iterator[None]:
    """os.environ less every secret-looking variable while Ansible runs (the CLI runs one thing at a time)."""
    hidden = {name: os.environ.pop(name) for name in list(os.environ) if _secret_looking(name)}
    try:
        yield
    finally:
        os.environ.update(hidden)


@dataclass(frozen=True)
class RunOptions:
    tags: str | None = None
    limit: str | None = None
    check: bool = False
    diff: bool = False
    full: bool = False
    """Run every layer, also those whose hosts are as its last converge left them (playbooks/converged/)."""
    forks: int = 5
    """Hosts Ansible works on at once; `up` sizes it to the inventory (Ansible's default, 5, starves a big cluster)."""
    vault: Vault = field(default_factory=Vault)


Progress = Callable[[str, str, str], None]
"""(host, status, task name) for each task result as it arrives."""


def _reason(result: dict[str, Any]) -> str:
    """A failure's own words; for a loop, those of the first item that failed."""
    for item in result.get("results", []):
        if isinstance(item, dict) and item.get("failed"):
            return f"{item.get('item', '')}: {_reason(item)}"
    return str(result.get("msg") or result.get("stderr") or result.get("reason") or "").strip()


def run_playbook(playbook: str, inventory: Path, options: RunOptions, progress: Progress) -> RunResult:
    import ansible_runner

    ansible_on_path()
    # A fresh private data dir per run: ansible-runner writes its options (--check among them) into env/ there and
    # reuses them on the next run that does not pass its own, so a shared dir turns every run after a --check
    # into a check.
    artifacts = state_home() / "ansible" / (time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3))
    artifacts.mkdir(parents=True)
    hosts: dict[str, HostRecap] = {}
    task_seconds: dict[str, float] = {}
    cmdline = []
    if options.check:
        cmdline.append("--check")
    if options.diff:
        cmdline.append("--diff")
    if options.full:
        cmdline += ["--extra-vars", "converged_force=true"]
    cmdline += options.vault.cmdline()

    def on_event(event: dict[str, Any]) -> bool:
        data = event.get("event_data", {})
        host = data.get("host")
        kind = event.get("event", "")
        if host and kind.startswith("runner_on_"):
            status = kind.removeprefix("runner_on_")
            recap = hosts.setdefault(host, HostRecap())
            if status in ("failed", "unreachable"):
                recap.messages.append(f"{data.get('task', '')}: {_reason(data.get('res', {}))}".strip())
            progress(host, status, str(data.get("task", "")))
            task = f"{data.get('role', '')} : {data.get('task', '')}".strip(" :")
            task_seconds[task] = task_seconds.get(task, 0.0) + float(data.get("duration") or 0.0)
        return True

    start = time.monotonic()
    with without_secret_env():
        runner = _run(ansible_runner, artifacts, playbook, inventory, options, cmdline, on_event)
    # The final stats are the authority for the counts; the events above give live progress and failure text.
    stats = runner.stats or {}
    for count in ("ok", "changed", "failures", "dark"):
        for host, number in (stats.get(count) or {}).items():
            recap = hosts.setdefault(host, HostRecap())
            name = {"failures": "failed", "dark": "unreachable"}.get(count, count)
            setattr(recap, name, number)
    error = ""
    if runner.rc != 0 and not any(h.failed or h.unreachable for h in hosts.values()):
        with runner.stdout as out:
            lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in out.read().splitlines()]
        error = " ".join(line for line in lines if line)[-500:]
    return RunResult(
        status=runner.status, rc=runner.rc, hosts=hosts, artifacts=Path(runner.config.artifact_dir),
        seconds=time.monotonic() - start, task_seconds=task_seconds, error=error,
    )  # fmt: skip


def _run(
    ansible_runner: Any, artifacts: Path, playbook: str, inventory: Path, options: RunOptions, cmdline: list[str],
    on_event: Callable[[dict[str, Any]], bool],
) -> Any:  # fmt: skip
    return ansible_runner.run(
        private_data_dir=str(artifacts),
        project_dir=str(PLAYBOOKS),
        playbook=str(playbook_path(playbook)),
        inventory=str(inventory.resolve()),
        roles_path=[str(ROLES)],
        tags=options.tags,
        limit=options.limit,
        # ansible-runner splits this string as a shell would: each argument quoted, so a path with a space stays one.
        cmdline=shlex.join(cmdline) or None,
        event_handler=on_event,
        quiet=True,
        forks=options.forks,
        passwords=options.vault.prompts(),
        # No env/ files (extra vars, passwords, settings) written beside the artifacts.
        suppress_env_files=True,
        # ansible-runner keeps facts per run unless given a folder; an absolute path is used as it is.
        fact_cache_type="jsonfile",
        fact_cache=str(_fact_cache()),
        envvars={
            # ansible-runner turns host key checking off unless told otherwise. Checked here; only the sandbox's
            # inventory opts out, per host, in its own ssh arguments.
            "ANSIBLE_HOST_KEY_CHECKING": "True",
            "ANSIBLE_RETRY_FILES_ENABLED": "False",
            # One SSH round trip per task instead of several, and facts gathered once per run, not once per play.
            "ANSIBLE_PIPELINING": "True",
            # Facts gathered once and kept between runs for an hour (the cache below): a re-run does not gather
            # them again.
            "ANSIBLE_GATHERING": "smart",
            "ANSIBLE_CACHE_PLUGIN_TIMEOUT": str(FACT_CACHE_S),
            # Ansible's own ssh arguments, plus keepalives: a host that dies mid-run (power, kernel panic) is
            # reported unreachable within half a minute instead of holding its shared connection open forever.
            "ANSIBLE_SSH_ARGS": "-C -o ControlMaster=auto -o ControlPersist=60s -o ServerAliveInterval=10 "
            "-o ServerAliveCountMax=3",
        },
    )
