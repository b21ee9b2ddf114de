"""Decode JSON values into (nested) frozen dataclasses by their type hints, checking every value on the way."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar, cast

T = TypeVar("T")


class DecodeError(ValueError):
    """The JSON does not match the dataclass; the message names the path to the bad value."""


def decode(cls: type[T], data: object) -> T:
    """Build a `cls` instance from `json.loads` output, checking types and Literal choices."""
    return cast(T, _decode(cls, data, cls.__name__))


def _decode(tp: Any, value: object, path: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _dataclass(tp, value, path)
    if origin in (typing.Union, types.UnionType):
        return _union(typing.get_args(tp), value, path)
    if origin is typing.Literal:
        if value not in typing.get_args(tp):
            raise DecodeError(f"{path}: {value!r} is not one of {typing.get_args(tp)}")
        return value
    if origin is tuple:
        item = typing.get_args(tp)[0]
        return tuple(_decode(item, v, f"{path}[{i}]") for i, v in enumerate(_expect(list, value, path)))
    if origin is dict:
        key, item = typing.get_args(tp)
        mapping = _expect(dict, value, path)
        return {_decode(key, k, path): _decode(item, v, f"{path}.{k}") for k, v in mapping.items()}
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise DecodeError(f"{path}: expected a number, got {value!r}")
    if tp is type(None):
        if value is not None:
            raise DecodeError(f"{path}: expected null, got {value!r}")
        return None
    if tp in (bool, int, str):
        if type(value) is not tp:
            raise DecodeError(f"{path}: expected {tp.__name__}, got {value!r}")
        return value
    raise DecodeError(f"{path}: cannot decode type {tp!r}")


def _expect(kind: type[T], value: object, path: str) -> T:
    if not isinstance(value, kind):
        raise DecodeError(f"{path}: expected a JSON {'array' if kind is list else 'object'}, got {value!r}")
    return value


def _union(args: tuple[Any, ...], value: object, path: str) -> Any:
    if value is None and type(None) in args:
        return None
    options = [a for a in args if a is not type(None)]
    for option in options:
        try:
            return _decode(option, value, path)
        except DecodeError:
            continue
    raise DecodeError(f"{path}: {value!r} matches none of {options}")


def _dataclass(cls: type[Any], value: object, path: str) -> Any:
    mapping = _expect(dict, value, path)
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(mapping) - fields)
    if unknown:
        raise DecodeError(f"{path}: unknown key(s): {', '.join(unknown)}")
    kwargs = {
        name: _decode(hints[name], mapping[name], f"{path}.{name}") for name in fields if name in mapping
    }
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise DecodeError(f"{path}: {exc}") from None
