"""Checks of scalar settings, shared by the core, sift_torch and sift_keras.

One rule everywhere: a wrong type is a ``TypeError``, a wrong value a ``ValueError``, and both
name the argument. Booleans are not numbers here (``True`` is not a learning rate), NaN is never
valid, and infinity only where a caller says so (``allow_inf``).

>>> check_positive(0.01, "lr")
0.01
>>> check_int(3, "epochs", minimum=1)
3
"""

from __future__ import annotations

import math
import numbers
from typing import Any

__all__ = ["check_int", "check_positive", "check_non_negative", "check_positive_int", "check_choice"]


def check_int(value: Any, name: str, minimum: int | None = None, *, maximum: int | None = None) -> int:
    """``value`` as an int, at least ``minimum`` and at most ``maximum`` when given."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer; got {type(value).__name__}")
    n = int(value)
    if minimum is not None and n < minimum:
        raise ValueError(f"{name} must be at least {minimum}; got {n}")
    if maximum is not None and n > maximum:
        raise ValueError(f"{name} must be at most {maximum}; got {n}")
    return n


def check_positive_int(value: Any, name: str) -> int:
    """``value`` as an int >= 1."""
    return check_int(value, name, 1)


def check_positive(value: Any, name: str, *, allow_zero: bool = False, allow_inf: bool = False) -> float:
    """``value`` as a float > 0 (>= 0 with ``allow_zero``), finite unless ``allow_inf``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {type(value).__name__}")
    v = float(value)
    if math.isnan(v) or not (v >= 0 if allow_zero else v > 0) or (math.isinf(v) and not allow_inf):
        which = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name} must be {which}{'' if allow_inf else ' and finite'}; got {value!r}")
    return v


def check_non_negative(value: Any, name: str) -> float:
    """``value`` as a finite float >= 0."""
    return check_positive(value, name, allow_zero=True)


def check_choice(value: Any, name: str, choices: tuple) -> Any:
    """``value`` when it is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}; got {value!r}")
    return value
