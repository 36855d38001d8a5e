r"""Variational lower bounds on mutual information, one definition for numpy, torch, TensorFlow/Keras and JAX.

A critic T(x, z) scores pairs.  Every bound here takes its scores in one of
two conventions:

* ``bound(t_joint, t_marginal)``: ``t_joint`` holds T on n pairs drawn from
  the joint p(x, z) (the aligned samples), ``t_marginal`` holds T on m pairs
  from p(x)p(z) (e.g. z shuffled against x).  Both are flattened.
* ``bound(scores)``: the (n, n) matrix ``scores[i, j] = T(x_i, z_j)``; the
  diagonal is the joint sample and the n(n - 1) off-diagonal entries are the
  product-of-marginals sample.  :func:`infonce` takes only this form.

Each returns the bound's estimate (nats) as a scalar of the input's kind:
np.float64 for numpy, a differentiable scalar tensor for torch/TF/JAX.
Train a critic by minimising ``-bound(...)``.  Every log-mean-exp is the
max-shifted one, so scores of 1e4 do not overflow (NWJ excepted: its value is
-exp(...) itself, and is -inf once the marginal scores pass ~710 in float64).

References: Donsker and Varadhan (1983); Belghazi et al., "MINE" (ICML 2018);
Nguyen, Wainwright and Jordan (2010); van den Oord et al., "CPC" (2018);
Poole et al., "On variational bounds of MI" (ICML 2019); Song and Ermon,
"Understanding the limitations of variational MI estimators" (ICLR 2020).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._backend import NUMPY, Ops, get_ops
from ._validation import as_float, check_finite, check_positive

__all__ = ["dv", "mine_ema", "nwj", "infonce", "smile", "log_mean_exp"]


def _as_scores(ops: Ops, t: Any, name: str):
    t = as_float(ops, t, name)
    check_finite(ops, t, name)
    return t


def _log_count(ops: Ops, n, like):
    if isinstance(n, (int, np.integer)):
        return math.log(int(n))
    return ops.log(ops.cast_like(n, like))


def log_mean_exp(t: Any, *, ops: Ops | None = None):
    """log((1/m) sum_i exp(t_i)) over all entries, shifted by the maximum (never overflows)."""
    ops = ops or get_ops(t)
    t = ops.reshape(t, (-1,))
    return ops.logsumexp(t) - _log_count(ops, ops.num_rows(t), t)


def _count(ops: Ops, n, like):
    """A count as a Python float when static, else as a tensor of ``like``'s dtype."""
    if isinstance(n, (int, np.integer)):
        return float(n)
    return ops.cast_like(n, like)


def _diag_mask(ops: Ops, s):
    """Boolean (n, n) mask of the diagonal, built from ``s`` so that a dynamic batch size works."""
    ones = s * 0.0 + 1.0  # the scores are finite (checked), so this is all ones
    return (ones - ops.zero_diagonal(ones)) > 0.5


def _offdiag_log_mean_exp(ops: Ops, s):
    n = ops.num_rows(s)
    masked = ops.where(_diag_mask(ops, s), ops.scalar(-math.inf, s), s)
    return ops.logsumexp(masked) - _log_count(ops, n * (n - 1), s)


def _offdiag_mean(ops: Ops, s):
    n = ops.num_rows(s)
    return ops.sum(ops.zero_diagonal(s)) / _count(ops, n * (n - 1), s)


def _square(ops: Ops, s: Any, name: str = "scores"):
    s = _as_scores(ops, s, name)
    shape = ops.shape(s)
    if len(shape) != 2 or (None not in shape and shape[0] != shape[1]):
        raise ValueError(f"{name} must be a square (n, n) matrix of critic values; got shape {shape}")
    if shape[0] is not None and shape[0] < 2:
        raise ValueError(f"{name} needs n >= 2 for off-diagonal marginal pairs; got shape {shape}")
    return s


class _Scores:
    """Joint and marginal critic values in either input convention, as the bounds consume them."""

    def __init__(self, t_joint, t_marginal):
        self.ops = ops = get_ops(t_joint, t_marginal)
        if t_marginal is None:
            s = _square(ops, t_joint, "t_joint")
            self.matrix = s
            self.joint = ops.diag_part(s)
        else:
            self.matrix = None
            self.joint = ops.reshape(_as_scores(ops, t_joint, "t_joint"), (-1,))
            self.marginal = ops.reshape(_as_scores(ops, t_marginal, "t_marginal"), (-1,))
            for name, t in (("t_joint", self.joint), ("t_marginal", self.marginal)):
                if ops.shape(t)[0] == 0:
                    raise ValueError(f"{name} is empty")

    def mean_joint(self):
        return self.ops.mean(self.joint)

    def lme_marginal(self, transform=None):
        ops = self.ops
        if self.matrix is not None:
            s = self.matrix if transform is None else transform(self.matrix)
            return _offdiag_log_mean_exp(ops, s)
        t = self.marginal if transform is None else transform(self.marginal)
        return log_mean_exp(t, ops=ops)

    def mean_marginal(self, fn):
        if self.matrix is not None:
            return _offdiag_mean(self.ops, fn(self.matrix))
        return self.ops.mean(fn(self.marginal))

    def finish(self, value):
        if self.ops is NUMPY:
            return np.float64(value)
        return value


def dv(t_joint: Any, t_marginal: Any = None):
    r"""Donsker-Varadhan lower bound: :math:`I \ge E_P[T] - \log E_Q[e^T]`.

    P is the joint, Q the product of marginals.  Tight at T = log dP/dQ + c.
    The minibatch estimate of the log term is biased, so its naive gradient is
    too; see :func:`mine_ema` for the corrected one.
    """
    sc = _Scores(t_joint, t_marginal)
    return sc.finish(sc.mean_joint() - sc.lme_marginal())


