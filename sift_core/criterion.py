r"""How hard is it to invert features z back to the input x?  One report, one score.

SiftFunnel names three factors that make a model inversion attack (MIA)
harder: low mutual information I(x; z), high entropy of what the attacker must
recover, and a low effective information volume of z.  :func:`assess`
estimates each, adds model-free dependence measures (dCor, HSIC) and the
entropy-power floor on any attacker's error, and combines them into one
difficulty score (higher = harder to invert).  :func:`compare` ranks reports.

The estimation pipeline (and why):

1. **Dequantisation.**  Discrete pixels (uint8, or [0, 1] in steps of 1/255)
   have differential entropy -inf, and k-NN entropies diverge on ties.  With
   ``dequantize="auto"`` such x gets i.i.d. uniform noise of one quantisation
   step (seeded); the floor then refers to the dequantised x, so it cannot
   fall below about step^2 / 12 per pixel.
2. **Projection.**  x is reduced to its first ``x_components`` principal
   components ``u`` and z to its first ``z_components`` components ``w``
   (randomised PCA, seeded; :mod:`sift_core._projection`), each whitened.  This
   is what keeps n = 2,000 images of thousands of pixels to seconds: the k-NN
   estimators then run in 8 + 16 dimensions instead of thousands.  The
   projection of x is fitted on x alone, so reports on the same x (different
   defences or split points) share the same target u and are comparable.
   Every information quantity refers to u: by data processing,
   I(u; w) <= I(x; z), so the estimate is a lower estimate of I(x; z).
3. **Entropy** ``H(u)``: Kozachenko-Leonenko on the whitened components plus
   the log-Jacobian of the whitening, ``sum_i log sd_i``.
4. **Mutual information**: the larger of two lower-bound estimates, each
   reported -- *non-parametric* (KSG, Kraskov et al. 2004, on the whitened
   (u, w), k = ``k``; or MINE with ``mi_estimator="mine"``) and
   *linear-Gaussian*: for any predictor f, H(u|z) <= H(u - f(z)) <=
   1/2 log det(2 pi e Sigma_res), so I >= H(u) - 1/2 log det(2 pi e Sigma_res)
   with Sigma_res the covariance of 5-fold cross-fitted ridge residuals of u
   on w.  KSG is biased low in many dimensions and saturates near
   psi(n) - psi(k) nats; the linear bound covers strongly (linearly) dependent
   z, where KSG would understate I badly.  Residual variances are floored at
   1e-12 of the whitened unit, which caps I at about 13.8 nats per component.
   ``"auto"`` uses KSG up to n = 10,000 (exact, low variance, seconds) and
   MINE above (KSG is O(n^2)).
5. **Floor.**  For any reconstruction of the p = ``x_components``-dim u,
   ``E|u - u_hat|^2 / p >= exp(2 H(u|z) / p) / (2 pi e)`` (the estimation
   counterpart of the entropy-power inequality, Cover and Thomas, thm. 8.6.6).
   u is an orthonormal projection of x, so ``|x - x_hat|^2 >= |u - u_hat|^2``
   and ``p / d`` times that floor bounds the per-pixel MSE of x
   (``mse_floor_per_pixel``), which gives ``psnr_ceiling``.  Caveat: the floor
   is only as good as the I estimate; an underestimated I (projection, k-NN
   bias, an attacker's nonlinear decoder beyond what the estimators see)
   raises it, so treat it as the floor that the measured dependence implies,
   not a guarantee.
6. **Effective volume** of z (:mod:`sift_core.volume`) and **dependence**
   (:func:`sift_core.distance_correlation`, U and V; normalised unbiased
   :func:`sift_core.hsic`) on the full, unprojected x and z (a seeded subsample
   of at most ``dependence_max_n``).

Difficulty score, in [0, 1], higher = harder to invert:

.. math::
    S = w_f\,s_{floor} + w_d\,s_{dep} + w_v\,s_{vol}

* ``s_floor = clip(floor_fraction, 0, 1)``, ``floor_fraction =
  exp(2 (H(u_white) - I) / p) / (2 pi e)`` -- the floor as a fraction of the
  geometric-mean variance of u (the floor of a Gaussian with u's variances and
  no side information).  More MI lowers it, a larger floor raises it.
* ``s_dep = 1 - clip((dCor_U + nHSIC_U) / 2, 0, 1)``.
* ``s_vol = 1 - volume_ratio``, ``volume_ratio = min(1, nonzero_count(z) /
  effective_dof(x))``: the share of x's degrees of freedom (``min(non-zero
  count, effective rank)`` of x, :mod:`sift_core.volume`) that the non-zero
  entries of a sample of z have room for -- the authors' measure, the mean
  non-zero count, in units of what x needs; z = x gives 1.  The count and not the
  effective rank of z enters the score because additive noise raises the
  effective rank (noise dimensions are volume too) and the score must not
  fall when noise is added; dense noise on a *sparse* z still raises its
  count, and the information terms then have to outweigh that.

Default weights (0.5, 0.25, 0.25) put half the weight on the information
floor.  The score is monotone in each factor in the stated directions; its
calibration against measured attacks is an empirical question (rank
correlation across defences, see docs/criterion.md).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ._backend import NUMPY
from ._projection import top_components
from ._report import Comparison, Report, compare, finite
from ._validation import check_choice, check_int, check_positive
from .volume import SPECTRUM_MAX_ROWS, _volume_of_matrix, to_numpy_matrix

__all__ = ["assess", "compare", "Report", "Comparison", "DEFAULT_WEIGHTS", "MIN_SAMPLES"]

DEFAULT_WEIGHTS = {"floor": 0.5, "dependence": 0.25, "volume": 0.25}
#: fewer samples make every estimate here meaningless
MIN_SAMPLES = 20
#: ``mi_estimator="auto"`` switches from KSG to MINE above this many samples
KSG_MAX_N = 10_000
_TWO_PI_E = 2.0 * math.pi * math.e
#: residual variances (whitened units) are floored here: caps I at ~13.8 nats per component
_RESIDUAL_FLOOR = 1e-12
_FOLDS = 5
_RIDGE = 1e-6


def assess(
    x: Any,
    z: Any,
    *,
    seed: int = 0,
    k: int = 3,
    x_components: int = 8,
    z_components: int = 16,
    mi_estimator: str = "auto",
    dequantize: Any = "auto",
    data_range: float | None = None,
    nonzero_rtol: float = 1e-6,
    weights: Mapping[str, float] | None = None,
    spectrum_max_rows: int = SPECTRUM_MAX_ROWS,
    dependence_max_n: int = 4000,
    mine_options: Mapping[str, Any] | None = None,
) -> Report:
    """Assess how hard ``z`` (n, ...) is to invert back to ``x`` (n, ...); see the module docstring.

    Parameters
    ----------
    x, z : arrays or tensors with samples first (flattened per sample); tensors are copied to the host.
    seed : seeds every random step (dequantisation, PCA sketch, folds, subsamples, MINE).
    k : neighbours for the Kozachenko-Leonenko and KSG estimators.
    x_components, z_components : principal components kept of x and of z.
    mi_estimator : "auto", "ksg" or "mine" (the non-parametric estimate; the linear bound is always computed).
    dequantize : "auto" (detect integer values or steps of 1/255 in [0, 1]), a step size, or None.
    data_range : pixel range for the PSNR ceiling; default 1 for x in [0, 1], 255 for integer
        x in [0, 255], else max(x) - min(x).
    nonzero_rtol : entries with ``|z| <= nonzero_rtol * max|z|`` count as zero.
    weights : {"floor", "dependence", "volume"} -> non-negative weights (normalised to sum 1).
    spectrum_max_rows : rows used for effective ranks; dependence_max_n: samples for dCor/HSIC.
    mine_options : keyword arguments for :func:`sift_core.mi.mine`.

    Returns a :class:`Report`.  Constant x raises ``ValueError`` (nothing to
    reconstruct).  Constant z (e.g. all zeros) is valid: I = 0, dCor = HSIC = 0,
    effective rank = dof = 0, and the score is the highest that x allows.
    """
    check_int(seed, "seed", minimum=0)
    k = check_int(k, "k", minimum=1)
    p_max = check_int(x_components, "x_components", minimum=1)
    q_max = check_int(z_components, "z_components", minimum=1)
    check_choice(mi_estimator, "mi_estimator", ("auto", "ksg", "mine"))
    spectrum_max_rows = check_int(spectrum_max_rows, "spectrum_max_rows", minimum=2)
    dependence_max_n = check_int(dependence_max_n, "dependence_max_n", minimum=4)
    w_f, w_d, w_v = _weights(weights)
    if mine_options is not None and not isinstance(mine_options, Mapping):
        raise TypeError(f"mine_options must be a mapping or None; got {type(mine_options).__name__}")
    x = to_numpy_matrix(x, "x", min_n=MIN_SAMPLES)
    z = to_numpy_matrix(z, "z", min_n=MIN_SAMPLES)
    n, d = x.shape
    if z.shape[0] != n:
        raise ValueError(f"x and z must have the same number of samples; got {n} and {z.shape[0]}")
    if 4 * k >= n:
        raise ValueError(f"k must be below n / 4 = {n / 4:g}; got {k}")
    if not np.any(x.max(axis=0) > x.min(axis=0)):
        raise ValueError("x is constant across samples: there is nothing to reconstruct (its entropy is -inf)")
    step = _dequantize_step(x, dequantize)
    r = _data_range(x, step, data_range)
    notes = []
    rng = np.random.default_rng(seed)
    xq = x + rng.uniform(-0.5 * step, 0.5 * step, size=x.shape) if step > 0 else x
    if step > 0:
        notes.append(f"x dequantised with uniform noise of width {step:.6g} (discrete values detected or requested)")

    # projection and whitening (step 2)
    u, var_u = top_components(xq, p_max, seed=seed)
    w, var_w = top_components(z, q_max, seed=seed + 1)
    p, q = u.shape[1], w.shape[1]
    uw = u / np.sqrt(var_u)
    ww = w / np.sqrt(var_w) if q else w
    explained = float(var_u.sum() / np.sum(np.var(xq, axis=0)))

    # entropy and mutual information (steps 3-4)
    from .mi import entropy_knn

    h_white = entropy_knn(uw, k=k, ties="distinct")
    h_x = h_white + 0.5 * float(np.sum(np.log(var_u)))
    if q == 0:
        notes.append("z is constant: I(x; z) = 0 exactly, dCor = HSIC = 0, effective rank 0")
        mi_np, mi_lin = 0.0, 0.0
        np_name = "none (constant z)"
    else:
        use_mine = mi_estimator == "mine" or (mi_estimator == "auto" and n > KSG_MAX_N)
        mi_np, np_name = _nonparametric_mi(uw, ww, k=k, use_mine=use_mine, seed=seed, options=mine_options)
        mi_lin = _linear_gaussian_mi(uw, ww, h_white, seed=seed)
    lin_name = f"H(u) - 1/2 log det(2 pi e Sigma_res), {_FOLDS}-fold ridge residuals of u on w"
    candidates = [(0.0, "zero (both estimates <= 0)"), (mi_np, np_name), (mi_lin, "linear-Gaussian bound")]
    mi, mi_name = max(candidates, key=lambda c: c[0])
    if q == 0:
        mi_name = "0 (constant z)"

    # floor (step 5)
    h_cond = h_x - mi
    floor = math.exp(2.0 * h_cond / p) / _TWO_PI_E
    floor_px = floor * p / d
    psnr_ceiling = 10.0 * math.log10(r * r / floor_px)
    floor_fraction = math.exp(2.0 * (h_white - mi) / p) / _TWO_PI_E

    # volume and dependence (step 6)
    vol = _volume_of_matrix(z, rtol=_rtol(nonzero_rtol), max_rows=spectrum_max_rows, seed=seed)
    x_vol = _volume_of_matrix(x, rtol=_rtol(nonzero_rtol), max_rows=spectrum_max_rows, seed=seed)
    volume_ratio = min(1.0, vol.nonzero_count / x_vol.effective_dof)
    dcor_u, dcor_v, nhsic, m = _dependence(x, z, max_n=dependence_max_n, seed=seed)
    if m < n:
        notes.append(f"dCor and HSIC computed on a seeded subsample of {m} of {n} samples")
    if p < min(p_max, d):
        notes.append(f"x has only {p} components with non-negligible variance")

    s_floor = min(1.0, max(0.0, floor_fraction))
    s_dep = 1.0 - min(1.0, max(0.0, 0.5 * (dcor_u + nhsic)))
    s_vol = 1.0 - volume_ratio
    score = w_f * s_floor + w_d * s_dep + w_v * s_vol
    return Report(
        n=n, x_dim=d, z_dim=vol.raw_size, x_components=p, z_components=q,
        x_variance_explained=explained, dequantize_step=float(step), data_range=float(r),
        mi=finite(mi, "mi"), mi_estimator=mi_name,
        mi_nonparametric=finite(mi_np, "mi_nonparametric"), mi_nonparametric_estimator=np_name,
        mi_linear=finite(mi_lin, "mi_linear"), mi_linear_estimator=lin_name,
        h_x=finite(h_x, "h_x"),
        h_x_estimator=f"Kozachenko-Leonenko (k={k}) on {p} whitened principal components of x",
        h_x_given_z=finite(h_cond, "h_x_given_z"),
        mse_floor=finite(floor, "mse_floor"), mse_floor_per_pixel=finite(floor_px, "mse_floor_per_pixel"),
        psnr_ceiling=finite(psnr_ceiling, "psnr_ceiling"), floor_fraction=finite(floor_fraction, "floor_fraction"),
        nonzero_fraction=vol.nonzero_fraction, nonzero_count=vol.nonzero_count,
        effective_rank=vol.effective_rank, participation_ratio=vol.participation_ratio,
        effective_dof=vol.effective_dof, x_effective_dof=x_vol.effective_dof, volume_ratio=volume_ratio,
        dcor_u=dcor_u, dcor_v=dcor_v, hsic_normalized=nhsic, dependence_samples=m,
        score_floor=s_floor, score_dependence=s_dep, score_volume=s_vol,
        weight_floor=w_f, weight_dependence=w_d, weight_volume=w_v, difficulty_score=finite(score, "score"),
        k=k, seed=int(seed), x_digest=_digest(x), notes=tuple(notes),
    )


def _weights(weights: Mapping[str, float] | None) -> tuple[float, float, float]:
    if weights is None:
        weights = DEFAULT_WEIGHTS
    if not isinstance(weights, Mapping):
        raise TypeError(f"weights must be a mapping or None; got {type(weights).__name__}")
    unknown = set(weights) - set(DEFAULT_WEIGHTS)
    if unknown:
        raise ValueError(f"weights has unknown keys {sorted(unknown)}; use {sorted(DEFAULT_WEIGHTS)}")
    full = {**DEFAULT_WEIGHTS, **weights} if len(weights) < 3 else dict(weights)
    for key, value in full.items():
        check_positive(value, f"weights[{key!r}]", allow_zero=True)
        if not math.isfinite(value):
            raise ValueError(f"weights[{key!r}] must be finite; got {value!r}")
    total = sum(full.values())
    if total <= 0:
        raise ValueError("weights must not all be zero")
    return full["floor"] / total, full["dependence"] / total, full["volume"] / total


def _rtol(value: Any) -> float:
    check_positive(value, "nonzero_rtol", allow_zero=True)
    if value >= 1:
        raise ValueError(f"nonzero_rtol must be below 1; got {value!r}")
    return float(value)


def _dequantize_step(x: np.ndarray, dequantize: Any) -> float:
    """Quantisation step of x: 1 for integer values, 1/255 for [0, 1] in steps of 1/255, else 0."""
    if dequantize is None:
        return 0.0
    if isinstance(dequantize, str):
        check_choice(dequantize, "dequantize", ("auto",))
        if np.array_equal(x, np.round(x)):
            return 1.0
        if x.min() >= 0.0 and x.max() <= 1.0:
            y = x * 255.0
            if np.max(np.abs(y - np.round(y))) < 1e-4:
                return 1.0 / 255.0
        return 0.0
    check_positive(dequantize, "dequantize")
    if not math.isfinite(dequantize):
        raise ValueError(f"dequantize must be finite; got {dequantize!r}")
    return float(dequantize)


def _data_range(x: np.ndarray, step: float, data_range: float | None) -> float:
    if data_range is not None:
        check_positive(data_range, "data_range")
        if not math.isfinite(data_range):
            raise ValueError(f"data_range must be finite; got {data_range!r}")
        return float(data_range)
    lo, hi = float(x.min()), float(x.max())
    if lo >= 0.0 and hi <= 1.0:
        return 1.0
    if step == 1.0 and lo >= 0.0 and hi <= 255.0:
        return 255.0
    return hi - lo


def _nonparametric_mi(uw, ww, *, k: int, use_mine: bool, seed: int, options) -> tuple[float, str]:
    dims = f"{uw.shape[1]} + {ww.shape[1]} whitened principal components"
    if use_mine:
        from .mi import mine

        est = mine(uw, ww, seed=seed, **dict(options or {}))
        return float(est.value), f"MINE (Donsker-Varadhan, held-out) on {dims}"
    from .mi import ksg

    # "mixed" ties: rows of z that coincide (dead features) are counted, not jittered
    return ksg(uw, ww, k=k, ties="mixed"), f"KSG (k={k}, mixed ties) on {dims}"


def _linear_gaussian_mi(uw: np.ndarray, ww: np.ndarray, h_white: float, *, seed: int) -> float:
    """H(u) - 1/2 log det(2 pi e Sigma_res): a lower bound on I(u; w) given the entropy H(u).

    Sigma_res is the covariance of cross-fitted ridge residuals (each fold
    predicted by a fit on the others), so overfitting cannot fake a small
    residual.  Works in whitened units, where H(u_white) = ``h_white``.
    """
    n, p = uw.shape
    rng = np.random.default_rng(seed + 2)
    fold = np.empty(n, dtype=np.int64)
    fold[rng.permutation(n)] = np.arange(n) % _FOLDS
    design = np.column_stack([np.ones(n), ww])
    penalty = np.eye(design.shape[1])
    penalty[0, 0] = 0.0  # the intercept is not shrunk
    res = np.empty_like(uw)
    for f in range(_FOLDS):
        train, test = fold != f, fold == f
        a = design[train]
        coef = np.linalg.solve(a.T @ a + _RIDGE * a.shape[0] * penalty, a.T @ uw[train])
        res[test] = uw[test] - design[test] @ coef
    eig = np.maximum(np.linalg.eigvalsh(res.T @ res / n), _RESIDUAL_FLOOR)
    return float(h_white - 0.5 * (p * math.log(_TWO_PI_E) + np.sum(np.log(eig))))


def _dependence(x: np.ndarray, z: np.ndarray, *, max_n: int, seed: int) -> tuple[float, float, float, int]:
    """dCor (U and V, :func:`sift_core.distance_correlation`) and normalised unbiased HSIC.

    Both dCor variants come from one pass over the distance matrices (the
    O(n^2 d) part); the tests check them against the public function.
    """
    from ._dcov_numba import distance_sums
    from .dependence import centred_inner, hsic

    n = x.shape[0]
    if n > max_n:
        rows = np.sort(np.random.default_rng(seed + 3).choice(n, size=max_n, replace=False))
        x, z = x[rows], z[rows]
        n = max_n
    s_ab, s_aa, s_bb, ra, rb = distance_sums(x, z)

    def dcor(unbiased: bool) -> float:
        xz, xx, zz = (centred_inner(NUMPY, s, r1, r2, n, unbiased=unbiased)
                      for s, r1, r2 in ((s_ab, ra, rb), (s_aa, ra, ra), (s_bb, rb, rb)))
        if not (xx > 0 and zz > 0):  # a constant variable: dCor = 0 by convention
            return 0.0
        return math.sqrt(min(1.0, max(0.0, float(xz / math.sqrt(xx * zz)))))

    nhsic = float(hsic(x, z, unbiased=True, normalized=True))
    return dcor(True), dcor(False), nhsic, n


def _digest(x: np.ndarray) -> str:
    h = hashlib.sha1(np.ascontiguousarray(x).view(np.uint8).tobytes())
    h.update(str(x.shape).encode())
    return h.hexdigest()[:16]
