"""`lc-cluster mirror build`: the packages (and wheels) an air-gapped cluster needs, in one directory to serve."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from lc_cluster.cli.options import JsonFlag
from lc_cluster.cli.output import console, emit_json
from lc_cluster.schemas import versioned

mirror_app = typer.Typer(help="Package mirror for clusters without internet access.", no_args_is_help=True)


@mirror_app.command()
def build(
    out: Annotated[Path, typer.Argument(help="Directory to write (debian/, nvidia/, wheels/); serve it over HTTP.")],
    root: Annotated[
        Path | None,
        typer.Option("--root", help="System tree of the hosts' release (default: a cached Debian bookworm)."),
    ] = None,
    package: Annotated[
        list[str] | None, typer.Option("--package", "-p", help="Extra distribution package (repeatable).")
    ] = None,
    deb: Annotated[
        list[Path] | None,
        typer.Option("--deb", help="Vendor .deb for the signed nvidia/ repository, e.g. NVIDIA's (repeatable)."),
    ] = None,
    standins: Annotated[
        bool, typer.Option("--standins", help="Add stand-ins for NVIDIA's packages (test clusters without GPUs).")
    ] = False,
    wheel: Annotated[
        list[str] | None, typer.Option("--wheel", "-w", help="pip requirement to download into wheels/ (repeatable).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Collect the distribution packages the roles install (with all they need), vendor .debs and wheels."""
    import os

    from packaging.requirements import InvalidRequirement, Requirement

    from lc_cluster import validate
    from lc_cluster.errors import LcError
    from lc_cluster.paths import cache_home, state_home
    from lc_cluster.provision import mirror

    # Everything is checked before anything is written; a value that reads as an option (`-p --root X`) is refused,
    # else a misplaced flag would start a download of hundreds of megabytes into the wrong folder.
    for name in package or []:
        validate.option(validate.DEB_PACKAGE, "--package", name, "a Debian package name such as rdma-core")
    for requirement in wheel or []:
        try:
            Requirement(requirement)
        except InvalidRequirement:
            raise LcError(f"--wheel {requirement!r}: give a pip requirement such as 'vllm==0.22.0'") from None
    if os.path.exists(out) and not os.path.isdir(out):
        raise LcError(f"{out} is a file: give a directory for the mirror")
    # A link is refused, not followed: the package signed and served must be the file named here.
    bad = [str(d) for d in deb or [] if d.suffix != ".deb" or d.is_symlink() or not d.is_file()]
    if bad:
        raise LcError(f"not a .deb file (a link is not followed): {', '.join(bad)}")
    if root is not None and not (root / "var" / "lib" / "dpkg" / "status").is_file():
        raise LcError(f"{root} is not a Debian/Ubuntu system tree (no var/lib/dpkg/status): give the hosts' root")
    mirror.check_writable(out)

    err = console(stderr=True)
    started = time.monotonic()

    def progress(text: str) -> None:
        err.print(f"mirror: {text} ({time.monotonic() - started:.0f} s)", markup=False)

    if root is None:
        from lc_cluster.sandbox import bare

        root = bare.ensure_tools_and_image(cache_home(), progress)
    spec = mirror.MirrorSpec(
        out=out.resolve(), root=root, packages=[*mirror.DISTRO_PACKAGES, *(package or [])],
        vendor_debs=[d.resolve() for d in deb or []], standins=standins, wheels=list(wheel or []),
    )  # fmt: skip
    counts = mirror.build(spec, state_home() / "mirror-signing", progress)
    if as_json:
        emit_json(versioned("mirror", {"out": str(spec.out), "counts": counts}), "mirror")
        return
    serve = f"python3 -m http.server 8080 -d {spec.out}"
    console().print(f"mirror: {spec.out} ready; serve it, e.g. '{serve}'", markup=False)
    console().print(
        "then set base_package_mirror: http://HOST:8080/debian, nvidia_driver_repo_url: http://HOST:8080/nvidia/cuda/, "
        "container_runtime_repo_url: http://HOST:8080/nvidia/container/, and the key that signs them all, "
        f"{spec.out / 'repo.asc'}, as base_package_mirror_key and both *_repo_key_url (the key itself, e.g. "
        f"\"{{{{ lookup('ansible.builtin.file', '{spec.out / 'repo.asc'}') }}}}\", so hosts trust this key and not "
        "whatever the mirror's server says)",
        markup=False,
    )


def register(app: typer.Typer) -> None:
    app.add_typer(mirror_app, name="mirror")
