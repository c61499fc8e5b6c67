"""`lc-cluster inventory check`: groups and variables are checked before any host is touched."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import cli

EXAMPLE = Path(__file__).resolve().parents[2] / "inventory" / "example"
# Any valid public key: the check looks the hosts up, it does not connect.
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILsjWr/VvOj7lgoWJPQvzS+OeJRLLPGWHDwMpTyCY2Tn"
EXAMPLE_ADDRESSES = ("10.0.0.10", "10.0.0.11", "10.0.0.12", "10.0.0.5")


@pytest.fixture(autouse=True)
def known_hosts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A HOME whose known_hosts has the example hosts' keys, as after 'ssh-keyscan' and a fingerprint check."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    path = home / ".ssh" / "known_hosts"
    path.write_text("".join(f"{address} {HOST_KEY}\n" for address in EXAMPLE_ADDRESSES))
    monkeypatch.setenv("HOME", str(home))
    return path


def copy_example(tmp_path: Path) -> Path:
    target = tmp_path / "inventory"
    shutil.copytree(EXAMPLE, target)
    return target


def with_vars(tmp_path: Path, text: str) -> Path:
    """The example inventory with more lines in its group_vars/all.yml, each replacing the example's own line of that
    variable (a key given twice is refused)."""
    inventory = copy_example(tmp_path)
    vars_file = inventory / "group_vars" / "all.yml"
    given = {line.split(":")[0] for line in text.splitlines() if line and not line.startswith(" ")}
    kept = [line for line in vars_file.read_text().splitlines(keepends=True) if line.split(":")[0] not in given]
    vars_file.write_text("".join(kept) + text)
    return inventory


def test_the_example_inventory_passes() -> None:
    result = cli("inventory", "check", "-i", str(EXAMPLE), "--json")
    assert result.returncode == 0, result.stderr
    groups = json.loads(result.stdout)["groups"]
    assert groups == {"slurm_controller": ["head01"], "gpu_nodes": ["gpu01", "gpu02"], "login": ["login01"]}


def test_a_misspelt_variable_names_the_right_one(tmp_path: Path) -> None:
    inventory = with_vars(tmp_path, "slurm_partiton: batch\n")
    result = cli("inventory", "check", "-i", str(inventory))
    assert result.returncode == 2
    assert "unknown variable 'slurm_partiton' (did you mean 'slurm_partition'?)" in result.stderr


def test_wrong_types_and_choices_are_refused(tmp_path: Path) -> None:
    inventory = with_vars(tmp_path, "base_nofile: lots\nslurm_proctrack: proctrack/pgid\n")
    result = cli("inventory", "check", "-i", str(inventory))
    assert result.returncode == 2
    assert "'base_nofile' must be of type int, not str" in result.stderr
    assert "'slurm_proctrack' must be one of proctrack/cgroup, proctrack/linuxproc" in result.stderr


def test_groups_the_playbooks_need(tmp_path: Path) -> None:
    inventory = copy_example(tmp_path)
    hosts = inventory / "hosts.yml"
    hosts.write_text("all:\n  children:\n    gpu_nodes:\n      hosts:\n        gpu01: {}\n")
    result = cli("inventory", "check", "-i", str(inventory))
    assert result.returncode == 2
    assert "group slurm_controller needs exactly one host, has 0" in result.stderr


def test_up_refuses_a_bad_inventory_before_running_anything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inventory = with_vars(tmp_path, "slurm_munge_keys: abc\n")
    state = tmp_path / "state"
    monkeypatch.setenv("LC_CLUSTER_STATE", str(state))
    result = cli("up", "-i", str(inventory))
    assert result.returncode == 2
    assert "did you mean 'slurm_munge_key'" in result.stderr
    assert not (state / "ansible").exists()


def test_a_choice_that_mixes_words_and_booleans(tmp_path: Path) -> None:
    ok = cli("inventory", "check", "-i", str(with_vars(tmp_path / "a", "nvidia_driver_fabric_manager: true\n")))
    assert ok.returncode == 0, ok.stderr
    bad = cli("inventory", "check", "-i", str(with_vars(tmp_path / "b", "nvidia_driver_fabric_manager: sometimes\n")))
    assert bad.returncode == 2
    assert "'nvidia_driver_fabric_manager' must be one of auto, True, False, not 'sometimes'" in bad.stderr


def test_a_host_without_a_known_key_is_named_with_how_to_collect_it(tmp_path: Path, known_hosts: Path) -> None:
    known_hosts.write_text("".join(f"{a} {HOST_KEY}\n" for a in EXAMPLE_ADDRESSES if a != "10.0.0.5"))
    result = cli("inventory", "check", "-i", str(EXAMPLE))
    assert result.returncode == 2
    assert "login01: no known host key for 10.0.0.5" in result.stderr
    assert f"ssh-keyscan -p 22 10.0.0.5 >> {known_hosts}" in result.stderr
    assert "gpu01" not in result.stderr


def test_vaulted_values_pass_and_secret_values_are_never_shown(tmp_path: Path) -> None:
    password = tmp_path / "vault-pass"
    password.write_text("pw\n")
    vaulted = subprocess.run(["ansible-vault", "encrypt_string", "--vault-password-file", str(password),
                              "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0", "--name", "slurm_munge_key"],
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
    inventory = with_vars(tmp_path, vaulted)
    assert cli("inventory", "check", "-i", str(inventory)).returncode == 0
    assert cli("inventory", "check", "-i", str(inventory), "--vault-password-file", str(password)).returncode == 0

    listed = with_vars(tmp_path / "b", "model_cache_hf_token: [hf_listed_secret_value]\n")
    result = cli("inventory", "check", "-i", str(listed))
    assert result.returncode == 2 and "model_cache_hf_token" in result.stderr
    assert "hf_listed_secret_value" not in result.stderr + result.stdout


def test_broken_yaml_is_reported_with_the_parse_error_not_as_no_hosts(tmp_path: Path) -> None:
    inventory = copy_example(tmp_path)
    (inventory / "hosts.yml").write_text("all:\n  children:\n    gpu_nodes:\n      hosts: [gpu01, gpu02\n")
    result = cli("inventory", "check", "-i", str(inventory))
    assert result.returncode == 2
    assert "YAML parsing failed" in result.stderr and "needs exactly one host" not in result.stderr


def test_a_run_that_fails_before_any_host_shows_ansibles_error(tmp_path: Path) -> None:
    """No host is touched: the limit matches none, and Ansible says so instead of an empty table."""
    env = {**os.environ, "LC_CLUSTER_STATE": str(tmp_path / "state")}
    done = subprocess.run([sys.executable, "-m", "lc_cluster", "up", "-i", str(EXAMPLE), "--limit", "nosuchhost",
                           "--json"], capture_output=True, text=True, env=env, timeout=300, check=False)  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "no hosts to target" in json.loads(done.stdout)["error"]


def test_a_librarys_deprecation_warning_does_not_crowd_out_ansibles_reason() -> None:
    """CI's cryptography warned about DSA ahead of Ansible's error: the one-line reason is still Ansible's."""
    from lc_cluster.provision.inventory import _reason

    warning = ("/venv/site-packages/ansible/_internal/_ssh/_ssh_agent.py:18: CryptographyDeprecationWarning:"
               " DSA is deprecated and support will be removed in a future release.\n"
               "  from cryptography.hazmat.primitives.asymmetric.dsa import (\n")  # fmt: skip
    ansible = ("[WARNING]: Failed to parse inventory with 'auto' plugin: YAML parsing failed.\n\n<<< caused by >>>\n\n"
               "YAML parsing failed: did not find expected ',' or ']'.\nOrigin: /inv/hosts.yml:5:1\n\n"
               "[ERROR]: Completely failed to parse inventory source /inv/hosts.yml\n")  # fmt: skip
    reason = _reason(warning * 3 + ansible)
    assert reason == "YAML parsing failed: did not find expected ',' or ']'. (at /inv/hosts.yml:5:1)"
    assert _reason("[ERROR]: no inventory\n") == "[ERROR]: no inventory"


