"""Check an inventory before anything runs: the groups the playbooks need, and every variable named for one of the
project's roles (base_*, slurm_*, ...) against the roles' argument specs (unknown names, wrong types, choices)."""

from __future__ import annotations

import difflib
import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from lc_cluster.errors import LcError
from lc_cluster.provision.runner import ROLES

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


def load(path: Path) -> dict[str, Any]:
    from ansible_runner.interface import get_inventory

    from lc_cluster.provision.runner import ansible_on_path

    ansible_on_path()
    if not path.exists():
        raise LcError(f"no inventory at {path}")
    out, err = get_inventory("list", [str(path.resolve())], response_format="json", quiet=True)
    if not out:
        raise LcError(f"{path}: ansible cannot read this inventory: {str(err).strip()[:300]}")
    result: dict[str, Any] = out if isinstance(out, dict) else json.loads(out)
    return result


def check(path: Path) -> dict[str, list[str]]:
    """Raise LcError listing every problem; return a summary of the groups when there are none."""
    data = load(path)
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
    if problems:
        raise LcError(f"{path}: " + "; ".join(sorted(set(problems))))
    return {"slurm_controller": controllers, "gpu_nodes": nodes, "login": members("login")}


def hosts(groups: dict[str, list[str]]) -> set[str]:
    """Every host of the groups `check` returned."""
    return {host for members in groups.values() for host in members}


def _type_problem(name: str, value: Any, spec: dict[str, Any]) -> str | None:
    if isinstance(value, str) and "{{" in value:
        return None  # a template: only Ansible can tell its value
    wanted = spec.get("type", "str")
    types = _TYPES.get(wanted, (object,))
    if (wanted == "int" and isinstance(value, bool)) or not isinstance(value, types):
        return f"'{name}' must be of type {wanted}, not {type(value).__name__} ({value!r})"
    if "choices" in spec and value not in spec["choices"]:
        return f"'{name}' must be one of {', '.join(map(str, spec['choices']))}, not {value!r}"
    return None
