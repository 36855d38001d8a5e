r"""A probe decoder: an achievable reconstruction error, i.e. a certified upper bound on the minimum MSE.

Any decoder ``g`` fitted on some samples and scored on *other* samples
achieves its held-out error, so the best attacker's error (the minimum mean
squared error, MMSE) is at most that:

.. math::
    \mathrm{MMSE} = \min_f \frac1d E\|x - f(z)\|^2 \le \frac1d E\|x - g(z)\|^2
    \approx \frac{1}{n_{te}} \sum_{i \in \mathrm{test}} \frac1d \|x_i - g(z_i)\|^2 .

The last step is a sample mean of i.i.d. per-sample errors (``g`` was fitted on
independent rows), so a normal-approximation confidence interval on it is
valid; its upper end bounds the MMSE with one-sided confidence
``(1 + confidence) / 2``.  The probe is numpy only and closed form:

1. **Split** (seeded): ``test_fraction`` of the rows are held out for the
   score; the rest (*train*) is split again into *fit* and *validation* rows
   to choose the probe, then the chosen probe is refitted on all of train.
2. **Features of z**, fitted on the train rows only: each column standardised,
   and its *normal scores* ``Phi^-1(F_n(z_j))`` (F_n the train rows' empirical
   CDF, mid-ranks for ties), which undo any monotone distortion of a
   coordinate (``x^3``, ``tanh``); constant columns are dropped.  A test row's
   z is first clipped per column to the train rows' range widened by its width
   on each side: a column almost constant on train (a ReLU channel that seldom
   fires) would otherwise standardise a rare test value to thousands and wreck
   that row's prediction.
3. **Candidates**: the training mean; ridge regression on standardised z, and
   on [standardised z, normal scores]; Gaussian-kernel ridge on ``features`` random Fourier
   features (Rahimi and Recht 2007) of the normal scores,
   ``sqrt(2/D) cos(q W / h + b)``, W ~ N(0, 1), b ~ U(0, 2 pi), bandwidth
   ``h`` = a multiplier (1, 2, 4) times the median pairwise distance (the
   median heuristic).  The ridge penalty runs over a grid of 37 values,
   ``10^-7 .. 10^2`` times the mean squared feature norm.  Every candidate's
   validation error comes from one eigendecomposition (of the D x D or the
   n_fit x n_fit Gram, whichever is smaller); it is measured on 64 Gaussian
   random projections of x (an unbiased estimate of the squared error summed
   over x's coordinates, Johnson-Lindenstrauss) so choosing costs nothing per
   output dimension.
4. **Score**: the chosen candidate, refitted on train, predicts every
   coordinate of the test rows, clipped to the train rows' range of that
   coordinate widened the same way (a rule fitted on train: still an
   achievable decoder, and never worse on values inside that range).  ``mse`` is the mean over test rows and
   coordinates, in x's units; ``baseline_mse`` the same for the training mean.

The probe is a weak attacker (linear in fixed features), so its MSE can sit far
above the MMSE -- it certifies an upper bound, not the attacker's reach.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ._validation import check_int, check_positive

__all__ = ["probe_decoder", "ProbeResult", "PROBE_MAX_N", "DEFAULT_FEATURES", "ndtri", "pow2_exponent"]

#: at most this many (seeded) samples enter the probe: its cost grows like n^2 d
PROBE_MAX_N = 4000
DEFAULT_FEATURES = 1024
_RIDGES = 10.0 ** np.arange(-7.0, 2.01, 0.25)
_BANDWIDTHS = (1.0, 2.0, 4.0)
_SELECT_DIMS = 64
_MEDIAN_ROWS = 500
#: residual variances (whitened units) are floored here: caps the bound at ~13.8 nats per component
_RESIDUAL_FLOOR = 1e-12
_TWO_PI_E = 2.0 * math.pi * math.e
#: x's scale must keep squared errors well inside float64 (about 1e+-308)
_MAX_EXPONENT = 480


@dataclass(frozen=True)
class ProbeResult:
    """Held-out error of the probe decoder (see the module docstring); MSEs per coordinate of x, in x's units."""

    mse: float
    mse_ci: tuple[float, float]
    baseline_mse: float
    mse_fraction: float
    kind: str
    ridge: float
    bandwidth: float
    features: int
    n_train: int
    n_test: int
    confidence: float

    def to_dict(self) -> dict:
        out = asdict(self)
        out["mse_ci"] = list(self.mse_ci)
        return out


