"""Load the built-in catalogs and the user's own model files, strictly."""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from lc_cluster import validate
from lc_cluster.catalog.schema import GpuFile, GpuSpec, ModelSpec, Quirk, QuirkFile
from lc_cluster.errors import CatalogError
from lc_cluster.paths import config_home
from lc_cluster.strict import describe, parse
from lc_cluster.userfiles import read_yaml

BUILTIN = Path(__file__).parent
USER_MODELS_ENV = "LC_CLUSTER_MODELS"


def user_model_dirs() -> list[Path]:
    """Where users drop their own model files: $LC_CLUSTER_MODELS (a path list), else models/ in the config home."""
    configured = os.environ.get(USER_MODELS_ENV)
    if configured is not None:
        return [Path(p) for p in configured.split(os.pathsep) if p]
    return [config_home() / "models"]


def _read_yaml(path: Path) -> dict[str, Any]:
    data = read_yaml(path, CatalogError)
    if not isinstance(data, dict):
        raise CatalogError(f"{path}: expected a mapping of keys to values at the top level")
    return data


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _resolve(
    name: str, raw: dict[str, dict[str, Any]], origin: dict[str, Path], seen: tuple[str, ...]
) -> dict[str, Any]:
    doc = dict(raw[name])
    parent = doc.pop("extends", None)
    if parent is None:
        return doc
    if parent in seen:
        raise CatalogError(f"{origin[name]}: 'extends' forms a loop: {' -> '.join((*seen, parent))}")
    if parent not in raw:
        close = difflib.get_close_matches(str(parent), list(raw), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise CatalogError(f"{origin[name]}: extends unknown model '{parent}'{hint}")
    return _merge(_resolve(parent, raw, origin, (*seen, parent)), doc)


@dataclass(frozen=True)
class Catalog:
    models: dict[str, ModelSpec]
    gpus: dict[str, GpuSpec]
    quirks: tuple[Quirk, ...] = ()

    def model(self, ref: str) -> ModelSpec:
        """A model by catalog name, alias or source (hub id), case-insensitively."""
        if not validate.MODEL_REF.fullmatch(ref) or ".." in ref.split("/"):
            raise CatalogError(
                f"model '{ref}' contains characters that are not allowed: use a catalog name or a hub id "
                "(letters, digits, '.', '_', '-', '/')"
            )
        wanted = ref.lower()
        for spec in self.models.values():
            if wanted in {spec.name, spec.source.lower(), *(a.lower() for a in spec.aliases)}:
                return spec
        close = difflib.get_close_matches(wanted, list(self.models), n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise CatalogError(
            f"unknown model '{ref}': {hint}run 'lc-cluster models' for the catalog, or describe it in a model file "
            f"in {user_model_dirs()[0]}"
        )

    def gpu(self, ref: str) -> GpuSpec:
        wanted = ref.lower()
        for spec in self.gpus.values():
            if wanted in {spec.name.lower(), *(a.lower() for a in spec.aliases)}:
                return spec
        names = list(self.gpus)
        close = difflib.get_close_matches(ref.upper(), names, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise CatalogError(f"unknown GPU '{ref}': {hint}known: {', '.join(names)}")


def load_catalog(extra_model_files: tuple[Path, ...] = ()) -> Catalog:
    return _load(tuple(user_model_dirs()), extra_model_files)


@cache
def _load(user_dirs: tuple[Path, ...], extra_files: tuple[Path, ...]) -> Catalog:
    files = sorted((BUILTIN / "models").glob("*.yaml"))
    for folder in user_dirs:
        if folder.is_dir():
            files.extend(sorted(folder.glob("*.yaml")))
    files.extend(extra_files)

    raw: dict[str, dict[str, Any]] = {}
    origin: dict[str, Path] = {}
    for path in files:
        doc = _read_yaml(path)
        name = doc.get("name")
        if not isinstance(name, str):
            raise CatalogError(f"{path}: missing key 'name'")
        if name in raw:
            raise CatalogError(f"{path}: model '{name}' is already defined in {origin[name]}: rename one of them")
        raw[name] = doc
        origin[name] = path

    models: dict[str, ModelSpec] = {}
    for name in raw:
        try:
            models[name] = parse(ModelSpec, _resolve(name, raw, origin, (name,)))
        except ValidationError as exc:
            raise CatalogError(f"{origin[name]}: {describe(exc, ModelSpec)}") from None

    gpu_path = BUILTIN / "gpus.yaml"
    try:
        gpu_file = parse(GpuFile, _read_yaml(gpu_path))
    except ValidationError as exc:
        raise CatalogError(f"{gpu_path}: {describe(exc, GpuFile)}") from None
    quirk_path = BUILTIN / "quirks.yaml"
    try:
        quirk_file = parse(QuirkFile, _read_yaml(quirk_path))
    except ValidationError as exc:
        raise CatalogError(f"{quirk_path}: {describe(exc, QuirkFile)}") from None
    return Catalog(models=models, gpus={g.name: g for g in gpu_file.gpus}, quirks=quirk_file.quirks)
