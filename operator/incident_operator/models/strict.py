"""Which keys of a JSON document a model does not know (the models ignore extras; a user handing a
file to `incident-operator analyze` must hear about them instead)."""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel


def _models(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation can hold (through Optional, list, dict values)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out: list[type[BaseModel]] = []
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is dict and len(args) == 2:
        return _models(args[1])
    if origin in (list, tuple, set, typing.Union, types.UnionType) or origin is not None:
        for a in args:
            out += _models(a)
    return out


def _is_dict(annotation: Any) -> bool:
    """dict[...] or an Optional of it (a map of models, not a model)."""
    origin = typing.get_origin(annotation)
    if origin is dict:
        return True
    return origin in (typing.Union, types.UnionType) and any(_is_dict(a) for a in typing.get_args(annotation))


def unknown_fields(model: type[BaseModel], data: Any, path: str = "") -> list[str]:
    """Dotted paths of the keys in `data` that `model` has no field for (by name or alias)."""
    if not isinstance(data, dict):
        return []
    fields = model.model_fields
    by_key: dict[str, Any] = {}
    for name, f in fields.items():
        by_key[name] = f
        if f.alias:
            by_key[f.alias] = f
        gen = model.model_config.get("alias_generator")
        if gen:
            by_key[gen(name) if callable(gen) else name] = f
    out: list[str] = []
    for key, value in data.items():
        f = by_key.get(key)
        where = f"{path}.{key}" if path else key
        if f is None:
            out.append(where)
            continue
        for sub in _models(f.annotation):
            if isinstance(value, list):
                for i, item in enumerate(value):
                    out += unknown_fields(sub, item, f"{where}[{i}]")
            elif isinstance(value, dict) and _is_dict(f.annotation):
                for k, item in value.items():
                    out += unknown_fields(sub, item, f"{where}.{k}")
            else:
                out += unknown_fields(sub, value, where)
            break
    return out
