"""Pure planning: layouts, memory budget, ports and refusals. No files, network or processes."""

from lc_cluster.planning.layout import Layout
from lc_cluster.planning.memory import MemoryBudget
from lc_cluster.planning.planner import Plan, make_plan
from lc_cluster.planning.request import (
    A2A_BACKENDS,
    Fabric,
    KvWiring,
    Overrides,
    PlanRequest,
    PortOptions,
    Role,
    RoleSpec,
)
from lc_cluster.planning.rules import EngineRules, PortUse

__all__ = [
    "A2A_BACKENDS",
    "EngineRules",
    "Fabric",
    "KvWiring",
    "Layout",
    "MemoryBudget",
    "Overrides",
    "Plan",
    "PlanRequest",
    "PortOptions",
    "PortUse",
    "Role",
    "RoleSpec",
    "make_plan",
]
