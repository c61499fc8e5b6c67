"""Where lc-cluster keeps its files. Each has an environment variable so tests and users can move it."""

from __future__ import annotations

import os
from pathlib import Path


def _dir(env: str, default: Path) -> Path:
    value = os.environ.get(env)
    return Path(value) if value else default


def config_home() -> Path:
    """Cluster files (clusters/NAME.yaml)."""
    return _dir("LC_CLUSTER_HOME", Path.home() / ".config" / "lc-cluster")


def state_home() -> Path:
    """Job records and the sandbox's running state."""
    return _dir("LC_CLUSTER_STATE", Path.home() / ".local" / "state" / "lc-cluster")


def cache_home() -> Path:
    """What is slow to make and safe to keep: the sandbox's engine venv, its tiny model."""
    return _dir("LC_CLUSTER_CACHE", Path.home() / ".cache" / "lc-cluster")