def test_a_vault_password_file_is_one_argument_whatever_its_name(tmp_path: Path) -> None:
    """A path with a space and an option in it ('vp --list-hosts') reaches Ansible as that one file: split, it named
    another file and added --list-hosts, and the run exited 0 without running."""
    password = tmp_path / "vp --list-hosts"
    password.write_text("pw\n")
    env = {**os.environ, "LC_CLUSTER_STATE": str(tmp_path / "state")}
    done = subprocess.run([sys.executable, "-m", "lc_cluster", "up", "-i", str(EXAMPLE), "--limit", "nosuchhost",
                           "--vault-password-file", str(password), "--json"], capture_output=True, text=True, env=env,
                          timeout=300, check=False)  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "no hosts to target" in json.loads(done.stdout)["error"]


# The last two: full-width digits, and a YAML boolean.
@pytest.mark.parametrize("port", ["twenty-two", "0", "70000", "\uff12\uff12", True])
def test_a_port_that_is_no_port_is_named(tmp_path: Path, port: object) -> None:
    inventory = copy_example(tmp_path)
    (inventory / "host_vars").mkdir()
    (inventory / "host_vars" / "gpu01.yml").write_text(f"ansible_port: {json.dumps(port)}\n")
    result = cli("inventory", "check", "-i", str(inventory))
    assert result.returncode == 2 and "gpu01: ansible_port" in result.stderr and "is not a port number" in result.stderr
    assert "internal error" not in result.stderr


def test_the_host_key_hint_quotes_what_the_inventory_gave(tmp_path: Path) -> None:
    inventory = copy_example(tmp_path)
    (inventory / "host_vars").mkdir()
    (inventory / "host_vars" / "gpu01.yml").write_text("ansible_host: '10.0.0.99;touch /tmp/x'\n")
    result = cli("inventory", "check", "-i", str(inventory))
    assert result.returncode == 2 and "ssh-keyscan -p 22 '10.0.0.99;touch /tmp/x' >>" in result.stderr
