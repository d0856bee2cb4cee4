"""A value for every field a pydantic model declares: what the API server must keep, all of it."""

from __future__ import annotations

import types
import typing
from datetime import datetime
from typing import Any

from pydantic import BaseModel


def sample(annotation: Any, *, with_null: bool = False) -> Any:
    """A JSON value of `annotation`; `with_null`: Optional fields of nested objects are null instead."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return sample(next(a for a in args if a is not type(None)), with_null=with_null)
    if origin is typing.Literal:
        return args[-1]
    if origin is list:
        return [sample(args[0], with_null=with_null)]
    if origin is dict:
        return {"k1": sample(args[1], with_null=with_null)}
    if annotation is Any:
        return {"free": {"form": [1, "two", None]}}
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return model_sample(annotation, with_null=with_null)
    return {str: "text 한국어", int: 3, float: 0.5, bool: True,
            datetime: "2026-11-25T01:02:03.123456+00:00"}[annotation]


def model_sample(model: type[BaseModel], *, with_null: bool = False) -> dict[str, Any]:
    out = {}
    for name, f in model.model_fields.items():
        key = f.alias or name
        optional = type(None) in typing.get_args(f.annotation)
        out[key] = None if (with_null and optional) else sample(f.annotation, with_null=with_null)
    return out
