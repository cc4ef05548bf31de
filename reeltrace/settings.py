"""Variants of a frozen config by name: ``NAME=VALUE`` settings applied by
``dataclasses.replace``, for the scripts that measure a variant of one chain
(``scripts/audio_variants.py``, ``scripts/scan_variant.py``) without patching globals."""

from __future__ import annotations

import ast
import dataclasses
from typing import TypeVar

C = TypeVar("C")


def with_settings(config: C, settings: list[str]) -> C:
    """``config`` with each ``NAME=VALUE`` of ``settings`` applied by
    ``dataclasses.replace``; dotted names reach nested fields (``match.max_candidates=400`` of an
    ``AudioConfig``, ``layouts.step_sides=False`` of a ``VideoConfig``). A value is read as the
    field's current type (a tuple as a Python literal). Raises ValueError for unknown
    names and unreadable values."""
    for item in settings:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"{item!r}: expected NAME=VALUE")
        config = _replace_path(config, name.split("."), value, name)
    return config


def _replace_path(obj, path: list[str], value: str, name: str):
    head, rest = path[0], path[1:]
    if head not in {f.name for f in dataclasses.fields(obj)}:
        raise ValueError(f"no setting {name!r} (no field {head!r} in {type(obj).__name__})")
    current = getattr(obj, head)
    if rest:
        if not dataclasses.is_dataclass(current):
            raise ValueError(f"no setting {name!r} ({head!r} has no fields)")
        new = _replace_path(current, rest, value, name)
    elif dataclasses.is_dataclass(current):
        raise ValueError(f"{name!r} is a group of settings: name one of its fields")
    elif isinstance(current, bool):
        if value.lower() not in ("true", "false", "1", "0"):
            raise ValueError(f"{name!r}: {value!r} is not a boolean")
        new = value.lower() in ("true", "1")
    elif isinstance(current, tuple):
        try:
            new = tuple(ast.literal_eval(value))
        except (ValueError, SyntaxError, TypeError):
            raise ValueError(f"{name!r}: {value!r} is not a tuple literal") from None
    else:
        try:
            new = type(current)(value)
        except ValueError:
            raise ValueError(f"{name!r}: {value!r} is not a {type(current).__name__}") from None
    return dataclasses.replace(obj, **{head: new})
