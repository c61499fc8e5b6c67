"""A layer left out on a re-run (playbooks/converged/) is only as safe as its list of what it manages: every file,
folder, repository file and unit that a role's tasks write or start must be in its playbook's converged_state, or a
drift there would go unrepaired."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from lc_cluster.provision.runner import PLAYBOOKS, ROLES

LAYERS = ["base", "nvidia_driver", "rdma", "slurm", "container_runtime", "monitoring"]
# Modules whose `dest`/`path` is something the role leaves on the host (not a path it only reads: stat, find).
WRITES = {"copy", "template", "file", "lineinfile", "blockinfile", "get_url"}
SERVICES = {"systemd_service", "service", "systemd"}
REPOSITORY_FILES = {
    "deb822_repository": "/etc/apt/sources.list.d/{}.sources",
    "yum_repository": "/etc/yum.repos.d/{}.repo",
}


def _tasks(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, list):
        return [t for item in node for t in _tasks(item)]
    if isinstance(node, dict):
        nested = [t for key in ("block", "rescue", "always") for t in _tasks(node.get(key, []))]
        return [node, *nested]
    return []


def _managed(role: str) -> tuple[set[str], set[str]]:
    """Each path and unit the role's tasks write or start, as written there (Jinja unrendered); a loop over a literal
    list is expanded."""
    files: set[str] = set()
    units: set[str] = set()
    for path in sorted((ROLES / role / "tasks").glob("*.yml")):
        for task in _tasks(yaml.safe_load(path.read_text())):
            for key, args in task.items():
                module = key.removeprefix("ansible.builtin.")
                if not isinstance(args, dict):
                    continue
                items = task.get("loop") if isinstance(task.get("loop"), list) else [None]
                for item in items:

                    def expand(value: str, item: Any = item) -> str:
                        return value.replace("{{ item }}", str(item)) if item is not None else value

                    if module in WRITES:
                        files.add(expand(args.get("dest") or args["path"]))
                    elif module in REPOSITORY_FILES:
                        files.add(REPOSITORY_FILES[module].format(args["name"]))
                    elif module in SERVICES:
                        units.add(expand(args["name"]))
    return files, units


def _state(layer: str) -> dict[str, Any]:
    (play,) = yaml.safe_load((PLAYBOOKS / f"{layer}.yml").read_text())
    assert play["vars"]["converged_layer"] == layer
    return dict(play["vars"]["converged_state"])


@pytest.mark.parametrize("layer", LAYERS)
def test_every_file_and_unit_the_role_manages_is_read_before_its_layer_is_left_out(layer: str) -> None:
    files, units = _managed(layer)
    state = _state(layer)
    assert files, f"found nothing that {layer} writes: the walk over its tasks is broken"
    assert files - set(state["files"]) == set(), f"{layer} writes these, and converged_state.files lacks them"
    assert units - set(state.get("units", [])) == set(), f"{layer} starts these, and converged_state.units lacks them"


def test_the_walk_finds_a_file_written_in_a_loop_and_a_repository() -> None:
    # The control: a task the walk must see (loop expansion), and one whose file it derives (a repository).
    files, _ = _managed("base")
    assert "/etc/systemd/system/slurmd.service.d/lc-limits.conf" in files
    assert "/etc/yum.repos.d/lc-mirror.repo" in files
    assert "/etc/apt/sources.list.d/nvidia-cuda.sources" in _managed("nvidia_driver")[0]


def test_every_layer_but_the_verifying_ones_checks_and_records_its_state() -> None:
    layers = {p.stem for p in PLAYBOOKS.glob("*.yml")} - {"site"}
    for layer in layers:
        (play,) = yaml.safe_load((PLAYBOOKS / f"{layer}.yml").read_text())
        around = play.get("pre_tasks", []) + play.get("post_tasks", [])
        imported = [t.get("ansible.builtin.import_tasks") for t in around]
        # node_facts reads the node and model_cache verifies the weights: both must run every time.
        expected = [] if layer in ("node_facts", "model_cache") else ["converged/check.yml", "converged/record.yml"]
        assert imported == expected, layer
    assert set(LAYERS) == layers - {"node_facts", "model_cache"}
