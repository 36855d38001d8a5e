"""Channel redundancy R_P of a feature map (the SiftFunnel objective's last term)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._backend import NUMPY, get_ops
from ._pairwise import max_abs, power_of_two_scale
from ._validation import check_finite

__all__ = ["channel_redundancy"]


def channel_redundancy(z: Any, *, include_diagonal: bool = False, channels_last: bool = False):
    r"""Mean squared Pearson correlation between the channels of a feature map.

    For each sample, every channel's spatial mean is removed, the C x C
    correlation matrix of the channels over the spatial positions is formed,
    and its squared entries are averaged over the channel pairs and the batch:

    .. math::
        R_P(z) = \frac{1}{B\,|P|} \sum_b \sum_{(i,j) \in P}
                 \left(\frac{\langle \tilde z_{bi}, \tilde z_{bj} \rangle}
                 {\|\tilde z_{bi}\| \|\tilde z_{bj}\|}\right)^2

    ``P`` holds the ordered pairs i != j by default (the clean definition: 0
    for decorrelated channels); ``include_diagonal=True`` adds i = j as the
    authors' code does (SiftFunnel, arXiv 2501.00824), so the value cannot go
    below 1/C for non-constant channels: ``R_diag = ((C-1) R + f) / C`` with
    ``f`` the fraction of non-constant channels.  A constant channel has no
    correlation with anything (its entries count as 0, also on the diagonal),
    so constant maps give 0, not NaN.  With one channel and the diagonal
    excluded the value is 0.  The value does not depend on the units of ``z``
    (each channel is divided by its largest deviation before the products,
    so 1e-200 and 1e200 give the same R_P as 1).

    ``z`` is (B, C, H, W) (or (B, C, L), any number of spatial axes), or
    channels-last (B, H, W, C) with ``channels_last=True``.  Works on numpy,
    torch, TensorFlow (also in graph mode with unknown sizes) and JAX arrays
    and returns the caller's type: numpy float64, or a differentiable scalar
    of the input's dtype.
    """
    for flag, name in ((include_diagonal, "include_diagonal"), (channels_last, "channels_last")):
        if not isinstance(flag, (bool, np.bool_)):
            raise TypeError(f"{name} must be True or False; got {flag!r}")
    ops = get_ops(z)
    try:
        z = ops.asfloat(z)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"z: {exc}") from None
    shape = ops.shape(z)
    if len(shape) < 3:
        raise ValueError(
            f"z must be a feature map (B, C, H, W) or (B, C, L) with at least 3 dimensions; got shape {shape}"
        )
    if any(s == 0 for s in shape):
        raise ValueError(f"z must not have an empty axis; got shape {shape}")
    check_finite(ops, z, "z")
    like = z
    if channels_last:
        perm = (0, len(shape) - 1) + tuple(range(1, len(shape) - 1))
        z = ops.transpose(z, perm)
    c = ops.dim(z, 1)
    z = ops.to_acc(ops.flatten_from(z, 2))  # (B, C, S)
    # shift by the first position before taking the mean: a constant channel
    # becomes exactly 0 (no rounding residue that would correlate at +-1)
    z = z - z[:, :, :1]
    # a correlation does not change when a channel is rescaled: dividing each channel by its
    # largest deviation (a power of two for numpy, exact; no gradient) keeps the products below
    # from overflowing or underflowing for features of any magnitude (1e-200 or 1e200)
    s = max_abs(ops, z, axis=2, keepdims=True)
    if ops is NUMPY:
        z = z / power_of_two_scale(s)
    else:
        z = z / ops.where(s > 0, s, ops.scalar(1.0, s))
    z = z - ops.mean(z, axis=2, keepdims=True)
    gram = ops.matmul(z, ops.transpose(z, (0, 2, 1)))  # (B, C, C)
    var = ops.diag_part(gram)  # (B, C)
    pos = var > 0
    # 1/|z_i| where the channel varies, 0 where it is constant (no NaN, no inf gradient)
    inv = ops.where(pos, 1.0 / ops.sqrt(ops.where(pos, var, ops.scalar(1.0, var))), ops.scalar(0.0, var))
    # |corr| <= 1 holds exactly only before rounding
    corr = ops.clip(gram * inv[:, :, None] * inv[:, None, :], -1.0, 1.0)
    sq = corr * corr
    if include_diagonal:
        total = ops.mean(sq)
    elif isinstance(c, int) and c < 2:
        total = ops.sum(sq) * 0.0
    else:
        # mean over the B C^2 entries, rescaled to the B C (C-1) off-diagonal ones
        # (c is a tensor only in graph mode with an unknown channel count)
        off = c - 1.0 if isinstance(c, int) else ops.maximum(c - 1.0, 1.0)
        total = ops.mean(ops.zero_diagonal(sq)) * (c / off)
    if ops is NUMPY:
        return np.float64(total)
    return ops.cast_like(total, like)
