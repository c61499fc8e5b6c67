"""Which known engine defects (the catalog's quirk table) a plan meets, and what the plan does about each. Pure."""

from __future__ import annotations

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from lc_cluster.catalog.schema import Quirk
from lc_cluster.errors import PlanRefused


def matching(quirks: tuple[Quirk, ...], engine: str, version: str, family: str, mtp: bool) -> list[Quirk]:
    """The entries that hit this plan, each with the fix for this very release (its cheaper fix where measured)."""
    release = Version(version)
    return [
        for_release(q, version)
        for q in quirks
        if q.engine == engine
        and family in q.families
        and SpecifierSet(q.versions).contains(release, prereleases=True)
        and (q.when == "always" or mtp)
    ]


def for_release(quirk: Quirk, version: str) -> Quirk:
    cheaper = quirk.cheaper
    if cheaper is None or version not in cheaper.releases:
        return quirk
    return quirk.model_copy(update={"args": cheaper.args, "cost": cheaper.cost, "cheaper": None})


def verified_note(quirk: Quirk, version: str) -> str:
    """Whether this very release was measured, or the entry is inferred for it from the ones that were."""
    if version in quirk.verified:
        return f"measured on {version}"
    return f"measured on {', '.join(quirk.verified)} only; {version} is inferred, not run"


def quirk_doc(quirk: Quirk, version: str) -> dict[str, object]:
    return {
        "id": quirk.id,
        "action": quirk.action,
        "args": list(quirk.args),
        "env": dict(quirk.env),
        "symptom": quirk.symptom,
        "evidence": quirk.evidence,
        "cost": quirk.cost,
        "verified": verified_note(quirk, version),
    }


def refuse_known_broken(found: list[Quirk], model: str, engine: str, version: str) -> None:
    for quirk in found:
        if quirk.action == "refuse":
            raise PlanRefused(
                "known-broken",
                f"{model} does not run on {engine} {version}: {quirk.symptom} ({quirk.evidence}; "
                f"{verified_note(quirk, version)}): {quirk.instead or 'use another --engine-version'}, or --no-quirks "
                "to plan it anyway",
            )
