"""Array operations for numpy, PyTorch, TensorFlow and JAX, chosen by the array's type.

Every formula in ``sift_core`` is written once against the small interface of
:class:`Ops`.  The backend of an argument is recognised from the module of its
type (``torch``, ``tensorflow``, ``keras``, ``jax``) *without importing any
framework*: a tensor can only exist if its framework is already in
``sys.modules``, so we look the module up there.  This keeps ``import
sift_core`` free of frameworks, while a torch tensor passed in gets torch
operations (autograd, device and all).

Precision policy: the pairwise statistics cast their inputs to the
accumulation dtype (``to_acc``: float64 wherever the device supports it) before
the Gram products, because distances from ``|a|^2 + |b|^2 - 2 a.b`` lose about
half their digits in float32; results are cast back to the input's dtype.
numpy inputs are computed in float64 throughout and returned as numpy float64
scalars/arrays.
"""

from __future__ import annotations

import sys
from typing import Any

from ._jax import JaxOps
from ._numpy import Ops
from ._tensorflow import TensorFlowOps
from ._torch import TorchOps
from ._unwrap import _keras_kind, _root_module, unwrap

__all__ = ["Ops", "get_ops", "NUMPY", "TorchOps", "TensorFlowOps", "JaxOps", "unwrap"]

NUMPY = Ops()
_CACHE: dict[str, Ops] = {}


def get_ops(*arrays: Any) -> Ops:
    """Return the :class:`Ops` for the arrays' framework (numpy for anything else).

    All arrays must come from the same framework; numpy arrays and Python
    scalars mix with any framework (they are converted to its tensors).
    """
    found = None
    for a in arrays:
        if a is None:
            continue
        root = _root_module(a)
        kind = None
        if root == "torch" and "torch" in sys.modules:
            kind = "torch"
        elif root in ("tensorflow", "tf_keras") and "tensorflow" in sys.modules:
            kind = "tensorflow"
        elif root == "keras" and "keras" in sys.modules:
            kind = _keras_kind(a)
        elif root in ("jax", "jaxlib") and "jax" in sys.modules:
            kind = "jax"
        if kind is None:
            continue
        if found is not None and kind != found:
            raise TypeError(f"arrays from different frameworks cannot be mixed: {found} and {kind}")
        found = kind
    if found is None:
        return NUMPY
    ops = _CACHE.get(found)
    if ops is None:
        if found == "torch":
            ops = TorchOps(sys.modules["torch"])
        elif found == "tensorflow":
            ops = TensorFlowOps(sys.modules["tensorflow"])
        else:
            ops = JaxOps(sys.modules["jax"].numpy, sys.modules["jax"])
        _CACHE[found] = ops
    return ops
