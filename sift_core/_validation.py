"""Array checks shared by every public function: clear errors that name the argument.

The scalar checks live in the public :mod:`sift_core.validation` (the adapters use them too).
"""

from __future__ import annotations

from typing import Any

from ._backend import Ops
from .validation import check_choice, check_int, check_positive

__all__ = ["as_float", "as_samples", "check_finite", "check_same_n", "check_choice", "check_int", "check_positive"]


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


