"""Command-line interface: printing and argument parsing only; decisions live in planning and engines."""

from lc_cluster.cli.app import build, main

__all__ = ["build", "main"]
