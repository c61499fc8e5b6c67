"""Check an inventory before anything runs: the groups the playbooks need, and every variable named for one of the
project's roles (base_*, slurm_*, ...) against the roles' argument specs (unknown names, wrong types, choices)."""

from __future__ import annotations

import difflib
import json
import os
import re
import shlex
import subprocess
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from lc_cluster.errors import LcError
from lc_cluster.provision.runner import ROLES, Vault, without_secret_env
from lc_cluster.userfiles import check_yaml

_TYPES: dict[str, tuple[type, ...]] = {"str": (str,), "int": (int,), "bool": (bool,), "dict": (dict,),
                                        "list": (list,), "raw": (object,)}  # fmt: skip


@cache
def role_options() -> dict[str, dict[str, Any]]:
    """Every variable the roles take, from their meta/argument_specs.yml."""
    options: dict[str, dict[str, Any]] = {}
    for spec_file in sorted(ROLES.glob("*/meta/argument_specs.yml")):
        spec = yaml.safe_load(spec_file.read_text())
        options.update(spec["argument_specs"]["main"]["options"])
    return options


def load(path: Path, vault: Vault) -> dict[str, Any]:
    from ansible_runner.interface import get_inventory

    from lc_cluster.provision.runner import ansible_on_path

    ansible_on_path()
    # os.path.exists is False where Path.exists raises (a name too long for the file system).
    if not os.path.exists(path):
        raise LcError(f"no inventory at {path}")
    for yaml_file in _yaml_files(path):
        check_yaml(yaml_file)
    # ansible-runner's own scratch folder would stay behind in /tmp, with the environment it ran in.
    with tempfile.TemporaryDirectory(prefix="lc-inventory-") as scratch, without_secret_env():
        out, err = get_inventory(
            "list", [str(path.resolve())], response_format="json", quiet=True, private_data_dir=scratch,
            suppress_env_files=True, vault_password_file=str(vault.password_file) if vault.password_file else None,
            # A file Ansible cannot parse is an error with its reason, not an inventory without hosts.
            envvars={"ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "True"},
        )  # fmt: skip
    if not out:
        detail = _reason(str(err))
        if "vault" in detail.lower():
            detail += " (pass --vault-password-file FILE or --ask-vault-pass)"
        raise LcError(f"{path}: ansible cannot read this inventory: {detail}")
    result: dict[str, Any] = out if isinstance(out, dict) else json.loads(out)
    return result


_VARS_DIRS = ("group_vars", "host_vars")


def _yaml_files(path: Path) -> list[Path]:
    """The YAML files Ansible reads for this inventory: the file or the folder's files (subfolders too), and what
    group_vars/ and host_vars/ beside it hold (files there may have no extension)."""
    folder = path if path.is_dir() else path.parent
    candidates = [path] if path.is_file() else _files(path)
    for vars_dir in _VARS_DIRS:
        candidates += _files(folder / vars_dir)
    return [
        p for p in dict.fromkeys(candidates)
        if p.suffix in (".yml", ".yaml", ".json") or (not p.suffix and any(d in p.parts for d in _VARS_DIRS))
    ]  # fmt: skip


# An inventory holds tens of files; a folder with far more is a wrong path (-i /), left to Ansible to refuse.
_MAX_FILES = 10_000


def _files(folder: Path) -> list[Path]:
    """Files under FOLDER, without following links; what cannot be read is left to Ansible to name."""
    found: list[Path] = []
    for top, _, names in os.walk(folder):
        found += (Path(top) / n for n in names)
        if len(found) > _MAX_FILES:
            return []
    return sorted(p for p in found if p.is_file())


# A Python warning as the warnings module prints it: "file.py:18: SomeWarning: text", then the source line, indented.
_PYTHON_WARNING = re.compile(r"^.*\b\w+Warning: .*\n(?:[ \t]+\S.*\n)?", re.MULTILINE)
# Ansible prints each plugin's failure, then "<<< caused by >>>" and the reason under it.
_CAUSE = re.compile(r"<<< caused by >>>\s*\n\s*(.+)(?:\nOrigin: (.+))?")


def _reason(stderr: str) -> str:
    """Ansible's reasons on one line: a library's deprecation warning printed first must not crowd them out."""
    text = _PYTHON_WARNING.sub("", stderr)
    # Each plugin reports the same reason: the first, with its place in the file, says it.
    first_place: dict[str, str] = {}
    for why, where in _CAUSE.findall(text):
        first_place.setdefault(why, where)
    causes = [f"{why} (at {where})" if where else why for why, where in first_place.items()]
    return " ".join(("; ".join(causes) if causes else text).split())[:300]


def check(path: Path, vault: Vault | None = None) -> dict[str, list[str]]:
    """Raise LcError listing every problem; return a summary of the groups when there are none."""
    data = load(path, vault or Vault())
    hostvars: dict[str, dict[str, Any]] = data.get("_meta", {}).get("hostvars", {})

    def members(group: str) -> list[str]:
        found = list(data.get(group, {}).get("hosts", []))
        for child in data.get(group, {}).get("children", []):
            found += members(child)
        return found

    problems = []
    controllers, nodes = members("slurm_controller"), members("gpu_nodes")
    if len(controllers) != 1:
        problems.append(f"group slurm_controller needs exactly one host, has {len(controllers)}")
    if not nodes:
        problems.append("group gpu_nodes has no hosts: put the GPU servers there")
    known = role_options()
    prefixes = tuple(f"{role.name}_" for role in ROLES.iterdir() if role.is_dir())
    for host, variables in sorted(hostvars.items()):
        for name, value in sorted(variables.items()):
            if not name.startswith(prefixes):
                continue
            if name not in known:
                close = difflib.get_close_matches(name, list(known), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                problems.append(f"{host}: unknown variable '{name}'{hint}")
                continue
            problem = _type_problem(name, value, known[name])
            if problem:
                problems.append(f"{host}: {problem}")
        problem = _host_key_problem(host, variables)
        if problem:
            problems.append(problem)
    if problems:
        raise LcError(f"{path}: " + "; ".join(sorted(set(problems))))
    return {"slurm_controller": controllers, "gpu_nodes": nodes, "login": members("login")}


def hosts(groups: dict[str, list[str]]) -> set[str]:
    """Every host of the groups `check` returned."""
    return {host for members in groups.values() for host in members}


def _type_problem(name: str, value: Any, spec: dict[str, Any]) -> str | None:
    if isinstance(value, str) and "{{" in value:
        return None  # a template: only Ansible can tell its value
    if isinstance(value, dict) and set(value) == {"__ansible_vault"}:
        return None  # vaulted: checked by the role once Ansible has decrypted it
    shown = "a hidden value" if spec.get("no_log") else repr(value)
    wanted = spec.get("type", "str")
    types = _TYPES.get(wanted, (object,))
    if (wanted == "int" and isinstance(value, bool)) or not isinstance(value, types):
        return f"'{name}' must be of type {wanted}, not {type(value).__name__} ({shown})"
    if "choices" in spec and value not in spec["choices"]:
        return f"'{name}' must be one of {', '.join(map(str, spec['choices']))}, not {shown}"
    return None


def _host_key_problem(host: str, variables: dict[str, Any]) -> str | None:
    """Host keys are checked: a host whose key is not known yet cannot be reached. Say how to collect it."""
    if variables.get("ansible_connection") == "local":
        return None
    ssh_args = f"{variables.get('ansible_ssh_common_args', '')} {variables.get('ansible_ssh_extra_args', '')}"
    if "StrictHostKeyChecking=no" in ssh_args or str(variables.get("ansible_host_key_checking", "")).lower() in (
        "false",
        "no",
        "0",
    ):
        return None  # the inventory opts out for this host (the sandbox's does)
    known = re.search(r"UserKnownHostsFile=(\S+)", ssh_args)
    known_hosts = Path(known.group(1).strip("'\"")).expanduser() if known else Path.home() / ".ssh" / "known_hosts"
    address = str(variables.get("ansible_host", host))
    port_value = variables.get("ansible_port", 22)
    if (
        isinstance(port_value, bool)
        or not re.fullmatch(r"[0-9]{1,5}", str(port_value))
        or not 0 < int(port_value) < 65536
    ):
        return f"{host}: ansible_port {port_value!r} is not a port number (1-65535)"
    port = int(port_value)
    entry = address if port == 22 else f"[{address}]:{port}"
    found = subprocess.run(["ssh-keygen", "-F", entry, "-f", str(known_hosts)], capture_output=True, check=False)
    if found.returncode == 0:
        return None
    return (
        f"{host}: no known host key for {entry} in {known_hosts}: compare its fingerprint with the console's, then "
        # Quoted: the line is for the user to paste, and ansible_host is the inventory's, not theirs.
        f"'ssh-keyscan -p {port} {shlex.quote(address)} >> {shlex.quote(str(known_hosts))}' (or name another file with "
        "-o UserKnownHostsFile=... in ansible_ssh_common_args)"
    )
