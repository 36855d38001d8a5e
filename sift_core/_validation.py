"""Input checks shared by every public function: clear errors that name the argument."""

from __future__ import annotations

from typing import Any

from ._backend import Ops


def as_float(ops: Ops, x: Any, name: str) -> Any:
    """``ops.asfloat(x)`` with the argument's name in any conversion error."""
    try:
        return ops.asfloat(x)
    except TypeError as exc:
        raise TypeError(f"{name}: {exc}") from None
    except ValueError as exc:  # e.g. ragged nested lists
        raise ValueError(f"{name}: {exc}") from None


def as_samples(ops: Ops, x: Any, name: str, *, min_n: int = 1, ndim_min: int = 1) -> Any:
    """Convert ``x`` to a float (n, d) matrix: rows are samples, the rest is flattened.

    A 1-D input of length n is n samples of one dimension.  Integer and boolean
    input is cast to float (float64 for numpy: large values never overflow).
    """
    x = as_float(ops, x, name)
    shape = ops.shape(x)
    need = max(ndim_min, 1)
    if len(shape) < need:
        raise ValueError(f"{name} must have at least {need} dimension(s) (samples first); got shape {shape}")
    n = shape[0]
    if n is not None and n < min_n:
        raise ValueError(f"{name} needs at least {min_n} samples for this statistic; got {n}")
    if len(shape) == 1:
        x = ops.reshape(x, (-1, 1))
    elif len(shape) > 2:
        x = ops.flatten_from(x, 1)
    if any(s == 0 for s in shape[1:]):
        raise ValueError(f"{name} has no features per sample; got shape {shape}")
    check_finite(ops, x, name)
    return x


def check_finite(ops: Ops, x: Any, name: str) -> None:
    if ops.eager and not ops.is_finite_all(x):
        raise ValueError(f"{name} contains NaN or infinite values")


def check_same_n(ops: Ops, x: Any, z: Any, names: tuple[str, str] = ("x", "z")) -> None:
    nx, nz = ops.shape(x)[0], ops.shape(z)[0]
    if nx is not None and nz is not None and nx != nz:
        raise ValueError(f"{names[0]} and {names[1]} must have the same number of samples; got {nx} and {nz}")


def check_choice(value: Any, name: str, choices: tuple) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}; got {value!r}")


def check_positive(value: Any, name: str, *, allow_zero: bool = False) -> None:
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {type(value).__name__}")
    v = float(value)
    if not (v >= 0 if allow_zero else v > 0) or v != v:
        raise ValueError(f"{name} must be {'non-negative' if allow_zero else 'positive'}; got {value!r}")


def check_int(value: Any, name: str, *, minimum: int) -> int:
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer; got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}; got {value}")
    return int(value)
