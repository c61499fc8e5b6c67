"""Turn pydantic's validation errors into one-line messages that say what to change."""

from __future__ import annotations

import difflib
import json
import types
import typing
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)


def parse(model: type[Model], data: Any) -> Model:
    """DATA, as read from a YAML file, as MODEL, strictly: no `true` for a count, no "off" for a switch, no "8" or
    8.0 for a number (1e20 for a deadline). Through JSON, since pydantic's strict mode refuses the lists YAML gives
    for tuples in Python input and takes them in JSON. Values JSON has no type for (YAML dates) become strings."""
    return model.model_validate_json(json.dumps(data, default=str), strict=True)


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The model class behind a field annotation (X, X | None, tuple[X, ...], dict[str, X]), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, tuple, list, dict):
        for arg in typing.get_args(annotation):
            found = _nested_model(arg)
            if found is not None:
                return found
    return None


def _fields_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    current: type[BaseModel] | None = model
    for part in loc:
        if current is None:
            return []
        if isinstance(part, int) or part not in current.model_fields:
            continue
        current = _nested_model(current.model_fields[part].annotation)
    return list(current.model_fields) if current is not None else []


def describe(error: ValidationError, model: type[BaseModel]) -> str:
    """All problems of one document, joined on '; ', each naming the key path and the fix."""
    problems = []
    for item in error.errors():
        loc = tuple(item["loc"])
        where = ".".join(str(p) for p in loc) or "(top level)"
        if item["type"] == "extra_forbidden":
            allowed = _fields_at(model, loc[:-1])
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (allowed: {', '.join(sorted(allowed))})"
            problems.append(f"unknown key '{where}'{hint}")
        elif item["type"] == "missing":
            problems.append(f"missing key '{where}'")
        else:
            problems.append(f"'{where}': {item['msg']}")
    return "; ".join(problems)
