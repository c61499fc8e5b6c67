"""Ports every service of a plan holds on each host; none may overlap (a classic multi-node hang)."""

from __future__ import annotations

import itertools

from lc_cluster.errors import PlanRefused
from lc_cluster.planning.rules import PortUse


def check_ports(uses: list[PortUse]) -> None:
    for use in uses:
        if not 1024 <= use.first <= use.last <= 65535:
            raise PlanRefused(
                "port-range",
                f"{use.service} needs ports {use.first}-{use.last}: choose ports between 1024 and 65535",
            )
    # The head holds every service; other nodes only those that run everywhere.
    for host, present in (("head", {"head", "every node"}), ("every node", {"every node"})):
        on_host = sorted((u for u in uses if u.where in present), key=lambda u: u.first)
        for a, b in itertools.pairwise(on_host):
            if b.first <= a.last:
                raise PlanRefused(
                    "port-conflict",
                    f"{a.service} ({_span(a)}) and {b.service} ({_span(b)}) overlap on the "
                    f"{'head node' if host == 'head' else 'nodes'}: move one of them",
                )


def _span(use: PortUse) -> str:
    return f"port {use.first}" if use.first == use.last else f"ports {use.first}-{use.last}"
