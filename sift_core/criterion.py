r"""How hard is it to invert features z back to the input x?  Two sides, one report, one score.

An honest answer has two sides (the direction of the bound matters):

* **Certified** -- a probe decoder (:mod:`sift_core.probe`: ridge and random-Fourier-feature kernel
  ridge on z, chosen on validation rows) is fitted on some samples and scored on held-out ones.  Its
  held-out MSE is *achievable*, so the best attacker's minimum MSE (MMSE) is at most that, up to the
  confidence interval ``probe_mse_ci`` from the held-out per-sample errors.
* **Estimated** -- the entropy-power relation (Cover and Thomas, thm. 8.6.6), for any reconstruction
  of the p-dimensional u, ``E|u - u_hat|^2 / p >= exp(2 H(u|z) / p) / (2 pi e)``, ``H(u|z) = H(u) -
  I(u; z)``.  A true floor needs an *upper* bound on I; every sample estimate of I (KSG, MINE,
  regression bounds, projections) is biased *down*, so the figure computed here is an **estimate of
  the floor, biased up**: it can lie above what a real attacker reaches, and is named
  ``floor_estimate_*`` for that reason.

Pipeline:

1. **Scale.**  x and z are divided by exact powers of two near their spread (no digit changes, so the
   report does not depend on the units); x whose squared errors would leave float64's range raises
   ``ValueError``.  Discrete x (integers, or [0, 1] in steps of 1/255) is dequantised with uniform
   noise of one step (``dequantize="auto"``, seeded).
2. **Projection.**  u = the first ``x_components`` principal components of x (fitted on x alone, so
   reports on the same x share the target), w = the first ``z_components`` of z (randomised PCA,
   :mod:`sift_core._projection`), each whitened.
3. **H(u)**: Kozachenko-Leonenko on whitened u plus the log-Jacobian ``sum log sd_i``.
4. **I(u; z)**: the largest of three figures, each reported: KSG on (u, w) (Kraskov et al. 2004;
   or MINE, ``mi_estimator``) -- an estimator, not a bound, biased low in many dimensions and
   saturating near psi(n) - psi(k) nats -- and two lower bounds given H(u), ``H(u) - 1/2 log det(2 pi
   e Sigma_res)`` (for any predictor f, ``H(u|z) <= H(u - f(z))`` <= the residual's Gaussian
   entropy), from 5-fold cross-fitted ridge residuals of u on w and from the probe's held-out
   residuals of u on all of z (its log det corrected for the sample covariance's bias).  The floor
   estimate is then about ``det(Sigma_res)^(1/p) <= probe_mse_u`` or below; it is capped at
   ``probe_mse_u``, so it never exceeds what the probe achieves.  Residual variances are floored at 1e-12 (whitened
   units): I is capped near 13.8 nats per component.
5. **Floor estimate** ``exp(2 (H(u) - I) / p) / (2 pi e)`` per component of u; ``p / d`` times that per
   coordinate of x (u is an orthonormal projection, so ``|x - x_hat|^2 >= |u - u_hat|^2``).
6. **Descriptive measures** (reported, not scored; see docs/criterion.md for why): the effective
   volume of z (:mod:`sift_core.volume`) and dCor / normalised HSIC on the unprojected x and z.

Difficulty score in [0, 1], higher = harder to invert:

.. math::
    S = w_p \min(1, \mathrm{probe\_mse} / \mathrm{baseline\_mse}) + w_i \exp(-2 I / p)

the probe's held-out MSE as a fraction of the training mean's on the same rows (1 - R^2), and the
information side's fraction of the no-information floor left (for a Gaussian channel, the
geometric-mean ratio of posterior to prior variance).  Both are 1 when z is constant (nothing is
transmitted about x) and fall as z reveals more.  Default weights (0.5, 0.5).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ._backend import NUMPY
from ._projection import top_components
from ._report import PSNR_CAP_DB, Comparison, Report, compare, finite
from ._validation import check_choice, check_int, check_positive
from .probe import (
    DEFAULT_FEATURES,
    PROBE_MAX_N,
    cross_fitted_residuals,
    fit_probe,
    gaussian_residual_bound,
    mean_ci,
    pow2_exponent,
)
from .volume import SPECTRUM_MAX_ROWS, _volume_of_matrix, to_numpy_matrix

__all__ = ["assess", "compare", "Report", "Comparison", "DEFAULT_WEIGHTS", "MIN_SAMPLES"]

DEFAULT_WEIGHTS = {"probe": 0.5, "information": 0.5}
#: fewer samples make every estimate here meaningless
MIN_SAMPLES = 20
#: ``mi_estimator="auto"`` switches from KSG to MINE above this many samples
KSG_MAX_N = 10_000
_TWO_PI_E = 2.0 * math.pi * math.e
_FOLDS = 5
#: integer-valued x is taken as discrete only below this magnitude (every float above 2^53 is an integer)
_INTEGER_MAX = 2.0**31


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
    probe: bool = True,
    probe_features: int = DEFAULT_FEATURES,
    probe_test_fraction: float = 0.25,
    probe_max_n: int = PROBE_MAX_N,
    confidence: float = 0.95,
) -> Report:
    """Assess how hard ``z`` (n, ...) is to invert back to ``x`` (n, ...); see the module docstring.

    Parameters
    ----------
    x, z : arrays or tensors with samples first (flattened per sample); tensors are copied to the host.
    seed : seeds every random step (dequantisation, PCA sketch, folds, splits, random features, MINE).
    k : neighbours for the Kozachenko-Leonenko and KSG estimators.
    x_components, z_components : principal components kept of x (the target u) and of z (for KSG).
    mi_estimator : "auto", "ksg" or "mine" (the non-parametric estimate; the regression bounds always run).
    dequantize : "auto" (integer values below 2^31, or steps of 1/255 in [0, 1]), a step size, or None.
    data_range : pixel range for PSNRs; default 1 for x in [0, 1], 255 for integer x in [0, 255],
        else max(x) - min(x).
    nonzero_rtol : entries with ``|z| <= nonzero_rtol * max|z|`` count as zero (volume fields).
    weights : {"probe", "information"} -> non-negative weights (normalised to sum 1).
    spectrum_max_rows : rows used for effective ranks; dependence_max_n: samples for dCor/HSIC.
    mine_options : keyword arguments for :func:`sift_core.mi.mine`.
    probe : fit the probe decoder (:mod:`sift_core.probe`).  False keeps only the training-mean
        decoder, whose error is then the certified figure, and scores the information side alone.
    probe_features : random Fourier features of the kernel probe; probe_test_fraction: held-out share.
    probe_max_n : the probe uses at most this many seeded samples (its cost grows like n^2 d).
    confidence : level of the probe's intervals (normal approximation on the held-out mean).

    Returns a :class:`Report`.  Constant x raises ``ValueError`` (nothing to reconstruct).  Constant
    z (any value) is valid: nothing is transmitted, I = 0, the probe is the training mean, and the
    difficulty score is exactly 1.
    """
    check_int(seed, "seed", minimum=0)
    k = check_int(k, "k", minimum=1)
    p_max = check_int(x_components, "x_components", minimum=1)
    q_max = check_int(z_components, "z_components", minimum=1)
    check_choice(mi_estimator, "mi_estimator", ("auto", "ksg", "mine"))
    spectrum_max_rows = check_int(spectrum_max_rows, "spectrum_max_rows", minimum=2)
    dependence_max_n = check_int(dependence_max_n, "dependence_max_n", minimum=4)
    probe_features = check_int(probe_features, "probe_features", minimum=0)
    probe_max_n = check_int(probe_max_n, "probe_max_n", minimum=MIN_SAMPLES)
    _fraction(probe_test_fraction, "probe_test_fraction")
    _fraction(confidence, "confidence")
    if not isinstance(probe, (bool, np.bool_)):
        raise TypeError(f"probe must be True or False; got {probe!r}")
    w_p, w_i = _weights(weights, bool(probe))
    if mine_options is not None and not isinstance(mine_options, Mapping):
        raise TypeError(f"mine_options must be a mapping or None; got {type(mine_options).__name__}")
    rtol = _rtol(nonzero_rtol)
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

    # scale (step 1): exact powers of two; ex converts squared errors and entropies back to x's units
    ex = pow2_exponent(xq, "x")
    xs = np.ldexp(x, -ex)
    xs -= xs.mean(axis=0)
    xqs = np.ldexp(xq, -ex)
    zs = np.ldexp(z, -pow2_exponent(z))
    if not np.any(xs.max(axis=0) > xs.min(axis=0)):
        raise ValueError("x is constant across samples at float64 precision: there is nothing to reconstruct")

    # projection and whitening (step 2)
    u, var_u = top_components(xqs, p_max, seed=seed)
    w, var_w = top_components(zs, q_max, seed=seed + 1)
    p, q = u.shape[1], w.shape[1]
    uw = u / np.sqrt(var_u)
    ww = w / np.sqrt(var_w) if q else w
    explained = float(var_u.sum() / np.sum(np.var(xqs, axis=0)))
    log_unit = p * ex * math.log(2.0)  # H(u) in x's units = H(u scaled) + p log 2^ex

    # certified side: the probe decoder, predicting x and (whitened) u
    if n > probe_max_n:
        rows = np.sort(np.random.default_rng(seed + 7).choice(n, size=probe_max_n, replace=False))
        notes.append(f"probe fitted and scored on a seeded subsample of {probe_max_n} of {n} samples")
    else:
        rows = np.arange(n)
    fit = fit_probe(xs[rows], zs[rows], seed=seed + 4, features=probe_features, test_fraction=probe_test_fraction,
                    extra=uw[rows], mean_only=not probe)
    assert fit.extra_residuals is not None
    res_u = fit.extra_residuals * np.sqrt(var_u)  # back to u's (scaled) units
    sq_u = np.mean(res_u * res_u, axis=1)
    unit = 2 * ex  # squared errors: multiply by 2^(2 ex)
    probe_mse, base_mse = float(np.mean(fit.sq_err)), float(np.mean(fit.base_err))
    ci = mean_ci(fit.sq_err, confidence)
    ci_u = mean_ci(sq_u, confidence)
    probe_mse_u = float(np.mean(sq_u))
    fraction = 1.0 if fit.kind == "mean" else probe_mse / base_mse

    # entropy and mutual information (steps 3-4)
    from .mi import entropy_knn

    h_white = entropy_knn(uw, k=k, ties="distinct")
    h_u = h_white + 0.5 * float(np.sum(np.log(var_u))) + log_unit
    if q == 0:
        notes.append("z is constant: nothing is transmitted; I = 0 exactly, dCor = HSIC = 0, effective rank 0")
        mi_np, mi_lin, mi_probe = 0.0, 0.0, 0.0
        np_name = "none (constant z)"
    else:
        use_mine = mi_estimator == "mine" or (mi_estimator == "auto" and n > KSG_MAX_N)
        mi_np, np_name = _nonparametric_mi(uw, ww, k=k, use_mine=use_mine, seed=seed, options=mine_options)
        mi_lin = gaussian_residual_bound(h_white, cross_fitted_residuals(uw, ww, seed=seed, folds=_FOLDS))
        mi_probe = gaussian_residual_bound(h_white, fit.extra_residuals) if fit.kind != "mean" else 0.0
    lin_name = f"I(u; w) >= H(u) - 1/2 log det(2 pi e Sigma_res), {_FOLDS}-fold ridge residuals of u on w"
    probe_name = "I(u; z) >= H(u) - 1/2 log det(2 pi e Sigma_res), held-out residuals of the probe decoder"
    candidates = [(0.0, "zero (every estimate <= 0)"), (mi_np, np_name), (mi_lin, "linear-Gaussian bound"),
                  (mi_probe, "probe-residual bound")]
    mi, mi_name = max(candidates, key=lambda c: c[0])
    if q == 0:
        mi_name = "0 (constant z)"

    # floor estimate (step 5), computed in the scaled units and moved to x's by exact powers of two
    floor_s = math.exp(2.0 * (h_u - log_unit - mi) / p) / _TWO_PI_E
    floor_u = math.ldexp(floor_s, unit)
    probe_u = math.ldexp(probe_mse_u, unit)
    if floor_u > probe_u:  # an estimate that an achieved error beats is not kept as a floor
        notes.append(f"the information side's floor estimate ({floor_u:.4g} per component of u) exceeded the "
                     "probe's achieved MSE on u and was lowered to it")
        floor_u = probe_u
    floor_px = floor_u * p / d
    info_fraction = math.exp(-2.0 * mi / p)

    # descriptive measures (step 6)
    vol = _volume_of_matrix(zs, rtol=rtol, max_rows=spectrum_max_rows, seed=seed)
    dcor_u, dcor_v, nhsic, m = _dependence(xs, zs, max_n=dependence_max_n, seed=seed)
    if m < n:
        notes.append(f"dCor and HSIC computed on a seeded subsample of {m} of {n} samples")
    if p < min(p_max, d):
        notes.append(f"x has only {p} components with non-negligible variance")
    if not probe:
        notes.append("probe disabled: the certified figure is the training mean's error; the score is information only")

    s_probe = min(1.0, max(0.0, fraction))
    score = w_p * s_probe + w_i * info_fraction
    mse, lo, hi = (math.ldexp(v, unit) for v in (probe_mse, *ci))
    return Report(
        n=n, x_dim=d, z_dim=vol.raw_size, x_components=p, z_components=q,
        x_variance_explained=explained, dequantize_step=float(step), data_range=float(r),
        probe_mse=finite(mse, "probe_mse"), probe_mse_ci=(lo, hi),
        probe_baseline_mse=finite(math.ldexp(base_mse, unit), "probe_baseline_mse"),
        probe_mse_fraction=finite(fraction, "probe_mse_fraction"), probe_psnr=_psnr(r, mse),
        probe_mse_u=finite(probe_u, "probe_mse_u"),
        probe_mse_u_ci=(math.ldexp(ci_u[0], unit), math.ldexp(ci_u[1], unit)),
        probe_kind=fit.kind, probe_ridge=fit.ridge, probe_bandwidth=fit.bandwidth, probe_features=fit.features,
        probe_train=int(rows.size - fit.test.size), probe_test=int(fit.test.size), confidence=float(confidence),
        mi_estimate=finite(mi, "mi_estimate"), mi_estimator=mi_name,
        mi_nonparametric=finite(mi_np, "mi_nonparametric"), mi_nonparametric_estimator=np_name,
        mi_linear=finite(mi_lin, "mi_linear"), mi_linear_estimator=lin_name,
        mi_probe=finite(mi_probe, "mi_probe"), mi_probe_estimator=probe_name,
        h_u=finite(h_u, "h_u"),
        h_u_estimator=f"Kozachenko-Leonenko (k={k}) on {p} whitened principal components of x",
        h_u_given_z_estimate=finite(h_u - mi, "h_u_given_z_estimate"),
        floor_estimate_mse=finite(floor_u, "floor_estimate_mse"),
        floor_estimate_mse_per_pixel=finite(floor_px, "floor_estimate_mse_per_pixel"),
        psnr_ceiling_estimate=_psnr(r, floor_px), information_fraction=finite(info_fraction, "information_fraction"),
        mse_interval_u=(floor_u, probe_u), mse_interval=(min(floor_px, mse), mse),
        nonzero_fraction=vol.nonzero_fraction, nonzero_count=vol.nonzero_count,
        effective_rank=vol.effective_rank, participation_ratio=vol.participation_ratio,
        effective_dof=vol.effective_dof,
        dcor_u=dcor_u, dcor_v=dcor_v, hsic_normalized=nhsic, dependence_samples=m,
        score_probe=s_probe, score_information=info_fraction, weight_probe=w_p, weight_information=w_i,
        difficulty_score=finite(score, "score"),
        k=k, seed=int(seed), x_digest=_digest(x), notes=tuple(notes),
    )


def _fraction(value: Any, name: str) -> float:
    check_positive(value, name)
    if not value < 1:
        raise ValueError(f"{name} must be in (0, 1); got {value!r}")
    return float(value)


def _psnr(data_range: float, mse: float) -> float:
    """``10 log10(R^2 / mse)`` without forming R^2 (R may be 1e200), capped at ``PSNR_CAP_DB`` for mse = 0."""
    if not mse > 0:
        return PSNR_CAP_DB
    return min(PSNR_CAP_DB, 20.0 * math.log10(data_range) - 10.0 * math.log10(mse))


def _weights(weights: Mapping[str, float] | None, probe: bool) -> tuple[float, float]:
    if weights is None:
        weights = DEFAULT_WEIGHTS
    if not isinstance(weights, Mapping):
        raise TypeError(f"weights must be a mapping or None; got {type(weights).__name__}")
    unknown = set(weights) - set(DEFAULT_WEIGHTS)
    if unknown:
        raise ValueError(f"weights has unknown keys {sorted(unknown)}; use {sorted(DEFAULT_WEIGHTS)} "
                         "(the volume and dependence measures are reported but not scored)")
    full = {**DEFAULT_WEIGHTS, **weights}
    for key, value in full.items():
        check_positive(value, f"weights[{key!r}]", allow_zero=True)
        if not math.isfinite(value):
            raise ValueError(f"weights[{key!r}] must be finite; got {value!r}")
    if not probe:
        full["probe"] = 0.0
    total = sum(full.values())
    if total <= 0:
        raise ValueError("weights must not all be zero (with probe=False the information weight must be positive)")
    return full["probe"] / total, full["information"] / total


def _rtol(value: Any) -> float:
    check_positive(value, "nonzero_rtol", allow_zero=True)
    if value >= 1:
        raise ValueError(f"nonzero_rtol must be below 1; got {value!r}")
    return float(value)


def _dequantize_step(x: np.ndarray, dequantize: Any) -> float:
    """Quantisation step of x: 1 for integer values, 1/255 for [0, 1] in steps of 1/255, else 0.

    Both need a range of at least one step (tiny-scaled data rounds to one level) and integers
    below 2^31 (every float above 2^53 is an integer).
    """
    if dequantize is None:
        return 0.0
    if isinstance(dequantize, str):
        check_choice(dequantize, "dequantize", ("auto",))
        lo, hi = float(x.min()), float(x.max())
        if hi - lo >= 1.0 and max(-lo, hi) < _INTEGER_MAX and np.array_equal(x, np.round(x)):
            return 1.0
        if lo >= 0.0 and hi <= 1.0 and hi - lo >= 1.0 / 255.0:
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
