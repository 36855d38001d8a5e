"""The value checks of spec keys: each error names the key as written in the file."""

from __future__ import annotations

import dataclasses
import numbers
from typing import Any


class SpecError(ValueError):
    """An invalid specification; the message starts with the offending key."""


#: value kinds of :func:`_check` (besides "str", "bool", "int_pos", "int_nonneg", "real" and tuples of choices)
_POS, _NONNEG, _UNIT, _UNIT_OPEN = "pos", "nonneg", "unit", "unit_open"


def _check(value: Any, kind: Any, key: str) -> Any:
    if isinstance(kind, tuple):  # a choice
        if value not in kind:
            raise SpecError(f"{key}: must be one of {', '.join(map(repr, kind))}; got {value!r}")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise SpecError(f"{key}: must be true or false; got {value!r}")
        return value
    if kind == "str":
        if not isinstance(value, str) or not value:
            raise SpecError(f"{key}: must be a non-empty string; got {value!r}")
        return value
    if kind in ("int_pos", "int_nonneg"):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise SpecError(f"{key}: must be an integer; got {value!r}")
        if value < (1 if kind == "int_pos" else 0):
            raise SpecError(f"{key}: must be {'> 0' if kind == 'int_pos' else '>= 0'}; got {value}")
        return int(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise SpecError(f"{key}: must be a number; got {value!r}")
    value = float(value)
    if value != value or value in (float("inf"), float("-inf")):
        raise SpecError(f"{key}: must be finite; got {value}")
    if kind == _POS and value <= 0:
        raise SpecError(f"{key}: must be > 0; got {value}")
    if kind == _NONNEG and value < 0:
        raise SpecError(f"{key}: must be >= 0; got {value}")
    if kind == _UNIT and not 0 <= value <= 1:
        raise SpecError(f"{key}: must be in [0, 1]; got {value}")
    if kind == _UNIT_OPEN and not 0 <= value < 1:
        raise SpecError(f"{key}: must be in [0, 1); got {value}")
    return value


def _table(raw: dict, key: str) -> dict:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise SpecError(f"{key}: must be a table ([{key}])")
    return value


def _fill(cls, raw: dict, prefix: str, checks: dict[str, str]):
    """Build dataclass ``cls`` from ``raw``, rejecting unknown keys and checking each given one."""
    names = [f.name for f in dataclasses.fields(cls)]
    for k in raw:
        if k not in names:
            raise SpecError(f"{prefix}.{k}: unknown key (allowed: {', '.join(names)})")
    values = {}
    for k, v in raw.items():
        check = checks.get(k)
        if isinstance(check, tuple):  # a choice
            if v not in check:
                raise SpecError(f"{prefix}.{k}: must be one of {', '.join(map(repr, check))}; got {v!r}")
        elif check is not None:
            v = _check(v, check, f"{prefix}.{k}")
        values[k] = v
    return cls(**values)


def check_plugin_value(value: Any, key: str) -> Any:
    """A setting of a registered (plugin) defence: a string, a boolean or a finite number (its class
    checks the rest)."""
    if isinstance(value, (str, bool)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return _check(value, "real", key)
    raise SpecError(f"{key}: a registered defence's setting must be a string, a boolean or a number; got {value!r}")
