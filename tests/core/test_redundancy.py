"""Channel redundancy R_P on numpy: closed forms, the plain per-sample formula, edge cases, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sift_core as sc


def _orthogonal_channels(c, s, rng):
    """c channels of s positions with zero mean and pairwise orthogonal (cosines of distinct frequencies)."""
    t = np.arange(s)
    return np.stack([np.cos(2 * np.pi * (k + 1) * t / s + rng.uniform(0, 2 * np.pi)) for k in range(c)])


@settings(deadline=None, max_examples=30)
@given(
    seed=st.integers(0, 2**32 - 1),
    b=st.integers(1, 4),
    c=st.integers(1, 6),
    spatial=st.sampled_from([(5,), (3, 4), (2, 2, 3)]),
    constant=st.booleans(),
    include_diagonal=st.booleans(),
)
def test_matches_plain_formula(plain, seed, b, c, spatial, constant, include_diagonal):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(b, c, *spatial)) * rng.uniform(0.01, 100, size=(1, c) + (1,) * len(spatial))
    z += rng.normal(size=(b, c) + (1,) * len(spatial)) * 1e3  # channel offsets
    if constant:
        z[:, 0] = 0.3  # a dead channel (0.3 is not exact in binary: no rounding residue may survive)
    value = sc.channel_redundancy(z, include_diagonal=include_diagonal)
    assert isinstance(value, np.float64)
    assert value == pytest.approx(plain.redundancy(z, include_diagonal), rel=1e-10, abs=1e-14)
    assert 0.0 <= value <= 1.0


@pytest.mark.parametrize("c", [2, 3, 8])
def test_identical_channels_give_one(c):
    rng = np.random.default_rng(c)
    base = rng.normal(size=(4, 1, 6, 6))
    # positive and negative multiples of one channel: every |correlation| is 1
    scales = rng.choice([-2.0, 0.5, 3.0], size=(1, c, 1, 1))
    z = base * scales + rng.normal(size=(4, c, 1, 1))
    assert sc.channel_redundancy(z) == pytest.approx(1.0, abs=1e-12)
    assert sc.channel_redundancy(z, include_diagonal=True) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("c", [2, 5])
def test_orthogonal_channels_give_zero(c):
    rng = np.random.default_rng(0)
    z = np.stack([_orthogonal_channels(c, 32, rng) * rng.uniform(0.5, 2, size=(c, 1)) + 4.0 for _ in range(3)])
    assert sc.channel_redundancy(z) == pytest.approx(0.0, abs=1e-24)
    # with the diagonal only the C ones of C^2 entries remain
    assert sc.channel_redundancy(z, include_diagonal=True) == pytest.approx(1.0 / c, abs=1e-12)


@pytest.mark.parametrize("dead", [0, 1, 3])
def test_diagonal_adds_the_expected_share(dead):
    c = 5
    rng = np.random.default_rng(dead)
    z = rng.normal(size=(3, c, 4, 4))
    z[:, :1] += z[:, 1:2]  # some correlation
    z[:, c - dead :] = -1.5  # dead (constant) channels count 0, also on the diagonal
    off = sc.channel_redundancy(z)
    with_diag = sc.channel_redundancy(z, include_diagonal=True)
    live = (c - dead) / c
    assert with_diag == pytest.approx(((c - 1) * off + live) / c, rel=1e-12)


def test_channels_last_equals_transposed():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(2, 3, 5, 4))
    z[:, 2] += 0.7 * z[:, 0]
    last = np.transpose(z, (0, 2, 3, 1))
    for diag in (False, True):
        assert sc.channel_redundancy(last, channels_last=True, include_diagonal=diag) == pytest.approx(
            sc.channel_redundancy(z, include_diagonal=diag), rel=1e-13
        )
    seq = rng.normal(size=(2, 3, 7))
    assert sc.channel_redundancy(np.transpose(seq, (0, 2, 1)), channels_last=True) == pytest.approx(
        sc.channel_redundancy(seq), rel=1e-13
    )


def test_degenerate_maps_give_zero_not_nan():
    rng = np.random.default_rng(2)
    for z in (np.full((2, 4, 3, 3), 0.1), np.zeros((1, 3, 5)), np.full((2, 3, 1, 1), 7.0)):
        assert sc.channel_redundancy(z) == 0.0
        assert sc.channel_redundancy(z, include_diagonal=True) == 0.0
    one = rng.normal(size=(3, 1, 4, 4))
    assert sc.channel_redundancy(one) == 0.0
    assert sc.channel_redundancy(one, include_diagonal=True) == pytest.approx(1.0)
    ints = rng.integers(0, 256, size=(2, 3, 4, 4)).astype(np.uint8)
    assert sc.channel_redundancy(ints) == sc.channel_redundancy(ints.astype(np.float64))


def test_bad_input_names_the_argument():
    z = np.ones((2, 3, 4, 4))
    with pytest.raises(ValueError, match="z must be a feature map"):
        sc.channel_redundancy(np.ones((2, 3)))
    with pytest.raises(ValueError, match="z must not have an empty axis"):
        sc.channel_redundancy(np.ones((0, 3, 4, 4)))
    bad = z.copy()
    bad[0, 1, 2, 2] = np.nan
    with pytest.raises(ValueError, match="z contains NaN"):
        sc.channel_redundancy(bad)
    with pytest.raises(TypeError, match="z: .*complex"):
        sc.channel_redundancy(z + 1j)
    with pytest.raises(TypeError, match="include_diagonal"):
        sc.channel_redundancy(z, include_diagonal="yes")
    with pytest.raises(TypeError, match="channels_last"):
        sc.channel_redundancy(z, channels_last=None)