@dataclass(frozen=True)
class ProbeFit:
    """What :func:`fit_probe` returns, in the scaled units of its inputs."""

    kind: str
    ridge: float
    bandwidth: float
    features: int
    test: np.ndarray  # test row indices
    sq_err: np.ndarray  # (n_test,) per-sample mean squared error over x's coordinates
    base_err: np.ndarray  # the same for the training mean
    extra_residuals: np.ndarray | None  # (n_test, p) residuals of the extra targets


def ndtri(p: np.ndarray) -> np.ndarray:
    """Inverse of the standard normal CDF for p in (0, 1): Acklam's rational approximation (relative error < 1.2e-9)."""
    a = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02, 1.383577518672690e02,
         -3.066479806614716e01, 2.506628277459239e00)
    b = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02, 6.680131188771972e01,
         -1.328068155288572e01)
    c = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00, -2.549732539343734e00,
         4.374664141464968e00, 2.938163982698783e00)
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)
    p = np.asarray(p, dtype=np.float64)
    out = np.empty_like(p)
    lo, hi = p < 0.02425, p > 1 - 0.02425
    mid = ~(lo | hi)
    q = p[mid] - 0.5
    r = q * q
    out[mid] = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / (
        ((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0)
    for mask, sign, tail in ((lo, 1.0, p[lo]), (hi, -1.0, 1.0 - p[hi])):
        s = np.sqrt(-2.0 * np.log(tail))
        out[mask] = sign * (((((c[0] * s + c[1]) * s + c[2]) * s + c[3]) * s + c[4]) * s + c[5]) / (
            (((d[0] * s + d[1]) * s + d[2]) * s + d[3]) * s + 1.0)
    return out


def pow2_exponent(a: np.ndarray, name: str | None = None) -> int:
    """e with 2^e near the root-mean-square spread of ``a`` about its column means (its top ``|a|`` if it has none).

    Dividing by an exact power of two changes no digit, so everything computed on
    ``ldexp(a, -e)`` is exactly scale-free in ``a``.  With ``name``, a scale at which
    squared errors leave float64's range raises ``ValueError`` naming the argument.
    """
    top = float(np.max(np.abs(a)))
    if top == 0.0:
        return 0
    e1 = math.frexp(top)[1]
    a1 = np.ldexp(a, -e1)  # |a1| <= 1: no overflow in the sums below
    a1 = a1 - a1.mean(axis=0)
    spread = math.sqrt(float(np.mean(a1 * a1)))
    e = e1 + (math.frexp(spread)[1] if spread > 0 else 0)
    if name is not None and abs(e) > _MAX_EXPONENT:
        raise ValueError(f"{name} has a scale of about 2^{e} (~1e{e * math.log10(2):.0f}): squared errors in its "
                         f"units leave float64's range; rescale {name} (e.g. divide it by its standard deviation)")
    return e


class _ZFeatures:
    """Standardisation and normal scores of z's non-constant columns, fitted on the train rows."""

    def __init__(self, z: np.ndarray, train: np.ndarray):
        zt = z[train]
        keep = zt.max(axis=0) > zt.min(axis=0)
        self.keep = keep
        zt = zt[:, keep]
        self.mean = zt.mean(axis=0)
        self.sd = zt.std(axis=0)
        self.sorted = np.sort(zt, axis=0)
        self.lo, self.hi = widened_range(zt)

    @property
    def width(self) -> int:
        return int(self.keep.sum())

    def standardised(self, z: np.ndarray) -> np.ndarray:
        return (np.clip(z[:, self.keep], self.lo, self.hi) - self.mean) / self.sd

    def normal_scores(self, z: np.ndarray) -> np.ndarray:
        z = z[:, self.keep]
        m = self.sorted.shape[0]
        out = np.empty_like(z)
        for j in range(z.shape[1]):
            col = self.sorted[:, j]
            ranks = np.searchsorted(col, z[:, j], "left") + np.searchsorted(col, z[:, j], "right")
            out[:, j] = np.clip(ranks / (2.0 * m), 0.5 / m, 1.0 - 0.5 / m)
        return ndtri(out)


def widened_range(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column, the rows' range widened by its own width on each side: where the probe clips a
    held-out row's z and its prediction.  Wide enough that a linear relation still extrapolates
    (a Gaussian column's held-out value falls outside it with probability about 7e-5 at 20
    training rows, 4e-12 at 225), narrow enough that
    a rare value of a column almost constant on the training rows stays within a few times the
    training rows' largest standardised value instead of thousands."""
    lo, hi = a.min(axis=0), a.max(axis=0)
    width = hi - lo
    return lo - width, hi + width


def _median_distance(q: np.ndarray, rng: np.random.Generator) -> float:
    rows = q if q.shape[0] <= _MEDIAN_ROWS else q[rng.choice(q.shape[0], _MEDIAN_ROWS, replace=False)]
    sq = np.sum(rows * rows, axis=1)
    d2 = sq[:, None] + sq[None, :] - 2.0 * (rows @ rows.T)
    d2 = d2[np.triu_indices(rows.shape[0], 1)]
    med = math.sqrt(max(float(np.median(d2)), 0.0))
    return med if med > 0 else 1.0


class _Design:
    """Ridge regressions on one feature matrix F, primal when F is narrow, through the Gram F F' otherwise."""

    def __init__(self, f: np.ndarray, n_fit: int, gram: np.ndarray | None = None):
        self.f = f
        self.dual = f.shape[1] > n_fit
        self.gram = (f @ f.T if gram is None else gram) if self.dual else None

    def _centred(self, rows: np.ndarray, other: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(K_rows, K_other_rows) centred on the rows' feature mean (dual), or the centred features (primal)."""
        if self.gram is not None:
            g = self.gram
            gs = g[np.ix_(rows, rows)]
            rs = gs.mean(axis=1)
            ms = float(rs.mean())
            go = g[np.ix_(other, rows)]
            return gs - rs[:, None] - rs[None, :] + ms, go - go.mean(axis=1)[:, None] - rs[None, :] + ms
        m = self.f[rows].mean(axis=0)
        return self.f[rows] - m, self.f[other] - m

    def path(self, fit: np.ndarray, val: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, float]:
        """Validation MSE of the ridge fit on ``fit`` rows for every relative penalty in ``_RIDGES``."""
        a_fit, a_val = self._centred(fit, val)
        tf = t[fit] - t[fit].mean(axis=0)
        tv = t[val] - t[fit].mean(axis=0)
        if self.dual:
            lam, vec = np.linalg.eigh(0.5 * (a_fit + a_fit.T))
            left, right = a_val @ vec, vec.T @ tf
            scale = float(np.trace(a_fit)) / len(fit)
        else:
            lam, vec = np.linalg.eigh(a_fit.T @ a_fit)
            left, right = a_val @ vec, vec.T @ (a_fit.T @ tf)
            scale = float(np.sum(a_fit * a_fit)) / len(fit)
        lam = np.maximum(lam, 0.0)
        if not scale > 0:
            return np.full(_RIDGES.size, np.inf), 0.0
        errs = np.array([np.mean((tv - (left / (lam + r * scale)) @ right) ** 2) for r in _RIDGES])
        return errs, scale

    def predict(self, train: np.ndarray, test: np.ndarray, y: np.ndarray, ridge: float) -> np.ndarray:
        """Predictions on ``test`` of the ridge fit on ``train`` at relative penalty ``ridge``."""
        a_tr, a_te = self._centred(train, test)
        my = y[train].mean(axis=0)
        yt = y[train] - my
        if self.dual:
            lam = ridge * float(np.trace(a_tr)) / len(train)
            alpha = np.linalg.solve(a_tr + lam * np.eye(len(train)), yt)
            return a_te @ alpha + my
        lam = ridge * float(np.sum(a_tr * a_tr)) / len(train)
        w = np.linalg.solve(a_tr.T @ a_tr + lam * np.eye(a_tr.shape[1]), a_tr.T @ yt)
        return a_te @ w + my


def split_rows(n: int, rng: np.random.Generator, test_fraction: float,
               validation_fraction: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded (test, fit, validation) row indices."""
    perm = rng.permutation(n)
    n_test = min(n - 6, max(5, int(math.ceil(test_fraction * n))))
    n_val = min(n - n_test - 3, max(3, int(math.ceil(validation_fraction * (n - n_test)))))
    return perm[:n_test], perm[n_test + n_val:], perm[n_test:n_test + n_val]


def fit_probe(xs: np.ndarray, z: np.ndarray, *, seed: int, features: int = DEFAULT_FEATURES,
              test_fraction: float = 0.25, validation_fraction: float = 0.2,
              extra: np.ndarray | None = None, mean_only: bool = False) -> ProbeFit:
    """Fit and score the probe on centred, scaled ``xs`` (n, d); ``extra`` (n, p) targets are predicted alongside.

    ``mean_only`` skips every candidate but the training mean (the same split and rows).
    """
    n, d = xs.shape
    rng = np.random.default_rng(seed)
    test, fit, val = split_rows(n, rng, test_fraction, validation_fraction)
    train = np.concatenate([fit, val])
    y = xs if extra is None else np.hstack([xs, extra])

    def score(pred: np.ndarray) -> ProbeFit:
        res = y[test] - np.clip(pred, *widened_range(y[train]))
        base = y[test] - y[train].mean(axis=0)
        return ProbeFit(kind, ridge, bandwidth, width, test, np.mean(res[:, :d] ** 2, axis=1),
                        np.mean(base[:, :d] ** 2, axis=1), None if extra is None else res[:, d:])

    kind, ridge, bandwidth, width = "mean", 0.0, 0.0, 0
    zf = None if mean_only else _ZFeatures(z, train)
    if zf is None or zf.width == 0:  # z constant on the training rows: only the mean can be fitted
        return score(np.broadcast_to(y[train].mean(axis=0), (len(test), y.shape[1])))
    if d <= _SELECT_DIMS:
        t = xs
    else:  # E |e R|^2 / m = |e|^2 for R ~ N(0, 1): an unbiased, cheap validation target
        t = xs @ rng.standard_normal((d, _SELECT_DIMS)) / math.sqrt(_SELECT_DIMS)
    best = float(np.mean((t[val] - t[fit].mean(axis=0)) ** 2))
    chosen: _Design | None = None
    q = zf.normal_scores(z)
    zst = zf.standardised(z)
    gz = zst @ zst.T if zst.shape[1] > len(fit) else None  # shared by both linear candidates
    gzq = None if gz is None else gz + q @ q.T
    candidates = [("ridge on z", 0.0, zst, gz), ("ridge on z and its normal scores", 0.0, np.hstack([zst, q]), gzq)]
    if features > 0:
        w0 = rng.standard_normal((q.shape[1], features))
        phase = rng.uniform(0.0, 2.0 * math.pi, features)
        proj = q @ w0
        med = _median_distance(q[train], rng)
        for mult in _BANDWIDTHS:
            candidates.append((f"Gaussian-kernel ridge ({features} random Fourier features)", mult,
                               math.sqrt(2.0 / features) * np.cos(proj / (mult * med) + phase), None))
    for name, mult, f, gram in candidates:
        design = _Design(f, len(fit), gram)
        errs, _ = design.path(fit, val, t)
        i = int(np.argmin(errs))
        if errs[i] < best:
            best, chosen = float(errs[i]), design
            kind, ridge, bandwidth, width = name, float(_RIDGES[i]), mult, f.shape[1]
    if chosen is None:
        return score(np.broadcast_to(y[train].mean(axis=0), (len(test), y.shape[1])))
    return score(chosen.predict(train, test, y, ridge))


def normal_quantile(confidence: float) -> float:
    """The two-sided normal quantile ``Phi^-1((1 + confidence) / 2)``."""
    return float(ndtri(np.array([0.5 + 0.5 * confidence]))[0])


def mean_ci(values: np.ndarray, confidence: float) -> tuple[float, float]:
    """Normal-approximation interval for the mean of i.i.d. ``values`` (lower end clipped at 0)."""
    m = float(np.mean(values))
    half = normal_quantile(confidence) * float(np.std(values, ddof=1)) / math.sqrt(values.size)
    return max(0.0, m - half), m + half


def cross_fitted_residuals(uw: np.ndarray, ww: np.ndarray, *, seed: int, folds: int = 5) -> np.ndarray:
    """Residuals of u on w from ``folds``-fold cross-fitted ridge (each fold predicted by a fit on the others).

    Cross-fitting keeps overfitting from faking a small residual.
    """
    n = uw.shape[0]
    rng = np.random.default_rng(seed + 2)
    fold = np.empty(n, dtype=np.int64)
    fold[rng.permutation(n)] = np.arange(n) % folds
    design = np.column_stack([np.ones(n), ww])
    penalty = np.eye(design.shape[1])
    penalty[0, 0] = 0.0  # the intercept is not shrunk
    res = np.empty_like(uw)
    for f in range(folds):
        train, test = fold != f, fold == f
        a = design[train]
        coef = np.linalg.solve(a.T @ a + 1e-6 * a.shape[0] * penalty, a.T @ uw[train])
        res[test] = uw[test] - design[test] @ coef
    return res


#: the residual bound needs this many residual rows per dimension of u (its covariance is estimated)
MIN_ROWS_PER_DIM = 4


def gaussian_residual_bound(h_white: float, res: np.ndarray) -> float:
    r"""``H(u) - 1/2 log det(2 pi e Sigma_res)``: a lower bound on I(u; z) given H(u), in whitened units.

    For any predictor f, H(u|z) <= H(u - f(z)) <= the Gaussian entropy of the residual's
    covariance.  ``log det`` of the sample covariance S of m rows is biased low; it is corrected by
    its expectation under Gaussian residuals (m S ~ Wishart(m - 1, Sigma)):
    :math:`E \log\det S = \log\det\Sigma + p \log(2/m) + \sum_{i=1}^p \psi((m - i)/2)`.
    Returns 0 (no information claimed) with fewer than ``MIN_ROWS_PER_DIM * p`` rows.
    """
    from .mi._special import digamma

    m, p = res.shape
    if m < MIN_ROWS_PER_DIM * p:
        return 0.0
    centred = res - res.mean(axis=0)
    eig = np.maximum(np.linalg.eigvalsh(centred.T @ centred / m), _RESIDUAL_FLOOR)
    bias = p * math.log(2.0 / m) + sum(digamma(0.5 * (m - i)) for i in range(1, p + 1))
    return float(h_white - 0.5 * (p * math.log(_TWO_PI_E) + np.sum(np.log(eig)) - bias))


def probe_decoder(
    x: Any,
    z: Any,
    *,
    seed: int = 0,
    features: int = DEFAULT_FEATURES,
    test_fraction: float = 0.25,
    validation_fraction: float = 0.2,
    confidence: float = 0.95,
    max_n: int = PROBE_MAX_N,
) -> ProbeResult:
    """Fit the probe decoder of z -> x and return its held-out MSE with a confidence interval.

    Parameters
    ----------
    x, z : arrays or tensors with samples first (flattened per sample), at least 20 samples.
    seed : seeds the split, the random features and the subsample.
    features : random Fourier features of the kernel candidate (0 leaves it out).
    test_fraction, validation_fraction : share of the rows held out for the score, and of the rest for choosing.
    confidence : level of the interval ``mse_ci`` on the held-out mean.
    max_n : at most this many seeded samples are used.

    ``mse`` (per coordinate of x, x's units) is an achievable error, so the minimum
    MSE of any attacker is at most ``mse_ci[1]`` with confidence ``(1 + confidence) / 2``.
    Constant z gives the training mean's error and ``mse_fraction`` 1.
    """
    from .volume import to_numpy_matrix

    check_int(seed, "seed", minimum=0)
    features = check_int(features, "features", minimum=0)
    max_n = check_int(max_n, "max_n", minimum=20)
    for value, name in ((test_fraction, "test_fraction"), (validation_fraction, "validation_fraction"),
                        (confidence, "confidence")):
        check_positive(value, name)
        if not value < 1:
            raise ValueError(f"{name} must be in (0, 1); got {value!r}")
    x = to_numpy_matrix(x, "x", min_n=20)
    z = to_numpy_matrix(z, "z", min_n=20)
    n = x.shape[0]
    if z.shape[0] != n:
        raise ValueError(f"x and z must have the same number of samples; got {n} and {z.shape[0]}")
    if n > max_n:
        rows = np.sort(np.random.default_rng(seed + 7).choice(n, size=max_n, replace=False))
        x, z, n = x[rows], z[rows], max_n
    ex = pow2_exponent(x, "x")
    xs = np.ldexp(x, -ex)
    xs -= xs.mean(axis=0)
    if not np.any(xs.max(axis=0) > xs.min(axis=0)):
        raise ValueError("x is constant across samples: there is nothing to reconstruct")
    zs = np.ldexp(z, -pow2_exponent(z))
    res = fit_probe(xs, zs, seed=seed, features=features, test_fraction=test_fraction,
                    validation_fraction=validation_fraction)
    unit = math.ldexp(1.0, 2 * ex)
    lo, hi = mean_ci(res.sq_err, confidence)
    mse, base = float(np.mean(res.sq_err)), float(np.mean(res.base_err))
    return ProbeResult(
        mse=mse * unit, mse_ci=(lo * unit, hi * unit), baseline_mse=base * unit,
        mse_fraction=1.0 if res.kind == "mean" else mse / base, kind=res.kind, ridge=res.ridge,
        bandwidth=res.bandwidth, features=res.features, n_train=n - res.test.size, n_test=int(res.test.size),
        confidence=float(confidence),
    )