def _logaddexp(ops: Ops, a, b):
    m = ops.maximum(a, b)
    return m + ops.log(ops.exp(a - m) + ops.exp(b - m))


def mine_ema(t_joint: Any, t_marginal: Any = None, log_ema: Any = None, *, rate: float = 0.01):
    r"""MINE: the DV estimate with the bias-corrected moving-average gradient (Belghazi et al. 2018, sec. 3.2).

    Returns ``(estimate, new_log_ema)``.  ``estimate`` has the value of
    :func:`dv`, but its gradient is

    .. math::
        \nabla = E_P[\nabla T] - \frac{E_Q[e^T \nabla T]}{\bar m},\qquad
        \bar m \leftarrow (1 - \alpha)\,\bar m + \alpha\,\widehat{E}_Q[e^T]

    where :math:`\bar m` is an exponential moving average of the batch means
    of e^T (``rate`` = alpha), updated *before* use as in the reference code.
    The state is carried in log space (``log_ema = log m_bar``) so scores of
    1e4 neither overflow nor underflow; pass ``None`` on the first step (the
    average starts at the batch value) and feed the returned state back.  The
    state is detached (no gradient).  The surrogate is
    ``E_P[T] - w * lme`` with ``w = stop_gradient(exp(lme - log_ema))``, shifted
    by a constant to the DV value.
    """
    check_positive(rate, "rate")
    if rate > 1:
        raise ValueError(f"rate must lie in (0, 1]; got {rate!r}")
    sc = _Scores(t_joint, t_marginal)
    ops = sc.ops
    mean_j = sc.mean_joint()
    lme = sc.lme_marginal()
    lme_d = ops.stop_gradient(lme)
    if log_ema is None or rate == 1:
        new = lme_d
    else:
        if isinstance(log_ema, (int, float, np.number, np.ndarray)):
            # a host number: build it in the scores' dtype (no float32 rounding on the way)
            if np.size(log_ema) != 1 or not np.isfinite(log_ema).all():
                raise ValueError(f"log_ema must be a finite scalar; got {log_ema!r}")
            prev = ops.scalar(float(np.reshape(log_ema, ())), lme_d)
        else:
            prev = ops.cast_like(ops.reshape(_as_scores(ops, log_ema, "log_ema"), ()), lme_d)
        new = _logaddexp(ops, math.log1p(-rate) + ops.stop_gradient(prev), math.log(rate) + lme_d)
    weight = ops.exp(lme_d - new)
    surrogate = mean_j - weight * lme
    value = mean_j - lme
    out = surrogate + ops.stop_gradient(value - surrogate)
    return sc.finish(out), sc.finish(new)


def nwj(t_joint: Any, t_marginal: Any = None):
    r"""NWJ (f-divergence) lower bound: :math:`I \ge E_P[T] - E_Q[e^{T - 1}]` (Nguyen et al. 2010).

    Unbiased over minibatches but high-variance; tight at T = 1 + log dP/dQ.
    Evaluated as ``E_P[T] - exp(lme(T) - 1)``.
    """
    sc = _Scores(t_joint, t_marginal)
    with np.errstate(over="ignore"):  # -inf is the value once the scores pass ~710
        return sc.finish(sc.mean_joint() - sc.ops.exp(sc.lme_marginal() - 1.0))


def infonce(scores: Any):
    r"""InfoNCE lower bound from the (n, n) critic matrix, positive pairs on its diagonal (van den Oord et al. 2018).

    .. math::
        I \ge \log n + \frac1n \sum_i \left[S_{ii} - \log \sum_j e^{S_{ij}}\right]

    (row i contrasts x_i with every z_j).  Every term in brackets is <= 0, so
    the estimate never exceeds **log n**: InfoNCE cannot report more than
    log(batch size) nats however strong the dependence (Poole et al. 2019).
    Low variance; biased low once the true MI approaches log n.
    """
    ops = get_ops(scores)
    s = _square(ops, scores, "scores")
    value = ops.mean(ops.diag_part(s) - ops.logsumexp(s, axis=1)) + _log_count(ops, ops.num_rows(s), s)
    return np.float64(value) if ops is NUMPY else value


def smile(t_joint: Any, t_marginal: Any = None, *, clip: float = 5.0, js_gradient: bool = True):
    r"""SMILE: the DV bound with the partition term's scores clipped to [-clip, clip] (Song and Ermon 2020).

    .. math::
        \hat I = E_P[T] - \log E_Q[e^{\mathrm{clip}(T, -\tau, \tau)}]

    Clipping caps the variance of the log-partition estimate at the price of a
    bias that vanishes as tau grows.  With ``js_gradient`` (the authors'
    choice) the value is the one above but its gradient is that of the
    Jensen-Shannon f-GAN bound ``E_P[-softplus(-T)] - E_Q[softplus(T)]``,
    which trains the critic towards log dP/dQ stably.
    """
    check_positive(clip, "clip", allow_inf=True)  # inf: no clipping (the DV bound)
    sc = _Scores(t_joint, t_marginal)
    ops = sc.ops
    value = sc.mean_joint() - sc.lme_marginal(lambda t: ops.clip(t, -clip, clip))
    if js_gradient:
        js = ops.mean(-ops.softplus(-sc.joint)) - sc.mean_marginal(ops.softplus)
        value = js + ops.stop_gradient(value - js)
    return sc.finish(value)
