"""Lossless round trips of records through JSON types.

``Record.to_dict`` gives dicts, lists, numbers and strings (numpy arrays keep dtype and
shape, floats are not rounded, dict keys become strings); ``Record.from_dict`` rebuilds an
equal record from them, reading the field types to restore nested records, arrays and
integer keys. What users see (rounded, public fields only) is made by ``report.formats``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from functools import cache
from typing import Any, TypeVar

import numpy as np

R = TypeVar("R", bound="Record")


class Record:
    """Mixin for dataclasses: ``to_dict`` gives JSON types (dicts, lists, numbers,
    strings), ``from_dict`` rebuilds an equal record from them, nested records and
    numpy arrays included."""

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _encode(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls: type[R], data: dict[str, Any]) -> R:
        hints = _hints(cls)
        known = {f.name for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
        return cls(**{k: _decode(hints[k], v) for k, v in data.items() if k in known})


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _encode(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, np.ndarray):
        return {"dtype": value.dtype.str, "shape": list(value.shape), "values": value.ravel().tolist()}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    return value


def _decode(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(options) == 1:
            return _decode(options[0], value)
        for option in options:  # a union of records: the one whose fields fit
            if isinstance(option, type) and issubclass(option, Record) and isinstance(value, dict):
                if set(value) <= {f.name for f in dataclasses.fields(option)}:  # type: ignore[arg-type]
                    return option.from_dict(value)
        return value
    if origin is list:
        (item,) = typing.get_args(tp) or (Any,)
        return [_decode(item, v) for v in value]
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(args[0], v) for v in value)
        return tuple(_decode(a, v) for a, v in zip(args, value)) if args else tuple(value)
    if origin is dict:
        key, item = typing.get_args(tp) or (str, Any)
        return {_decode(key, k): _decode(item, v) for k, v in value.items()}
    if tp is np.ndarray:
        return np.asarray(value["values"], dtype=np.dtype(value["dtype"])).reshape(value["shape"])
    if isinstance(tp, type) and issubclass(tp, Record):
        return tp.from_dict(value)
    if tp is int:
        return int(value)
    if tp is float:
        return float(value)
    return value
