"""The public scalar checks: one rule for the core and both adapters."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sift_core import validation as v


@pytest.mark.parametrize("value", [1, 7, np.int64(3)])
def test_check_int_returns_a_python_int(value):
    out = v.check_int(value, "n", 1)
    assert out == int(value) and type(out) is int


@pytest.mark.parametrize("value, err", [(True, TypeError), (2.0, TypeError), ("3", TypeError), (0, ValueError),
                                        (11, ValueError)])
def test_check_int_names_the_argument(value, err):
    with pytest.raises(err, match="steps"):
        v.check_int(value, "steps", 1, maximum=10)


def test_check_positive_rejects_nan_and_inf_unless_inf_is_allowed():
    assert v.check_positive(0.5, "lr") == 0.5 and type(v.check_positive(np.float32(0.5), "lr")) is float
    for bad in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="lr must be positive and finite"):
            v.check_positive(bad, "lr")
    assert v.check_positive(math.inf, "clip", allow_inf=True) == math.inf
    with pytest.raises(ValueError, match="clip"):
        v.check_positive(math.nan, "clip", allow_inf=True)
    with pytest.raises(TypeError, match="lr must be a real number; got bool"):
        v.check_positive(True, "lr")


def test_non_negative_and_positive_int_and_choice():
    assert v.check_non_negative(0, "w") == 0.0
    with pytest.raises(ValueError, match="w must be non-negative and finite"):
        v.check_non_negative(-1e-9, "w")
    assert v.check_positive_int(2, "k") == 2
    with pytest.raises(ValueError, match="k must be at least 1"):
        v.check_positive_int(0, "k")
    assert v.check_choice("a", "mode", ("a", "b")) == "a"
    with pytest.raises(ValueError, match="mode must be one of"):
        v.check_choice("c", "mode", ("a", "b"))


def test_the_adapters_and_the_core_share_the_rule():
    import sift_core

    assert sift_core.validation is v  # reachable lazily from the package
    torch_ia = pytest.importorskip("sift_torch.attacks.inverse_network")
    assert torch_ia._check_positive is v.check_positive
