"""Which known engine defects (the catalog's quirk table) a plan meets, and what the plan does about each. Pure."""

from __future__ import annotations

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from lc_cluster.catalog.schema import Quirk
from lc_cluster.errors import PlanRefused


def matching(
    quirks: tuple[Quirk, ...], engine: str, version: str, family: str, mtp: bool, args: tuple[str, ...] = ()
) -> list[Quirk]:
    """The entries that hit this plan (ARGS: what its command adds to the planned flags, the recipe's and
    --engine-arg's), each with the fix for this very release (its cheaper fix where measured)."""
    release = Version(version)
    given = given_flags(args)
    return [
        for_release(q, version)
        for q in quirks
        if q.engine == engine
        and family in q.families
        and SpecifierSet(q.versions).contains(release, prereleases=True)
        and (q.when == "always" or (q.when == "mtp" and mtp) or (q.when == "flags" and not given.isdisjoint(q.flags)))
    ]


def given_flags(args: tuple[str, ...]) -> set[str]:
    """Each flag of ARGS as '--flag' and, where a value follows it ('--flag value' or '--flag=value'), also as
    '--flag=value'; underscores read as dashes, as the engines' parsers read them."""
    given: set[str] = set()
    for at, arg in enumerate(args):
        if not arg.startswith("--"):
            continue
        name, eq, value = arg.partition("=")
        name = name.replace("_", "-")
        given.add(name)
        follows = args[at + 1] if at + 1 < len(args) else None
        if eq:
            given.add(f"{name}={value}")
        elif follows is not None and not follows.startswith("--"):
            given.add(f"{name}={follows}")
    return given


def for_release(quirk: Quirk, version: str) -> Quirk:
    cheaper = quirk.cheaper
    if cheaper is None or version not in cheaper.releases:
        return quirk
    return quirk.model_copy(update={"args": cheaper.args, "cost": cheaper.cost, "cheaper": None})


def verified_note(quirk: Quirk, version: str) -> str:
    """Whether this very release was measured, or the entry is inferred for it from the ones that were."""
    seen = "measured on" if quirk.basis == "run" else "read in the released code of"
    if version in quirk.verified:
        return f"{seen} {version}"
    return f"{seen} {', '.join(quirk.verified)} only; {version} is inferred, not run"


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
            given = f" with {' or '.join(quirk.flags)}" if quirk.flags else ""
            raise PlanRefused(
                "known-broken",
                f"{model} does not run on {engine} {version}{given}: {quirk.symptom} ({quirk.evidence}; "
                f"{verified_note(quirk, version)}): {quirk.instead or 'use another --engine-version'}, or --no-quirks "
                "to plan it anyway",
            )
