"""Reading and writing the manifest's records (:mod:`ijepa_deploy.records`), derived from their
dataclass fields as timm's ``PretrainedCfg`` does, with field metadata for what differs: a JSON key
that is not the field's name (``"class"``, ``"for"``), a null kept in the JSON, or the value a null
parity statistic stands for.

``from_dict`` trusts its input: :func:`ijepa_deploy.manifest_schema.check_manifest` has already
checked it against ``schema/manifest.schema.json`` (keys, types, enums, ranges). Optional keys
(fields that default to None) are left out of the JSON when unset, so the files keep the shape
exporters have always written. Non-finite parity statistics (a candidate that produced NaN/inf) are
written as ``null``: strict JSON that the C++ runtime's parser accepts, read back as NaN / inf.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any

JSON = dict[str, Any]


# Field metadata: a JSON key that is not the field's name; a null kept in the JSON; the value a
# null statistic stands for (written as null when not finite).
KEEP_NULL = {"keep_null": True}
NULL_IS_NAN = {"null": math.nan}
NULL_IS_INF = {"null": math.inf}


class Record:
    """Base of the records: ``to_dict`` / ``from_dict`` from the dataclass fields."""

    def to_dict(self) -> JSON:
        data: JSON = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if value is None and f.default is None and not f.metadata.get("keep_null"):
                continue  # optional and unset: absent, not null
            if "null" in f.metadata and not math.isfinite(value):
                value = None
            data[f.metadata.get("json", f.name)] = _encode(value)
        return data

    @classmethod
    def from_dict(cls, data: JSON):
        hints = _hints(cls)
        values = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            name = f.metadata.get("json", f.name)
            if name not in data:
                continue  # the field's default
            value = data[name]
            if value is None and "null" in f.metadata:
                values[f.name] = f.metadata["null"]
            else:
                values[f.name] = _decode(hints[f.name], value)
        return cls(**values)


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _encode(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    return value


def _decode(hint: Any, value: Any) -> Any:
    """``value`` from JSON as the type ``hint`` names (records, lists and dicts of them, numbers)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return None if value is None else _decode(next(a for a in args if a is not type(None)), value)
    if origin is list:
        return [_decode(args[0], v) for v in value]
    if origin is dict:
        return {k: _decode(args[1], v) for k, v in value.items()}
    if isinstance(hint, type) and issubclass(hint, Record):
        return hint.from_dict(value)
    if hint in (int, float, bool):
        return hint(value)
    return value
