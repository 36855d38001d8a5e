"""Audit: bad, hostile and degenerate inputs against the public API and the ``siftfunnel`` command.

Run:  OMP_NUM_THREADS=1 python benchmarks/audit_bad_inputs.py [--out DIR] [--only REGEX] [--skip-keras]

Every case is one Python expression (its ``call``, evaluated in the namespace built by
:func:`namespace`; ``T`` is a fresh temporary folder and ``MARKER`` a file in it that no case may
create), an expected class and what makes the outcome that class.  Each outcome is classified
automatically:

passes
  ``named-error``       an exception of a documented type whose message contains the name of the
                        offending argument, key or file (checked);
  ``cli-one-line``      the command exits with status 2, one line on stderr that names the flag, key
                        or file (checked), no "Traceback";
  ``documented-value``  a degenerate but valid input gives the value the docs state (the expected value
                        is written in the case with where it comes from);
  ``invariance-ok``     a scaled or shifted input gives the value of the plain one within tolerance.
failures
  ``traceback``         an error that does not name the culprit (typically from inside numpy/torch), a
                        crash where a value is documented, or a command that prints a traceback;
  ``silent-wrong``      NaN/inf or a value that differs from the independent expectation, or a side
                        effect the docs rule out (an earlier run's cache deleted);
  ``code-executed``     a crafted pickle ran code (its marker file exists).
neither
  ``unclassified``      the input was accepted and there is no independent expectation for the result
                        (reported, never counted as a pass); ``skipped``: the framework is not installed.

Writes ``audit_bad_inputs.json`` (every case: id, target, description, call, expected, outcome,
detail, seconds) and ``audit_bad_inputs.md`` (a table of every case) to ``--out`` (default
``audit-bad-inputs/``), and prints counts per class and per target.  ``--only REGEX`` runs the
cases whose id matches (a reproducer for one case).  Exit status 1 if any case fails.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS",
             "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import pickle  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import warnings  # noqa: E402
from collections import Counter  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

PASSES = ("named-error", "cli-one-line", "documented-value", "invariance-ok")
FAILURES = ("traceback", "silent-wrong", "code-executed")
OTHER = ("unclassified", "skipped")
CLASSES = PASSES + FAILURES + OTHER
VT = (ValueError, TypeError)


# --------------------------------------------------------------------------- cases


@dataclass
class Case:
    id: str
    target: str
    description: str
    call: str
    expect: str
    names: tuple[str, ...] = ()  # named-error / cli-one-line: the message must contain one of these
    errors: tuple[type, ...] = VT  # named-error: the documented exception types
    value: Any = None  # documented-value: the value, or ("<=", b) / (">=", b) / ("in", lo, hi)
    why: str = ""  # where the documented value comes from
    rtol: float = 1e-9
    atol: float = 1e-12
    after: str | None = None  # an expression that must be true after the call (e.g. a cache kept)
    needs: str = ""  # "torch" / "keras": skipped when that framework is missing


CASES: list[Case] = []


def E(id, target, description, call, names, errors=VT, *, after=None, needs=""):
    """A bad input that must raise a documented error naming ``names``."""
    names = (names,) if isinstance(names, str) else tuple(names)
    CASES.append(Case(id, target, description, call, "named-error", names=names, errors=errors, after=after,
                      needs=needs))


def V(id, target, description, call, value, why, *, rtol=1e-9, atol=1e-12, needs=""):
    """A degenerate valid input with a documented (independently known) value."""
    CASES.append(Case(id, target, description, call, "documented-value", value=value, why=why, rtol=rtol,
                      atol=atol, needs=needs))


def I(id, target, description, call, *, rtol=1e-9, atol=1e-12, needs=""):  # noqa: E743
    """``call`` returns (value on transformed input, value on plain input); they must agree."""
    CASES.append(Case(id, target, description, call, "invariance-ok", rtol=rtol, atol=atol, needs=needs))


def C(id, target, description, call, names, *, after=None, needs=""):
    """A user error of the command: exit 2, one line naming ``names``, no traceback."""
    names = (names,) if isinstance(names, str) else tuple(names)
    CASES.append(Case(id, target, description, call, "cli-one-line", names=names, after=after, needs=needs))


# ---- sift_core.dependence ------------------------------------------------------------------------
D = "sift_core.dependence"
for fn in ("distance_correlation", "hsic"):
    short = "dcor" if fn == "distance_correlation" else "hsic"
    E(f"{short}-nan-x", D, "NaN in x", f"sc.{fn}(X_NAN, Z)", "x contains NaN")
    E(f"{short}-inf-z", D, "inf in z", f"sc.{fn}(X, Z_INF)", "z contains NaN")
    E(f"{short}-n-mismatch", D, "x and z of different n", f"sc.{fn}(X, Z[:-1])", "same number of samples")
    E(f"{short}-one-sample", D, "a single sample", f"sc.{fn}(X[:1], Z[:1])", "x needs at least 2")
    E(f"{short}-empty-features", D, "x with 0 features per sample", f"sc.{fn}(np.zeros((5, 0)), Z[:5])",
      "x has no features")
    E(f"{short}-0d", D, "a 0-d x", f"sc.{fn}(np.float64(1.0), Z)", "x must have at least 1 dimension")
    E(f"{short}-strings", D, "string arrays", f"sc.{fn}(np.array(['a', 'b', 'c']), Z[:3])", "x:")
    E(f"{short}-ragged", D, "ragged nested lists", f"sc.{fn}([[1, 2], [3]], [[1], [2]])", "x:")
    E(f"{short}-unbiased-n3", D, "unbiased with n = 3", f"sc.{fn}(X[:3], Z[:3], unbiased=True)",
      "needs at least 4")
    E(f"{short}-flag-str", D, "unbiased='yes'", f"sc.{fn}(X, Z, unbiased='yes')", "unbiased")
    V(f"{short}-const-x", D, "constant x, varying z", f"float(sc.{fn}(C5, Z, **{short.upper()}_NORM))", 0.0,
      "dCor / normalised HSIC of a constant variable is 0, not NaN (docstrings)")
    V(f"{short}-const-both", D, "two constants (0 and 5)", f"float(sc.{fn}(C0, C5, **{short.upper()}_NORM))", 0.0,
      "a constant variable gives 0 (docstrings)")
    V(f"{short}-int-bool", D, "integer x, boolean z: the value of their float copies",
      f"float(sc.{fn}(XI, ZB, **{short.upper()}_NORM)) - float(sc.{fn}(XI.astype(float), ZB.astype(float), "
      f"**{short.upper()}_NORM))", 0.0, "integer and boolean input is cast to float (_validation.as_samples)")
    for s in ("1e-200", "1e200"):
        I(f"{short}-x-scaled-{s}", D, f"x multiplied by {s}",
          f"(float(sc.{fn}(X * {s}, Z, **{short.upper()}_NORM)), float(sc.{fn}(X, Z, **{short.upper()}_NORM)))")
        I(f"{short}-z-scaled-{s}", D, f"z multiplied by {s}",
          f"(float(sc.{fn}(X, Z * {s}, **{short.upper()}_NORM)), float(sc.{fn}(X, Z, **{short.upper()}_NORM)))")
    I(f"{short}-shifted", D, "x shifted by 1e3 (dCor and Gaussian HSIC depend on differences only)",
      f"(float(sc.{fn}(X + 1e3, Z, **{short.upper()}_NORM)), float(sc.{fn}(X, Z, **{short.upper()}_NORM)))",
      rtol=1e-8)
V("dcor-similarity", D, "z = -3 x + 7 (a similarity transform of x)", "float(sc.distance_correlation(X, -3 * X + 7))",
  1.0, "the V-statistic dCor is 1 when z is a similarity transform of x (docstring)")
V("dcor-tiny-and-huge", D, "x of 1e-200 against z = 1e200 x", "float(sc.distance_correlation(X * 1e-200, X * 1e200))",
  1.0, "similarity transform (docstring); units do not matter")
V("dcor-large-n-const", D, "n = 300 (numba path) with constant z", "float(sc.distance_correlation(XL, np.ones(300)))",
  0.0, "constant variable gives 0 (docstring)")
I("dcor-large-n-scaled", D, "n = 300 (numba path), x scaled by 1e-200",
  "(float(sc.distance_correlation(XL * 1e-200, ZL)), float(sc.distance_correlation(XL, ZL)))")
I("hsic-gauss-scaled", D, "unnormalised Gaussian HSIC (median bandwidth), both scaled by 1e150",
  "(float(sc.hsic(X * 1e150, Z * 1e-150)), float(sc.hsic(X, Z)))")
E("hsic-kernel-bogus", D, "kernel='cosine'", "sc.hsic(X, Z, kernel='cosine')", "kernel")
E("hsic-bandwidth-neg", D, "bandwidth=-1", "sc.hsic(X, Z, bandwidth=-1.0)", "bandwidth")
E("hsic-bandwidth-nan", D, "bandwidth=nan", "sc.hsic(X, Z, bandwidth=float('nan'))", "bandwidth")
E("hsic-bandwidth-inf", D, "bandwidth=inf", "sc.hsic(X, Z, bandwidth=float('inf'))", "bandwidth")
E("hsic-bandwidth-str", D, "bandwidth='mean'", "sc.hsic(X, Z, bandwidth='mean')", "bandwidth")
E("hsic-linear-overflow", D, "linear-kernel HSIC of 1e200-scaled input (leaves float64)",
  "sc.hsic(X * 1e200, Z * 1e200, kernel='linear')", "linear-kernel HSIC")
E("dcov-overflow", D, "distance covariance of 1e200 x 1e200 (leaves float64)",
  "sc.distance_covariance(X * 1e200, Z * 1e200, squared=True)", "distance covariance")
V("dcov-const", D, "distance covariance with a constant", "float(sc.distance_covariance(X, C5))", 0.0,
  "dCov of a constant variable is 0 (all centred distances are 0)")

V("dcor-torch-hsic-const", D, "normalised HSIC of a constant torch tensor",
  "float(sc.hsic(TX.flatten(1), torch.full((16, 2), 5.0), normalized=True))", 0.0,
  "CKA is 0 if either variable is constant (docstring)", needs="torch")

# ---- sift_core.redundancy ------------------------------------------------------------------------
R = "sift_core.redundancy"
E("rp-2d", R, "a 2-D z", "sc.channel_redundancy(np.zeros((4, 5)))", "z must be a feature map")
E("rp-empty-axis", R, "an empty spatial axis", "sc.channel_redundancy(np.zeros((4, 5, 0)))", "empty axis")
E("rp-nan", R, "NaN in z", "sc.channel_redundancy(FMAP_NAN)", "z contains NaN")
E("rp-flag", R, "include_diagonal=1", "sc.channel_redundancy(FMAP, include_diagonal=1)", "include_diagonal")
E("rp-strings", R, "a string array", "sc.channel_redundancy(np.array([[['a']]]))", "z:")
V("rp-const", R, "constant feature map (5)", "float(sc.channel_redundancy(np.full((3, 4, 5, 5), 5.0)))", 0.0,
  "constant maps give 0, not NaN (docstring)")
V("rp-const-diag", R, "constant map, include_diagonal", "float(sc.channel_redundancy(np.zeros((3, 4, 5, 5)), "
  "include_diagonal=True))", 0.0, "a constant channel counts 0, also on the diagonal (docstring)")
V("rp-one-channel", R, "one channel, diagonal excluded", "float(sc.channel_redundancy(FMAP[:, :1]))", 0.0,
  "with one channel and the diagonal excluded the value is 0 (docstring)")
V("rp-identical-channels", R, "every channel the same non-constant map",
  "float(sc.channel_redundancy(np.repeat(FMAP[:, :1], 4, axis=1)))", 1.0,
  "identical channels have correlation 1, so every pair's square is 1")
V("rp-orthogonal", R, "two exactly uncorrelated channels (cos and sin over a period)",
  "float(sc.channel_redundancy(ORTHO))", 0.0, "Pearson correlation of cos and sin over whole periods is 0",
  atol=1e-12)
V("rp-diag-formula", R, "include_diagonal on uncorrelated non-constant channels",
  "float(sc.channel_redundancy(ORTHO, include_diagonal=True))", 0.5,
  "R_diag = ((C-1) R + f) / C with R = 0, f = 1, C = 2 (docstring)", atol=1e-12)
for s in ("1e-200", "1e200"):
    I(f"rp-scaled-{s}", R, f"feature map multiplied by {s}",
      f"(float(sc.channel_redundancy(FMAP * {s})), float(sc.channel_redundancy(FMAP)))")
I("rp-per-channel-scaled", R, "channel 0 multiplied by 1e200 and channel 1 by 1e-200 (a correlation ignores scale)",
  "(float(sc.channel_redundancy(FMAP * np.array([1e200, 1e-200, 1, 1, 1])[None, :, None, None])), "
  "float(sc.channel_redundancy(FMAP)))")
I("rp-channels-last", R, "the same map channels-last",
  "(float(sc.channel_redundancy(np.moveaxis(FMAP, 1, -1), channels_last=True)), float(sc.channel_redundancy(FMAP)))")

# ---- sift_core.mi: KSG, Kozachenko-Leonenko, MINE --------------------------------------------------
M = "sift_core.mi"
V("ksg-const-x", M, "constant x", "sc.mi.ksg(np.zeros(200), ZK)", 0.0, "a constant x or z gives exactly 0 (docstring)")
V("ksg-const-z5", M, "constant z = 5", "sc.mi.ksg(XK, np.full(200, 5.0))", 0.0, "a constant z gives exactly 0")
V("ksg-two-constants", M, "two constants", "sc.mi.ksg(np.zeros(200), np.ones(200))", 0.0,
  "a constant gives exactly 0 (module docstring: 7.4 nats before ties were handled)")
V("ksg-tied-independent", M, "independent 3- and 4-atom variables (exact ties), n = 600",
  "sc.mi.ksg(ATOMS3, ATOMS4)", ("in", -0.1, 0.1),
  "true I = 0 (independent draws); 9.7 nats before the tie fix (module docstring); 0.1 nats allowed for bias")
V("ksg-tied-mixed-same", M, "z = x, a uniform 3-atom variable, ties='mixed', n = 600",
  "sc.mi.ksg(ATOMS3, ATOMS3, ties='mixed')", ("in", math.log(3) - 0.1, math.log(3) + 0.1),
  "I(x; x) = H(x) = log 3 for a uniform 3-atom x (Gao et al. 2017 estimator is consistent)")
for s in ("1e-200", "1e200"):
    I(f"ksg-scaled-{s}", M, f"x multiplied by {s}", f"(sc.mi.ksg(XK * {s}, ZK), sc.mi.ksg(XK, ZK))", rtol=1e-9)
I("ksg-scaled-unstandardized", M, "both scaled by 1e100 with standardize=False",
  "(sc.mi.ksg(XK * 1e100, ZK * 1e100, standardize=False), sc.mi.ksg(XK, ZK, standardize=False))")
I("ksg-per-column-scaled", M, "x's columns multiplied by 1e200 and 1e-200 (standardize=True)",
  "(sc.mi.ksg(XK * np.array([1e200, 1e-200]), ZK), sc.mi.ksg(XK, ZK))")
V("ksg-dead-features", M, "z all zero except one sample (dead ReLU features), x continuous",
  "sc.mi.ksg(XK, np.where(np.arange(200) == 0, 1.0, 0.0))", ("in", -0.1, 0.1),
  "one sample out of 200 can carry at most about log(200)/200 = 0.03 nats; ties are broken (module docstring)")
E("ksg-k0", M, "k = 0", "sc.mi.ksg(XK, ZK, k=0)", "k")
E("ksg-k-float", M, "k = 2.5", "sc.mi.ksg(XK, ZK, k=2.5)", "k")
E("ksg-k-ge-n", M, "k >= n", "sc.mi.ksg(XK[:3], ZK[:3], k=3)", "x needs at least 4")
E("ksg-ties-bogus", M, "ties='random'", "sc.mi.ksg(XK, ZK, ties='random')", "ties")
E("ksg-seed-neg", M, "seed = -1", "sc.mi.ksg(XK, ZK, seed=-1)", "seed")
E("ksg-nan", M, "NaN in z", "sc.mi.ksg(XK, np.where(np.arange(200) == 7, np.nan, ZK[:, 0]))", "z contains NaN")
E("ksg-n-mismatch", M, "x and z of different n", "sc.mi.ksg(XK, ZK[:-1])", "same number of samples")
V("entropy-const-exact", M, "entropy of a constant, ties='exact'", "sc.mi.entropy_knn(np.zeros(50))", -math.inf,
  "-inf when a point has more than k - 1 exact duplicates (docstring)")
E("entropy-const-distinct", M, "entropy of a constant, ties='distinct'",
  "sc.mi.entropy_knn(np.zeros(50), ties='distinct')", "distinct samples")
E("entropy-metric", M, "metric='manhattan'", "sc.mi.entropy_knn(XK, metric='manhattan')", "metric")
I("entropy-shift", M, "entropy of x + 1e3 (translation invariant)",
  "(sc.mi.entropy_knn(XK + 1e3), sc.mi.entropy_knn(XK))", rtol=1e-7)
V("entropy-scale-law", M, "H(2 x) - H(x) = d log 2 (d = 2)", "sc.mi.entropy_knn(2 * XK) - sc.mi.entropy_knn(XK)",
  2 * math.log(2), "differential entropy: H(a x) = H(x) + d log|a|; the k-NN estimate obeys it exactly",
  rtol=1e-9, atol=1e-9)
E("mine-objective", M, "objective='bogus'", "sc.mi.mine(XM, ZM, seed=0, objective='bogus', **TINY_MINE)", "objective")
E("mine-hidden-empty", M, "hidden=()", "sc.mi.mine(XM, ZM, seed=0, hidden=(), max_steps=10)", "hidden")
E("mine-hidden-zero", M, "hidden=(0,)", "sc.mi.mine(XM, ZM, seed=0, hidden=(0,), max_steps=10)", "hidden")
E("mine-batch-zero", M, "batch_size=0", "sc.mi.mine(XM, ZM, seed=0, **{**TINY_MINE, 'batch_size': 0})", "batch_size")
E("mine-folds-zero", M, "folds=0", "sc.mi.mine(XM, ZM, seed=0, **{**TINY_MINE, 'folds': 0})", "folds")
E("mine-lr-neg", M, "lr=-1", "sc.mi.mine(XM, ZM, seed=0, lr=-1.0, **TINY_MINE)", "lr")
E("mine-lr-nan", M, "lr=nan", "sc.mi.mine(XM, ZM, seed=0, lr=float('nan'), **TINY_MINE)", "lr")
E("mine-dtype", M, "dtype='float16'", "sc.mi.mine(XM, ZM, seed=0, dtype='float16', **TINY_MINE)", "dtype")
E("mine-n3", M, "n = 3 samples", "sc.mi.mine(XM[:3], ZM[:3], seed=0, **TINY_MINE)", "x needs at least 4")
E("mine-too-few-for-folds", M, "n = 8 with 2 folds and batch 16", "sc.mi.mine(XM[:8], ZM[:8], seed=0, **TINY_MINE)",
  ("sample", "batch_size", "n_test", "test"))
E("mine-nan", M, "NaN in x", "sc.mi.mine(np.where(np.arange(64)[:, None] == 1, np.nan, XM), ZM, seed=0, **TINY_MINE)",
  "x contains NaN")
E("mine-inputs", M, "inputs='log'", "sc.mi.mine(XM, ZM, seed=0, inputs='log', **TINY_MINE)", "inputs")
V("mine-const-x", M, "constant x (tiny critic): the held-out DV value",
  "float(sc.mi.mine(np.zeros(64), ZM, seed=0, **TINY_MINE).value)", ("<=", 1e-9),
  "the critic cannot see a constant x, and mean T(z_i) <= log mean exp T over the same z's (Jensen)")
I("mine-scaled-1e200", M, "x multiplied by 1e200 (rank inputs: the same ranks)",
  "(float(sc.mi.mine(XM * 1e200, ZM, seed=0, **TINY_MINE).value), float(sc.mi.mine(XM, ZM, seed=0, "
  "**TINY_MINE).value))", rtol=1e-6, atol=1e-9)

# ---- sift_core.criterion.assess --------------------------------------------------------------------
K = "sift_core.criterion"
V("assess-z-const0", K, "constant z = 0", "sc.criterion.assess(XA, np.zeros((60, 4))).difficulty_score", 1.0,
  "constant z (any value): the difficulty score is exactly 1 (docstring)")
V("assess-z-const5", K, "constant z = 5", "sc.criterion.assess(XA, np.full((60, 4), 5.0)).difficulty_score", 1.0,
  "constant z (any value) scores exactly 1 (z = 5 and z = 0 once differed)")
V("assess-z-const-mi", K, "constant z: the information estimate", "sc.criterion.assess(XA, C5A).mi_estimate", 0.0,
  "constant z: I = 0 (docstring)")
E("assess-x-const", K, "constant x", "sc.criterion.assess(np.ones((60, 8)), ZA)", "x is constant")
E("assess-n-small", K, "n = 10 < 20", "sc.criterion.assess(XA[:10], ZA[:10])", "x needs at least 20")
E("assess-n-mismatch", K, "x and z of different n", "sc.criterion.assess(XA, ZA[:-1])", "same number of samples")
E("assess-nan-x", K, "NaN in x", "sc.criterion.assess(np.where(XA == XA[0, 0], np.nan, XA), ZA)", "x contains NaN")
E("assess-inf-z", K, "inf in z", "sc.criterion.assess(XA, np.where(ZA == ZA[1, 1], np.inf, ZA))", "z contains NaN")
E("assess-k-large", K, "k = 15 with n = 60", "sc.criterion.assess(XA, ZA, k=15)", "k must be below")
E("assess-seed-neg", K, "seed = -1", "sc.criterion.assess(XA, ZA, seed=-1)", "seed")
E("assess-mi-est", K, "mi_estimator='kde'", "sc.criterion.assess(XA, ZA, mi_estimator='kde')", "mi_estimator")
E("assess-weights-key", K, "weights with an unknown key", "sc.criterion.assess(XA, ZA, weights={'volume': 1})",
  "weights")
E("assess-weights-neg", K, "a negative weight", "sc.criterion.assess(XA, ZA, weights={'probe': -1})", "weights")
E("assess-weights-zero", K, "all weights zero", "sc.criterion.assess(XA, ZA, weights={'probe': 0, 'information': 0})",
  "weights")
E("assess-confidence", K, "confidence = 1", "sc.criterion.assess(XA, ZA, confidence=1.0)", "confidence")
E("assess-dequantize", K, "dequantize = -1", "sc.criterion.assess(XA, ZA, dequantize=-1.0)", "dequantize")
E("assess-data-range", K, "data_range = inf", "sc.criterion.assess(XA, ZA, data_range=float('inf'))", "data_range")
E("assess-probe-flag", K, "probe='yes'", "sc.criterion.assess(XA, ZA, probe='yes')", "probe")
E("assess-mine-options", K, "mine_options a list", "sc.criterion.assess(XA, ZA, mine_options=[1])", "mine_options")
E("assess-x-1e200", K, "x multiplied by 1e200 (squared errors leave float64: documented ValueError)",
  "sc.criterion.assess(XA * 1e200, ZA)", "x has a scale")
E("assess-x-1e-200", K, "x multiplied by 1e-200 (squared errors underflow: documented ValueError)",
  "sc.criterion.assess(XA * 1e-200, ZA)", "x has a scale")
for s in ("1e-200", "1e200"):
    I(f"assess-z-scaled-{s}", K, f"z multiplied by {s}: the difficulty score",
      f"(sc.criterion.assess(XA, ZA * {s}).difficulty_score, sc.criterion.assess(XA, ZA).difficulty_score)",
      rtol=1e-6, atol=1e-9)
I("assess-x-scaled-1e-100", K, "x multiplied by 1e-100: the difficulty score",
  "(sc.criterion.assess(XA * 1e-100, ZA).difficulty_score, sc.criterion.assess(XA, ZA).difficulty_score)",
  rtol=1e-6, atol=1e-9)
I("assess-x-scaled-mse", K, "x multiplied by 2**-300: probe MSE in x's units (exact powers of two)",
  "(sc.criterion.assess(XA * 2.0**-300, ZA).probe_mse * 2.0**600, sc.criterion.assess(XA, ZA).probe_mse)",
  rtol=1e-9)

# ---- sift_core.metrics ----------------------------------------------------------------------------
MT = "sift_core.metrics"
V("mse-identical", MT, "identical images", "sc.metrics.mse(IMG, IMG).tolist()", [0.0, 0.0, 0.0], "MSE of a = b is 0")
V("psnr-identical", MT, "identical images", "float(sc.metrics.psnr(IMG, IMG, data_range=1.0)[0])", math.inf,
  "identical images give +inf, never NaN (docstring)")
V("psnr-identical-capped", MT, "identical images with max_db=60",
  "float(sc.metrics.psnr(IMG, IMG, data_range=1.0, max_db=60, reduction='mean'))", 60.0,
  "max_db caps every value (docstring)")
V("psnr-known", MT, "constant error 0.1 on range 1", "float(sc.metrics.psnr(IMG, IMG + 0.1, data_range=1.0)[0])",
  20.0, "10 log10(1 / 0.01) = 20 dB", rtol=1e-9)
V("ssim-identical", MT, "identical images", "float(sc.metrics.ssim(IMG, IMG, data_range=1.0, reduction='mean'))",
  1.0, "SSIM of identical images is 1 (docstring)", rtol=1e-12)
V("ssim-constant-identical", MT, "identical constant images",
  "float(sc.metrics.ssim(np.full((1, 1, 12, 12), .3), np.full((1, 1, 12, 12), .3), data_range=1.0)[0])", 1.0,
  "SSIM(a, a) = 1; C1, C2 keep the constant case finite", rtol=1e-12)
V("cosine-zero", MT, "an all-zero image",
  "float(sc.metrics.cosine_similarity(np.zeros((1, 1, 4, 4)), IMG[:1, :, :4, :4])[0])", 0.0,
  "an all-zero image has cosine 0 with anything (docstring)")
V("tv-constant", MT, "a constant image", "float(sc.metrics.total_variation(np.full((1, 1, 5, 5), 0.7))[0])", 0.0,
  "a constant image has TV 0 (docstring)")
V("tv-1x1", MT, "a 1 x 1 image", "float(sc.metrics.total_variation(np.ones((1, 1, 1, 1)))[0])", 0.0,
  "a direction of length 1 contributes 0 (docstring)")
V("psnr-scaled-1e200", MT, "images and data_range scaled by 1e200 (error 0.1 of the range)",
  "float(sc.metrics.psnr(IMG * 1e200, (IMG + 0.1) * 1e200, data_range=1e200)[0])", 20.0,
  "PSNR = 10 log10(R^2 / MSE) (docstring) does not depend on the units: 20 dB here", rtol=1e-9)
V("psnr-scaled-1e-200", MT, "images and data_range scaled by 1e-200 (error 0.1 of the range)",
  "float(sc.metrics.psnr(IMG * 1e-200, (IMG + 0.1) * 1e-200, data_range=1e-200)[0])", 20.0,
  "PSNR = 10 log10(R^2 / MSE) (docstring) does not depend on the units: 20 dB here", rtol=1e-9)
I("ssim-scaled-1e200", MT, "SSIM of images and data_range scaled by 1e200",
  "(float(sc.metrics.ssim(IMG * 1e200, IMG[::-1] * 1e200, data_range=1e200, reduction='mean')), "
  "float(sc.metrics.ssim(IMG, IMG[::-1], data_range=1.0, reduction='mean')))", rtol=1e-9)
I("ssim-scaled-1e-200", MT, "SSIM of images and data_range scaled by 1e-200",
  "(float(sc.metrics.ssim(IMG * 1e-200, IMG[::-1] * 1e-200, data_range=1e-200, reduction='mean')), "
  "float(sc.metrics.ssim(IMG, IMG[::-1], data_range=1.0, reduction='mean')))", rtol=1e-9)
E("psnr-range-zero", MT, "data_range=0", "sc.metrics.psnr(IMG, IMG, data_range=0)", "data_range")
E("psnr-range-nan", MT, "data_range=nan", "sc.metrics.psnr(IMG, IMG, data_range=float('nan'))", "data_range")
E("psnr-range-inf", MT, "data_range=inf", "sc.metrics.psnr(IMG, IMG, data_range=float('inf'))", "data_range")
E("psnr-maxdb-nan", MT, "max_db=nan", "sc.metrics.psnr(IMG, IMG, data_range=1.0, max_db=float('nan'))", "max_db")
E("mse-shape", MT, "shapes differ", "sc.metrics.mse(IMG, IMG[:, :, :5])", "same shape")
E("mse-nan", MT, "NaN in b", "sc.metrics.mse(IMG, np.full_like(IMG, np.nan))", "b contains NaN")
E("mse-1d", MT, "a 1-D batch", "sc.metrics.mse(np.zeros(3), np.zeros(3))", "a must be a batch")
E("mse-empty", MT, "no images", "sc.metrics.mse(np.zeros((0, 3)), np.zeros((0, 3)))", "holds no images")
E("mse-reduction", MT, "reduction='avg'", "sc.metrics.mse(IMG, IMG, reduction='avg')", "reduction")
E("ssim-small", MT, "SSIM on 5 x 5 images with the 11-tap window", "sc.metrics.ssim(IMG[:, :, :5, :5], "
  "IMG[:, :, :5, :5], data_range=1.0)", "height")
E("ssim-3d", MT, "SSIM on a 3-D batch", "sc.metrics.ssim(IMG[:, 0], IMG[:, 0], data_range=1.0)", "a must be a batch")
E("ssim-sigma", MT, "sigma=0", "sc.metrics.ssim(IMG, IMG, data_range=1.0, sigma=0)", "sigma")
E("ssim-channels-last-str", MT, "channels_last='yes'", "sc.metrics.ssim(IMG, IMG, data_range=1.0, channels_last='yes')",
  "channels_last")
E("tv-3d", MT, "total variation of a 3-D array", "sc.metrics.total_variation(np.zeros((2, 4, 4)))", "x must be a batch")

# ---- sift_core.frontier ---------------------------------------------------------------------------
F = "sift_core.frontier"
V("pareto-nan", F, "a NaN point", "sc.frontier.pareto_mask([0.0, np.nan, 1.0], [1.0, 0.0, 0.5]).tolist()",
  [True, False, True], "a non-finite point is never on the frontier and never dominates (docstring)")
V("pareto-duplicates", F, "two identical points", "sc.frontier.pareto_mask([1.0, 1.0], [2.0, 2.0]).tolist()",
  [True, True], "identical points do not dominate each other, so both stay (docstring)")
V("pareto-empty", F, "no points", "sc.frontier.pareto_mask([], []).tolist()", [], "the frontier of nothing is empty")
V("interp-outside", F, "a cost outside the frontier's range", "sc.frontier.interpolate([1, 2], [0.5, 0.4], 3.0)",
  None, "None outside [min cost, max cost]: no extrapolation (docstring)")
V("interp-empty", F, "no points at all", "sc.frontier.interpolate([], [], 0.0)", None,
  "None when the frontier has no point (docstring)")
V("interp-all-nan", F, "only non-finite points", "sc.frontier.interpolate([np.nan, np.inf], [0.1, 0.2], 0.0)", None,
  "non-finite points are never on the frontier, so it has no point (docstring)")
V("iso-one-seed-short", F, "one seed's frontier does not reach the cost",
  "sc.frontier.iso_cost([([0, 2], [0.5, 0.3]), ([0, 1], [0.5, 0.4])], 1.5)['mean']", None,
  "mean and sd are None unless every seed's frontier reaches the cost (docstring)")
E("interp-at-nan", F, "at=nan", "sc.frontier.interpolate([1, 2], [0.5, 0.4], float('nan'))", "at")
E("interp-log-zero", F, "log=True with a zero value", "sc.frontier.interpolate([1, 2], [0.0, 0.4], 1.5, log=True)",
  "value")
E("frontier-better", F, "better='mid'", "sc.frontier.frontier([1, 2], [1, 2], better='mid')", "better")
E("frontier-2d", F, "cost 2-D", "sc.frontier.pareto_mask([[1, 2]], [[1, 2]])", "cost")
E("frontier-len", F, "cost and value of different length", "sc.frontier.pareto_mask([1, 2, 3], [1, 2])",
  "cost and value")
E("frontier-strings", F, "string costs", "sc.frontier.pareto_mask(['a', 'b'], [1, 2])", "cost")
E("iso-not-list", F, "curves a dict", "sc.frontier.iso_cost({'a': 1}, 1.0)", "curves")
E("iso-bad-pair", F, "a curve that is not a pair", "sc.frontier.iso_cost([([1, 2],)], 1.0)", "curves")

# ---- sift_core.imaging ----------------------------------------------------------------------------
G = "sift_core.imaging"
V("grid-size", G, "n = 8 asked, one 8 x 8 image, scale 1, pad 2",
  "list(sc.imaging.grid_image(IMG8[:1], IMG8[:1], scale=1, pad=2).shape)", [22, 12, 3],
  "height = R H scale + (R + 1) pad = 2*8 + 3*2, width = n W scale + (n + 1) pad with n = min(8, N) = 1 (docstring)")
V("grid-clip", G, "values outside [0, 1] are clipped", "float(sc.imaging.grid_image(IMG8[:1] * 0 + 7, IMG8[:1] - 9, "
  "scale=1, pad=0).max())", 1.0, "values clipped to [0, 1] (docstring)")
E("grid-shape", G, "reconstructions of another shape", "sc.imaging.grid_image(IMG8, IMG8[:, :, :4])", "reconstructions")
E("grid-channels", G, "two channels", "sc.imaging.grid_image(np.zeros((2, 2, 8, 8)), np.zeros((2, 2, 8, 8)))",
  "originals")
E("grid-nan", G, "NaN in the originals", "sc.imaging.grid_image(np.full((1, 1, 8, 8), np.nan), IMG8[:1])", "originals")
E("grid-empty-map", G, "an empty mapping of rows", "sc.imaging.grid_image(IMG8, {})", "reconstructions")
E("grid-n0", G, "n = 0", "sc.imaging.grid_image(IMG8, IMG8, n=0)", "n must be")
E("grid-scale0", G, "scale = 0", "sc.imaging.grid_image(IMG8, IMG8, scale=0)", "scale")
E("grid-pad-neg", G, "pad = -1", "sc.imaging.grid_image(IMG8, IMG8, pad=-1)", "pad")
E("grid-strings", G, "an array of strings", "sc.imaging.grid_image(np.array(['a']), IMG8)", "originals")
E("png-path-type", G, "path an int", "sc.imaging.save_reconstruction_grid(3, IMG8, IMG8)", "path")
E("png-image-range", G, "an RGB grid with values above 1",
  "sc.imaging.save_grid_png(T / 'g.png', np.full((4, 4, 3), 2.0))", "image must hold finite values")
E("png-row-labels", G, "row labels that do not fit the grid",
  "sc.imaging.save_grid_png(T / 'g.png', np.zeros((10, 4, 3)), row_labels=['a', 'b', 'c'])", "row_labels")
E("png-onto-dir", G, "a PNG path that is an existing directory (the temporary file must not be left behind)",
  "sc.imaging.save_grid_png(mkdir(T / 'g.png'), np.zeros((4, 4, 3)))", "g.png", (OSError,),
  after="[p.name for p in T.iterdir()] == ['g.png']")
V("png-refused-keeps", G, "a refused write over an existing PNG leaves it intact and no temporary file",
  "png_failed_overwrite_keeps(T)", True, "inputs are checked before anything is written; PNGs are written to a "
  "temporary file and renamed (save_grid_png docstring)")

# ---- sift_core: stats, inversion, objective, bounds, volume ----------------------------------------
O = "sift_core.other"
V("spearman-const", O, "a constant variable", "sc.stats.spearman([1, 1, 1, 1], [1, 2, 3, 4])['rho']", None,
  "rho is None when a variable is constant (docstring)")
V("spearman-n2", O, "two pairs", "sc.stats.spearman([1, 2], [2, 1])['rho']", None, "None with fewer than 3 pairs")
V("spearman-nan-dropped", O, "a NaN pair is left out",
  "sc.stats.spearman([1, 2, np.nan, 3, 4], [1, 2, 9, 3, 4])['rho']", 1.0,
  "pairs with NaN are left out (docstring); the rest are monotone")
V("rankdata-ties", O, "ties share the average rank", "sc.stats.rankdata([3, 1, 3, 2]).tolist()", [3.5, 1.0, 3.5, 2.0],
  "the average method (docstring)")
E("spearman-2d", O, "2-D input", "sc.stats.spearman([[1, 2]], [[1, 2]])", "a and b must be 1-D")
V("rfe-both-zero", O, "relative feature error, both all zero",
  "sc.inversion.relative_feature_error(np.zeros(3), np.zeros(3))", 0.0, "0 when both are all zero (docstring)")
V("rfe-z-zero", O, "relative feature error, only z all zero",
  "sc.inversion.relative_feature_error(np.ones(3), np.zeros(3))", math.inf, "inf when only z is (docstring)")
V("worst-case-all-failed", O, "every attack failed", "sc.inversion.worst_case({'a': {'failed': True}})['ssim']", None,
  "None values when no attack finished (docstring)")
E("recon-scores-nan", O, "NaN reconstructions", "sc.inversion.reconstruction_scores(IMG, IMG * np.nan)",
  "reconstructions")
E("plateau-patience", O, "Plateau(patience=0)", "sc.inversion.Plateau(patience=0)", "patience")
V("lsce-uniform", O, "uniform logits, 4 classes, epsilon 0", "float(sc.label_smoothed_cross_entropy(np.zeros((3, 4)), "
  "np.array([0, 1, 3])))", math.log(4), "cross-entropy of the uniform distribution is log K")
E("lsce-label-range", O, "label 7 with 4 classes",
  "sc.label_smoothed_cross_entropy(np.zeros((3, 4)), np.array([0, 1, 7]))", "labels must lie")
E("lsce-label-float", O, "float labels", "sc.label_smoothed_cross_entropy(np.zeros((2, 4)), np.array([0.0, 1.0]))",
  "labels")
E("lsce-epsilon", O, "epsilon = 1", "sc.label_smoothed_cross_entropy(np.zeros((2, 4)), np.array([0, 1]), epsilon=1.0)",
  "epsilon")
E("lsce-one-class", O, "one class", "sc.label_smoothed_cross_entropy(np.zeros((2, 1)), np.array([0, 0]))", "logits")
V("dv-equal", O, "DV bound with equal joint and marginal scores",
  "float(sc.bounds.dv(np.full(5, 3.0), np.full(5, 3.0)))", 0.0, "E_P[T] - log E_Q[e^T] = 3 - 3")
V("erank-const", O, "effective rank of constant features", "sc.volume.effective_rank(C5)", 0.0,
  "0 for constant features (docstring)")
V("nonzero-all-zero", O, "nonzero fraction of all-zero z", "sc.volume.nonzero_fraction(np.zeros((4, 3)))", 0.0,
  "an all-zero z gives 0 (docstring)")
E("nonzero-rtol", O, "rtol = 1", "sc.volume.nonzero_fraction(Z, rtol=1.0)", "rtol")

# ---- sift_torch ------------------------------------------------------------------------------------
P = "sift_torch"
E("torch-arch", P, "build_split arch='alexnet'", "st.build_split('alexnet')", "arch", needs="torch")
E("torch-image-size", P, "image_size=4", "st.build_split('cnn', image_size=4, width=2)", "image_size", needs="torch")
E("torch-classes", P, "num_classes=1", "st.build_split('cnn', num_classes=1, width=2)", "num_classes", needs="torch")
E("torch-width", P, "width=0", "st.build_split('cnn', width=0)", "width", needs="torch")
E("torch-normalize", P, "normalize=(0.5,)", "st.build_split('cnn', width=2, normalize=(0.5,))", "normalize",
  needs="torch")
E("torch-defence-dotdot", P, "make_defence('..')", "st.make_defence('..')", "defence", needs="torch")
E("torch-defence-int", P, "make_defence(3)", "st.make_defence(3)", "defence", needs="torch")
E("torch-defence-setting", P, "make_defence('none', foo=1)", "st.make_defence('none', foo=1)", "foo", needs="torch")
E("torch-noise-sigma", P, "noise sigma = -1", "st.make_defence('noise', sigma=-1.0)", "sigma", needs="torch")
E("torch-dropout-rate", P, "dropout rate = 1", "st.make_defence('dropout', rate=1.0)", "rate", needs="torch")
E("torch-loss-epsilon", P, "SiftFunnelLoss(epsilon=1)", "st.SiftFunnelLoss(epsilon=1.0)", "epsilon", needs="torch")
E("torch-loss-alpha", P, "SiftFunnelLoss(alpha=-1)", "st.SiftFunnelLoss(alpha=-1.0)", "alpha", needs="torch")
E("torch-loss-penalty", P, "penalty_batch='all'", "st.SiftFunnelLoss(penalty_batch='all')", "penalty_batch",
  needs="torch")
E("torch-loss-n", P, "x, z, logits, labels of different n", "st.SiftFunnelLoss()(TX[:4], TZ[:3], TL[:4], TY[:4])",
  "same number of samples", needs="torch")
E("torch-loss-label-range", P, "label 5 with 2 classes", "st.SiftFunnelLoss()(TX[:4], TZ[:4], TL[:4], "
  "torch.tensor([0, 1, 5, 0]))", "label", needs="torch")
E("torch-loss-label-float", P, "float labels", "st.CrossEntropyLoss()(TX[:4], TZ[:4], TL[:4], torch.zeros(4))",
  "labels", needs="torch")
E("torch-loss-numpy", P, "numpy x", "st.SiftFunnelLoss()(np.zeros((4, 1)), TZ[:4], TL[:4], TY[:4])", "x must be",
  needs="torch")
V("torch-loss-dead", P, "all-zero z: DeadFeaturesWarning and a finite loss", "dead_feature_loss()",
  {"warned": True, "finite": True},
  "FeatureLoss warns when z is all zero (check_dead); dCor and R_P of a constant are 0",
  needs="torch")
V("torch-dcor-const", P, "dCor of a constant torch tensor", "float(sc.distance_correlation(TX.flatten(1), "
  "torch.zeros(16, 3)))", 0.0, "a constant variable gives 0 (docstring)", needs="torch")
I("torch-dcor-scaled", P, "dCor of float32 torch tensors scaled by 1e-30 (squares underflow in float32)",
  "(float(sc.distance_correlation(TX.flatten(1) * 1e-30, TZ.flatten(1))), "
  "float(sc.distance_correlation(TX.flatten(1), TZ.flatten(1))))", rtol=1e-4, atol=1e-6, needs="torch")
I("torch-rp-scaled", P, "channel_redundancy of a float32 torch map scaled by 1e30",
  "(float(sc.channel_redundancy(TZ * 1e30)), float(sc.channel_redundancy(TZ)))", rtol=1e-4, atol=1e-6, needs="torch")
E("torch-cfg-epochs", P, "TrainConfig(epochs=0)", "st.TrainConfig(epochs=0)", "epochs", needs="torch")
E("torch-cfg-batch", P, "TrainConfig(batch_size=2.5)", "st.TrainConfig(batch_size=2.5)", "batch_size", needs="torch")
E("torch-cfg-lr", P, "TrainConfig(lr=nan)", "st.TrainConfig(lr=float('nan'))", "lr", needs="torch")
E("torch-cfg-schedule", P, "lr_schedule='linear'", "st.TrainConfig(lr_schedule='linear')", "lr_schedule",
  needs="torch")
E("torch-cfg-ckpt-every", P, "checkpoint_every=0", "st.TrainConfig(checkpoint_every=0)", "checkpoint_every",
  needs="torch")
E("torch-cfg-wd", P, "weight_decay=-1", "st.TrainConfig(weight_decay=-1.0)", "weight_decay", needs="torch")
E("torch-fit-batch-too-big", P, "batch_size above the sample count", "tiny_fit(T, batch_size=64)", "batch_size",
  needs="torch")
E("torch-fit-data", P, "train_data a dict", "st.Trainer(tiny_model(), st.CrossEntropyLoss(), tiny_cfg(T)).fit({})",
  "train_data", needs="torch")
E("torch-fit-y-float", P, "float labels in train_data", "tiny_fit(T, data=(TX, TY.float()))", "y must be",
  needs="torch")
E("torch-fit-x-int", P, "integer images in train_data", "tiny_fit(T, data=(TX.long(), TY))", "x must be",
  needs="torch")
E("torch-fit-n-mismatch", P, "x and y of different n", "tiny_fit(T, data=(TX, TY[:-1]))", "same number of samples",
  needs="torch")
E("torch-fit-resume-nodir", P, "resume=True without checkpoint_dir",
  "st.Trainer(tiny_model(), st.CrossEntropyLoss(), st.TrainConfig(epochs=1, batch_size=8, progress=False))"
  ".fit((TX, TY), resume=True)", "checkpoint_dir", needs="torch")
E("torch-fit-device-cuda7", P, "TrainConfig(device='cuda:7') on a machine without that device",
  "tiny_fit(T, device='cuda:7')", "cuda:7", (ValueError, TypeError, RuntimeError), needs="torch")
E("torch-fit-device-bogus", P, "TrainConfig(device='gpu0')", "tiny_fit(T, device='gpu0')", "gpu0",
  (ValueError, TypeError, RuntimeError), needs="torch")
E("torch-resume-batch", P, "resume=True after changing batch_size", "resume_changed(T, batch_size=4)", "batch_size",
  needs="torch")
E("torch-resume-epochs", P, "resume=True after changing epochs", "resume_changed(T, epochs=3)", "epochs",
  needs="torch")
E("torch-resume-lr", P, "resume=True after changing lr", "resume_changed(T, lr=1e-3)", "lr", needs="torch")
E("torch-resume-seed", P, "resume=True after changing seed", "resume_changed(T, seed=5)", "seed", needs="torch")
for how, what in (("half", "truncated to half"), ("empty", "made empty"), ("garbage", "overwritten with garbage"),
                  ("pickle", "replaced by a crafted pickle")):
    V(f"torch-resume-last-{how}", P, f"resume after last.pt was {what}: warns, resumes from prev.pt",
      f"resume_damaged(T, MARKER, {how!r})",
      {"warned": True, "steps_run": 2, "same_weights": True, "marker": False},
      "load_latest_checkpoint falls back to prev.pt (end of epoch 1) with a RuntimeWarning naming last.pt, so only "
      "epoch 2's 2 steps run again, and the result equals the uninterrupted run (docs/faults.md)", needs="torch")
E("torch-ckpt-empty", P, "load_checkpoint on an empty file", "load_ckpt(T, b'')", "x.pt", needs="torch",
  errors=(EOFError, ValueError, RuntimeError, OSError, pickle.UnpicklingError))
E("torch-ckpt-garbage", P, "load_checkpoint on garbage bytes", "load_ckpt(T, b'not a checkpoint' * 10)", "x.pt",
  needs="torch", errors=(EOFError, ValueError, RuntimeError, OSError, pickle.UnpicklingError))
E("torch-ckpt-truncated", P, "load_checkpoint on a checkpoint cut in half", "load_ckpt(T, 'half')", "x.pt",
  needs="torch", errors=(EOFError, ValueError, RuntimeError, OSError, pickle.UnpicklingError))
E("torch-ckpt-foreign", P, "load_checkpoint on a torch file without the format key", "load_ckpt(T, 'foreign')", "x.pt",
  needs="torch", errors=(EOFError, ValueError, RuntimeError, OSError, pickle.UnpicklingError))
E("torch-ckpt-pickle", P, "load_checkpoint on a crafted pickle (os.system)", "load_ckpt(T, 'evil', MARKER)", "x.pt",
  needs="torch", errors=(EOFError, ValueError, RuntimeError, OSError, pickle.UnpicklingError))
E("torch-ckpt-dir", P, "load_checkpoint on a directory", "st.load_checkpoint(T)", "siftfunnel-audit-", needs="torch",
  errors=(EOFError, ValueError, RuntimeError, OSError, pickle.UnpicklingError))
E("torch-inv-shape", P, "InverseNetworkAttack image_shape=(1, 8)", "st.InverseNetworkAttack(EDGE, image_shape=(1, 8))",
  "image_shape", needs="torch")
E("torch-inv-epochs", P, "InverseNetworkAttack epochs=0", "st.InverseNetworkAttack(EDGE, image_shape=(1, 8, 8), "
  "epochs=0)", "epochs", needs="torch")
E("torch-inv-val", P, "val_fraction=0.5", "st.InverseNetworkAttack(EDGE, image_shape=(1, 8, 8), val_fraction=0.5)",
  "val_fraction", needs="torch")
E("torch-inv-edge", P, "edge a function", "st.InverseNetworkAttack(lambda x: x, image_shape=(1, 8, 8))", "edge",
  needs="torch")
E("torch-inv-one-image", P, "fit on one image", "tiny_inverse().fit(TX[:1])", "aux_x", needs="torch")
E("torch-inv-nan", P, "fit on NaN images", "tiny_inverse().fit(TX * np.nan)", "aux_x", needs="torch")
E("torch-inv-wrong-shape", P, "fit on 3 x 8 x 8 images", "tiny_inverse().fit(torch.rand(4, 3, 8, 8))", "aux_x",
  needs="torch")
E("torch-inv-before-fit", P, "evaluate before fit", "tiny_inverse().evaluate(TX[:2])", "fit(aux_x)",
  (RuntimeError, ValueError), needs="torch")
E("torch-rmle-param", P, "parametrization='tanh2'", "st.RMLEAttack(EDGE, parametrization='tanh2')", "parametrization",
  needs="torch")
E("torch-rmle-steps", P, "steps=0", "st.RMLEAttack(EDGE, steps=0)", "steps", needs="torch")
E("torch-rmle-z-nan", P, "reconstruct NaN features", "st.RMLEAttack(EDGE, image_shape=(1, 8, 8), steps=2, "
  "progress=False).reconstruct(torch.full((2, 2, 8, 8), float('nan')))", "z contains", needs="torch")
E("torch-rmle-no-shape", P, "reconstruct without an image_shape", "st.RMLEAttack(EDGE, steps=2, progress=False)"
  ".reconstruct(torch.zeros(2, 2, 8, 8))", "image_shape", (ValueError, TypeError, RuntimeError), needs="torch")
E("torch-hybrid-inverse", P, "HybridAttack(inverse='x')", "st.HybridAttack(EDGE, image_shape=(1, 8, 8), inverse='x')",
  "inverse", needs="torch")
E("torch-gen-few", P, "generative prior fitted on 4 images", "st.GenerativePriorAttack(EDGE, image_shape=(1, 8, 8), "
  "gan_epochs=1, progress=False).fit(TX[:4])", "aux_x", needs="torch")
E("torch-gen-generator", P, "generator of the wrong type", "st.GenerativePriorAttack(EDGE, image_shape=(1, 8, 8), "
  "generator=EDGE)", "generator", needs="torch")
E("torch-mine-objective", P, "estimate_mi_torch objective='bogus'", "st.estimate_mi_torch(XM, ZM, seed=0, "
  "objective='bogus', max_steps=10)", "objective", needs="torch")
E("torch-mine-nan", P, "estimate_mi_torch with NaN in z", "st.estimate_mi_torch(XM, ZM * np.nan, seed=0, max_steps=10)",
  "z contains", needs="torch")
V("torch-mine-const-x", P, "estimate_mi_torch on constant x (tiny critic)", "float(st.estimate_mi_torch("
  "np.zeros((64, 1)), ZM, seed=0, conv=False, **TINY_MINE_TORCH).value)", ("<=", 1e-6),
  "a critic blind to x cannot beat 0 on held-out pairs of the same z's (Jensen)", needs="torch")

E("torch-protect-channels", P, "siftfunnel defence protect() without channels",
  "st.make_defence('siftfunnel').protect(EDGE, nn.Identity())", "channels", needs="torch")
E("torch-image-size-str", P, "image_size=(8, 'a')", "st.build_split('cnn', image_size=(8, 'a'), width=2)", "image_size",
  needs="torch")
E("torch-trainer-model", P, "Trainer(model='x')", "st.Trainer('x', st.CrossEntropyLoss())", "model", needs="torch")
E("torch-trainer-criterion", P, "Trainer(criterion=3)", "st.Trainer(EDGE, 3)", "criterion", needs="torch")
E("torch-onnx-shape", P, "export_onnx input_shape=(1, 8, 0)",
  "st.export_onnx(EDGE, T / 'e.onnx', input_shape=(1, 8, 0))", "input_shape", needs="torch")
E("torch-onnx-opset", P, "export_onnx opset=3", "st.export_onnx(EDGE, T / 'e.onnx', input_shape=(1, 8, 8), opset=3)",
  "opset", needs="torch")
E("torch-onnx-garbage", P, "onnx_features on a file that is not ONNX",
  "st.onnx_features(write(T / 'e.onnx', b'garbage'), np.zeros((1, 1, 8, 8)))", "e.onnx",
  (ValueError, RuntimeError, OSError, ImportError), needs="torch")
E("torch-onnx-x-shape", P, "onnx_features on inputs of the wrong shape",
  "st.onnx_features(st.export_onnx(EDGE, T / 'e.onnx', input_shape=(1, 8, 8)), np.zeros((2, 1, 4, 4)))",
  "x must have shape", (ValueError, ImportError), needs="torch")

# ---- sift_keras (few and tiny) --------------------------------------------------------------------
KS = "sift_keras"
E("keras-defence", KS, "make_defence('..')", "sk().make_defence('..')", "name", needs="keras")
E("keras-dropout-rate", KS, "dropout rate = 1", "sk().make_defence('dropout', rate=1.0)", "rate", needs="keras")
E("keras-loss-epsilon", KS, "SiftFunnelLoss(epsilon=1)", "sk().SiftFunnelLoss(epsilon=1.0)", "epsilon", needs="keras")
E("keras-loss-classes", KS, "SiftFunnelLoss(num_classes=1)", "sk().SiftFunnelLoss(num_classes=1)", "num_classes",
  needs="keras")
E("keras-loss-alpha", KS, "SiftFunnelLoss(alpha=-1)", "sk().SiftFunnelLoss(alpha=-1.0)", "alpha", needs="keras")
E("keras-optimizer", KS, "default_optimizer(decay_steps=0)", "sk().default_optimizer(decay_steps=0)", "decay_steps",
  needs="keras")
E("keras-baseline-arch", KS, "split_baseline('alexnet')", "sk().split_baseline('alexnet', 10)", "arch", needs="keras")
E("keras-inv-shape", KS, "InverseNetworkAttack image_shape=(8, 8)", "sk().InverseNetworkAttack(keras_edge(), "
  "image_shape=(8, 8))", "image_shape", needs="keras")
E("keras-inv-epochs", KS, "InverseNetworkAttack epochs=0", "sk().InverseNetworkAttack(keras_edge(), "
  "image_shape=(8, 8, 1), epochs=0)", "epochs", needs="keras")
E("keras-mine-objective", KS, "estimate_mi_keras objective='bogus'", "sk().estimate_mi_keras(XM, ZM, seed=0, "
  "objective='bogus', max_steps=10)", "objective", needs="keras")
I("keras-dcor-scaled", KS, "dCor of float32 TensorFlow tensors scaled by 1e-30",
  "(float(sc.distance_correlation(tf_const(XS * 1e-30), tf_const(ZS))), "
  "float(sc.distance_correlation(tf_const(XS), tf_const(ZS))))", rtol=1e-4, atol=1e-6, needs="keras")
V("keras-loss-const-z", KS, "SiftFunnelLoss terms with a constant z (channels-last)",
  "keras_const_terms()", {"dcor": 0.0, "redundancy": 0.0}, "dCor and R_P of a constant are 0 (sift_core docstrings)",
  atol=1e-7, needs="keras")

# ---- sift_reference: the run folder's own files, read back by a resumed run
RF = "sift_reference.runner"
for kind, what in (("truncated", "cut in half"), ("nan", "holding NaN"), ("0d", "0-d"), ("3d", "of 3 dimensions"),
                   ("pickle", "a pickled object array (a crafted payload)"), ("text", "a text file")):
    V(f"recon-{kind}", RF, f"a saved *_recon.npy {what}: treated as missing, recomputed",
      f"runner._load_recon(recon_file(T, {kind!r}, MARKER)) is None", True,
      "_load_recon: saved reconstructions, or None when the file is missing or damaged; no pickle is loaded")
V("events-cut-short", RF, "events.jsonl whose last line a crash cut short, and a line of binary garbage",
  "[e['event'] for e in runner.read_events(events_file(T))]", ["train", "load"],
  "read_events: a line cut short by a crash is skipped")

# ---- the siftfunnel command -------------------------------------------------------------------------
CR, CD, CA, CS, CW = "cli:run", "cli:data files", "cli:assess", "cli:summarize", "cli:sweep"
C("cli-no-args", CR, "no subcommand", "cli()", "required")
C("cli-unknown-cmd", CR, "unknown subcommand", "cli('frobnicate')", "frobnicate")
C("cli-run-no-spec", CR, "run without a spec", "cli('run')", "spec")
C("cli-run-bad-flag", CR, "an unknown flag", "cli('run', spec(T), '--frobnicate')", "--frobnicate")
C("cli-seed-2-64", CR, "--seed 2**64", "cli('run', spec(T), '--seed', str(2**64))", "--seed")
C("cli-seed-expr", CR, "--seed '2**64'", "cli('run', spec(T), '--seed', '2**64')", "--seed")
C("cli-seed-neg", CR, "--seed -1", "cli('run', spec(T), '--seed', '-1')", "--seed")
C("cli-seed-float", CR, "--seed 1.5", "cli('run', spec(T), '--seed', '1.5')", "--seed")
C("cli-backend", CR, "--backend jax", "cli('run', spec(T), '--backend', 'jax')", "--backend")
C("cli-budget", CR, "--attack-budget tiny", "cli('run', spec(T), '--attack-budget', 'tiny')", "--attack-budget")
C("cli-spec-seed", CR, "experiment.seed = 2**40", "cli('run', spec(T, ('seed = 3', 'seed = 1099511627776')), "
  "'--out', T / 'o')", "experiment.seed")
C("cli-split-seed", CR, "dataset.split_seed = 2**40", "cli('run', spec(T, ('image_size = 28', 'image_size = 28\\n"
  "split_seed = 1099511627776')), '--out', T / 'o')", "dataset.split_seed")
C("cli-seed-negative-spec", CR, "experiment.seed = -1", "cli('run', spec(T, ('seed = 3', 'seed = -1')), '--out', "
  "T / 'o')", "experiment.seed")
C("cli-device-cuda7", CR, "training.device = 'cuda:7'", "cli('run', spec(T, ('batch_size = 32', 'batch_size = 32\\n"
  "device = \"cuda:7\"')), '--out', T / 'o')", "training.device", needs="torch")
C("cli-device-flag", CR, "--device cuda:7", "cli('run', spec(T), '--out', T / 'o', '--device', 'cuda:7')", "--device",
  needs="torch")
C("cli-device-malformed", CR, "--device gpu0 (demo)", "cli('demo', '--out', T / 'o', '--device', 'gpu0')", "--device",
  needs="torch")
C("cli-spec-dir", CR, "a directory as spec", "cli('run', T)", "is a directory")
C("cli-spec-missing", CR, "a spec file that does not exist", "cli('run', T / 'nope.toml')", "nope.toml")
C("cli-spec-builtin", CR, "an unknown built-in spec name", "cli('run', 'no_such_spec')", "no_such_spec")
C("cli-spec-not-toml", CR, "a spec that is not TOML", "cli('run', write(T / 's.toml', 'this is = = not toml'))",
  "not valid TOML")
C("cli-spec-binary", CR, "a binary file as spec", "cli('run', write(T / 's.toml', b'\\x00\\xff\\xfe' * 50))",
  "s.toml")
C("cli-spec-array", CR, "experiment a string", "cli('run', write(T / 's.toml', 'experiment = \"x\"'))", "experiment")
C("cli-unknown-section", CR, "an unknown section", "cli('run', spec(T, append='[extra]\\nx = 1'))", "extra")
C("cli-unknown-key", CR, "an unknown key", "cli('run', spec(T, ('seed = 3', 'seed = 3\\ncolour = 1')))",
  "experiment.colour")
C("cli-backend-spec", CR, "experiment.backend = 'jax'", "cli('run', spec(T, ('seed = 3', 'seed = 3\\nbackend = "
  "\"jax\"')))", "experiment.backend")
C("cli-digits-no-size", CR, "digits without image_size", "cli('run', spec(T, ('image_size = 28\\n', '')), '--out', "
  "T / 'o')", "dataset.image_size")
C("cli-image-size", CR, "image_size = 30", "cli('run', spec(T, ('image_size = 28', 'image_size = 30')))",
  "dataset.image_size")
C("cli-dataset-name", CR, "dataset.name = 'imagenet'", "cli('run', spec(T, ('\"digits\"', '\"imagenet\"')))",
  "dataset.name")
C("cli-npz-no-path", CR, "dataset npz without a path", "cli('run', spec(T, ('\"digits\"', '\"npz\"')))", "dataset.path")
C("cli-npz-missing-path", CR, "dataset path that does not exist", "cli('run', spec(T, ('\"digits\"', '\"npz\"\\n"
  "path = \"/no/such.npz\"')))", "dataset.path")
C("cli-batch-too-big", CR, "batch_size above n_target_train", "cli('run', spec(T, ('batch_size = 32', "
  "'batch_size = 128')))", "training.batch_size")
C("cli-epochs-zero", CR, "training.epochs = 0", "cli('run', spec(T, ('epochs = 1', 'epochs = 0')))", "training.epochs")
C("cli-lr-nan", CR, "training.lr = nan", "cli('run', spec(T, ('batch_size = 32', 'batch_size = 32\\nlr = nan')))",
  "training.lr")
C("cli-lr-string", CR, "training.lr = 'fast'", "cli('run', spec(T, ('batch_size = 32', 'batch_size = 32\\nlr = "
  "\"fast\"')))", "training.lr")
C("cli-width-bool", CR, "model.width = true", "cli('run', spec(T, ('width = 8', 'width = true')))", "model.width")
C("cli-no-defences", CR, "no [[defences]]", "cli('run', spec(T, ('[[defences]]\\nkind = \"none\"', '')))", "defences")
C("cli-no-none", CR, "defences without kind = 'none'", "cli('run', spec(T, ('kind = \"none\"', 'kind = \"noise\"')))",
  "defences")
C("cli-defence-dotdot", CR, "a defence named '..' (would escape cache/)", "cli('run', spec(T, append="
  "'[[defences]]\\nkind = \"noise\"\\nname = \"..\"'))", "defences[1].name")
C("cli-defence-slash", CR, "a defence named 'a/b'", "cli('run', spec(T, append='[[defences]]\\nkind = \"noise\"\\n"
  "name = \"a/b\"'))", "defences[1].name")
C("cli-defence-attacker-dir", CR, "a defence named like the attacker's cache folder",
  "cli('run', spec(T, append='[[defences]]\\nkind = \"noise\"\\nname = \"' + ATTACKER_DIR + '\"'))", "defences[1].name")
C("cli-defence-dup", CR, "two defences of one name", "cli('run', spec(T, append='[[defences]]\\nkind = \"noise\"\\n"
  "[[defences]]\\nkind = \"noise\"'))", "defences[2].name")
C("cli-defence-kind", CR, "defence kind 'magic'", "cli('run', spec(T, append='[[defences]]\\nkind = \"magic\"'))",
  "defences[1].kind")
C("cli-defence-param", CR, "noise sigma = -1", "cli('run', spec(T, append='[[defences]]\\nkind = \"noise\"\\n"
  "sigma = -1.0'))", "defences[1].sigma")
C("cli-attack-suite", CR, "attacks.suite with an unknown attack", "cli('run', spec(T, append='[attacks]\\n"
  "suite = [\"telepathy\"]'))", "attacks.suite")
C("cli-attack-n-images", CR, "attacks.rmle.n_images above n_private_eval", "cli('run', spec(T, append="
  "'[attacks.rmle]\\nn_images = 500'))", "attacks.rmle.n_images")
C("cli-criterion-samples", CR, "criterion.max_samples = 5", "cli('run', spec(T, append='[criterion]\\n"
  "max_samples = 5'))", "criterion.max_samples")
C("cli-defences-table", CR, "defences = 3 instead of an array of tables", "cli('run', spec(T, "
  "('[[defences]]\\nkind = \"none\"', ''), ('[experiment]', 'defences = 3\\n[experiment]')))", "defences")
C("cli-architecture", CR, "model.architecture = 'alexnet'", "cli('run', spec(T, ('architecture = \"cnn\"', "
  "'architecture = \"alexnet\"')))", "model.architecture")
C("cli-private-eval", CR, "n_private_eval + n_target_test below 20", "cli('run', spec(T, ('n_target_test = 40', "
  "'n_target_test = 1'), ('n_private_eval = 16', 'n_private_eval = 4')))", ("dataset.n_private_eval",
  "attacks."))
C("cli-out-file", CR, "--out is a file", "cli('run', spec(T), '--out', write(T / 'f', 'x'))", "--out")
C("cli-out-under-file", CR, "--out under a file", "cli('run', spec(T), '--out', write(T / 'f', 'x') / 'sub' / 'dir')",
  "--out")
C("cli-out-unwritable", CR, "--out where nothing can be written (/proc)", "cli('run', spec(T), '--out', "
  "'/proc/siftfunnel-audit')", "--out")
C("cli-rerun-keeps-cache", CR, "run again into an earlier run's folder without --resume",
  "cli('run', spec(T), '--out', earlier_run(T))", "--out",
  after="(T / 'out' / 'cache' / 'none' / 'model.json').is_file()")
C("cli-overwrite-foreign", CR, "--overwrite on a cache/ folder siftfunnel did not write",
  "cli('run', spec(T), '--out', foreign_cache(T), '--overwrite')", "--out",
  after="(T / 'out' / 'cache' / 'precious.txt').is_file()", needs="torch")
C("cli-sweep-seeds", CW, "--seeds a,b", "cli('sweep', spec(T), '--seeds', 'a,b')", "--seeds")
C("cli-sweep-executor", CW, "--executor dask", "cli('sweep', spec(T), '--executor', 'dask')", "--executor")
C("cli-sweep-section", CW, "[sweep] with an unknown key", "cli('sweep', spec(T, append='[sweep]\\nspeed = 3'), "
  "'--out', T / 'o')", "sweep")
C("cli-sweep-workers", CW, "--workers 0", "cli('sweep', spec(T), '--workers', '0', '--out', T / 'o', "
  "'--executor', 'sequential')", "--workers")
C("cli-sweep-threads", CW, "--threads -2", "cli('sweep', spec(T), '--threads', '-2', '--out', T / 'o', "
  "'--executor', 'sequential')", "--threads")
# hostile and malformed dataset files, read by `siftfunnel run` before any model trains
for kind in ("os.system", "exec", "popen", "eval-in-dict"):
    C(f"cli-cifar-pickle-{kind}", CD, f"a crafted CIFAR pickle ({kind}) as dataset",
      f"cli('run', data_spec(T, 'cifar', cifar_dir(T, {kind!r}, MARKER)), '--out', T / 'o')", "data_batch_1",
      after="not MARKER.exists()")
C("cli-cifar-truncated", CD, "a truncated CIFAR pickle", "cli('run', data_spec(T, 'cifar', cifar_dir(T, 'truncated')), "
  "'--out', T / 'o')", "data_batch_1")
C("cli-cifar-label-2-40", CD, "a CIFAR label of 2**40", "cli('run', data_spec(T, 'cifar', cifar_dir(T, 'label')), "
  "'--out', T / 'o')", "data_batch_1")
C("cli-npz-label-2-40", CD, "an npz label of 2**40", "cli('run', data_spec(T, 'npz', npz_set(T, y=LABELS_2_40)), "
  "'--out', T / 'o')", "set.npz")
C("cli-npz-label-neg", CD, "an npz label of -1", "cli('run', data_spec(T, 'npz', npz_set(T, y=-LABELS)), "
  "'--out', T / 'o')", "set.npz")
C("cli-npz-label-frac", CD, "an npz label of 1.5", "cli('run', data_spec(T, 'npz', npz_set(T, y=LABELS + 0.5)), "
  "'--out', T / 'o')", "set.npz")
C("cli-npz-object", CD, "an npz whose labels are pickled objects (a crafted payload)",
  "cli('run', data_spec(T, 'npz', npz_set(T, y=evil_objects(MARKER))), '--out', T / 'o')", "set.npz",
  after="not MARKER.exists()")
C("cli-npz-keys", CD, "an npz without x/y", "cli('run', data_spec(T, 'npz', npz_set(T, a=LABELS)), '--out', T / 'o')",
  "set.npz")
C("cli-npz-nan", CD, "an npz with NaN images", "cli('run', data_spec(T, 'npz', npz_set(T, x=np.full((40, 8, 8), "
  "np.nan))), '--out', T / 'o')", "set.npz")
C("cli-npz-not-zip", CD, "a dataset .npz that is not an archive", "cli('run', data_spec(T, 'npz', "
  "write(T / 'set.npz', b'garbage')), '--out', T / 'o')", "set.npz")
C("cli-idx-magic", CD, "an IDX file with a bad magic number", "cli('run', data_spec(T, 'idx', idx_dir(T, 'magic')), "
  "'--out', T / 'o')", "train-images-idx3-ubyte")
C("cli-idx-size", CD, "an IDX file whose header lies about its size", "cli('run', data_spec(T, 'idx', "
  "idx_dir(T, 'size')), '--out', T / 'o')", "train-images-idx3-ubyte")
C("cli-folder-empty", CD, "an image folder without class folders", "cli('run', data_spec(T, 'folder', "
  "mkdir(T / 'imgs')), '--out', T / 'o')", "imgs")
C("cli-folder-not-image", CD, "an image folder holding a .png that is not an image",
  "cli('run', data_spec(T, 'folder', bad_png_folder(T)), '--out', T / 'o')", "bad.png")
# `siftfunnel assess FEATURES.npz`
C("cli-assess-0d", CA, "x is 0-d", "cli('assess', npz(T, x=np.float64(1.0), z=np.zeros((5, 2))))", "array x")
C("cli-assess-npy", CA, "a .npy instead of .npz", "cli('assess', npy(T, np.zeros((5, 2))))", "not an .npz")
C("cli-assess-npy-0d", CA, "a 0-d .npy", "cli('assess', npy(T, np.float64(3.0)))", "not an .npz")
C("cli-assess-empty", CA, "empty arrays", "cli('assess', npz(T, x=np.zeros((0, 2)), z=np.zeros((0, 2))))", "empty")
C("cli-assess-strings", CA, "string x", "cli('assess', npz(T, x=np.array(['a', 'b']), z=np.zeros((2, 2))))", "array x")
C("cli-assess-complex", CA, "complex z", "cli('assess', npz(T, x=np.zeros((30, 2)), z=np.zeros((30, 2), complex)))",
  "array z")
C("cli-assess-n", CA, "x and z of different n", "cli('assess', npz(T, x=np.zeros((4, 2)), z=np.zeros((3, 2))))",
  "4 samples")
C("cli-assess-dir", CA, "a directory", "cli('assess', mkdir(T / 'f.npz'))", "is a directory")
C("cli-assess-missing", CA, "a file that does not exist", "cli('assess', T / 'nope.npz')", "nope.npz")
C("cli-assess-no-z", CA, "an npz without z", "cli('assess', npz(T, x=np.zeros((30, 2))))", "lacks")
C("cli-assess-object", CA, "an npz holding a crafted pickled object", "cli('assess', npz(T, x=evil_objects(MARKER), "
  "z=np.zeros((2, 2))))", "f.npz", after="not MARKER.exists()")
C("cli-assess-truncated", CA, "an npz cut in half", "cli('assess', truncated_npz(T))", "f.npz")
C("cli-assess-few", CA, "10 samples (the criterion needs 20)", "cli('assess', npz(T, x=XA[:10], z=ZA[:10]))",
  "x needs at least")
C("cli-assess-nan", CA, "NaN in x", "cli('assess', npz(T, x=XA * np.nan, z=ZA))", "x contains NaN")
C("cli-assess-const-x", CA, "constant x", "cli('assess', npz(T, x=np.ones((60, 3)), z=ZA))", "x is constant")
V("cli-assess-const-z", CA, "constant z = 5 via the command: the difficulty score", "assess_score(T, XA, C5A)", 1.0,
  "constant z scores exactly 1 (criterion.assess docstring)")
V("cli-assess-dead-z", CA, "all-zero z (dead features) via the command: the difficulty score",
  "assess_score(T, XA, np.zeros((60, 4)))", 1.0, "constant z scores exactly 1 (criterion.assess docstring)")
I("cli-assess-z-scaled", CA, "z scaled by 1e200 via the command: the difficulty score",
  "(assess_score(T, XA, ZA * 1e200), assess_score(T, XA, ZA))", rtol=1e-6, atol=1e-9)
# `siftfunnel summarize RUN...`
C("cli-sum-missing", CS, "a folder without results.json", "cli('summarize', T)", "no results.json")
C("cli-sum-badjson", CS, "results.json cut short", "cli('summarize', results(T, text='{\"dataset\": '))",
  "results.json")
C("cli-sum-array", CS, "results.json holding a list", "cli('summarize', results(T, text='[1, 2]'))", "results.json")
C("cli-sum-binary", CS, "results.json with invalid UTF-8", "cli('summarize', results(T, text=b'\\xff\\xfe{'))",
  "results.json")
for key in ("dataset", "rows", "spec.experiment.seed", "rows.0.accuracy", "rows.0.criterion", "rows.0.attacks"):
    C(f"cli-sum-no-{key}", CS, f"results.json without {key}", f"cli('summarize', results(T, drop={key!r}))",
      key.replace(".0.", "[0]."))
C("cli-sum-rows-empty", CS, "rows = []", "cli('summarize', results(T, put={'rows': []}))", "rows")
C("cli-sum-attacks-list", CS, "rows[0].attacks a list", "cli('summarize', results(T, put={'rows.0.attacks': [1]}))",
  "rows[0].attacks")
C("cli-sum-criterion-list", CS, "rows[0].criterion a list", "cli('summarize', results(T, put={'rows.0.criterion': "
  "[1]}))", ("rows[0].criterion", "criterion"))
C("cli-sum-accuracy-str", CS, "rows[0].accuracy a string", "cli('summarize', results(T, put={'rows.0.accuracy': "
  "'high'}))", ("rows[0].accuracy", "accuracy"))
C("cli-sum-second-bad", CS, "two runs, the second lacking rows", "cli('summarize', results(T), "
  "results(T / 'b', drop='rows'))", "rows")
C("cli-sum-rank-bad", CS, "rank_correlation.json cut short", "cli('summarize', results(T, rank='{'))",
  "rank_correlation.json")
# a few through the real entry point, in a child process
C("proc-seed", CR, "python -m sift_reference.cli run SPEC --seed 2**64 (child process)",
  "cli_proc('run', spec(T), '--seed', str(2**64))", "--seed")
C("proc-spec-dir", CR, "a directory as spec (child process)", "cli_proc('run', T)", "is a directory")
C("proc-assess-0d", CA, "assess on a 0-d array (child process)", "cli_proc('assess', npz(T, x=np.float64(1.0), "
  "z=np.zeros((5, 2))))", "array x")
C("proc-cifar-pickle", CD, "a crafted CIFAR pickle as dataset (child process)",
  "cli_proc('run', data_spec(T, 'cifar', cifar_dir(T, 'os.system', MARKER)), '--out', T / 'o')", "data_batch_1",
  after="not MARKER.exists()")
C("proc-summarize", CS, "summarize a results.json missing rows (child process)",
  "cli_proc('summarize', results(T, drop='rows'))", "rows")
C("proc-digits-no-size", CR, "digits without image_size (child process)",
  "cli_proc('run', spec(T, ('image_size = 28\\n', '')), '--out', T / 'o')", "dataset.image_size")


# --------------------------------------------------------------------------- namespace and helpers


class Exploit:
    """A pickle whose loading calls ``func(*args)``: what a crafted data file would hold."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


class ReachedTraining(BaseException):
    """Raised by the guard when the command goes as far as training a model (an accepted input)."""


@dataclass
class CliResult:
    rc: int | None
    out: str
    err: str
    escaped: str = ""  # the traceback of an exception that escaped main(), if any


TINY_SPEC = """
[experiment]
name = "audit"
seed = 3

[dataset]
name = "digits"
image_size = 28
n_target_train = 64
n_target_test = 40
n_attacker_aux = 48
n_private_eval = 16

[model]
architecture = "cnn"
width = 8

[training]
epochs = 1
batch_size = 32

[[defences]]
kind = "none"
"""


def namespace() -> dict[str, Any]:
    import sift_core as sc

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 6))
    z = np.tanh(x[:, :3] + 0.5 * rng.normal(size=(40, 3)))
    x_nan = x.copy()
    x_nan[3, 2] = np.nan
    z_inf = z.copy()
    z_inf[5, 1] = np.inf
    fmap = rng.normal(size=(4, 5, 6, 6))
    fmap_nan = fmap.copy()
    fmap_nan[0, 0, 0, 0] = np.nan
    t = np.arange(16) * (2 * np.pi / 16)
    ortho = np.stack([np.cos(t), np.sin(t)])[None].repeat(2, axis=0)  # (2, 2, 16): uncorrelated channels
    xk = rng.normal(size=(200, 2))
    zk = xk[:, :1] + 0.5 * rng.normal(size=(200, 1))
    xa = rng.normal(size=(60, 8))
    za = xa[:, :4] + 0.3 * rng.normal(size=(60, 4))
    xm = rng.normal(size=(64, 2))
    zm = xm + 0.5 * rng.normal(size=(64, 2))
    ns: dict[str, Any] = dict(
        np=np, math=math, sc=sc, Path=Path,
        X=x, Z=z, X_NAN=x_nan, Z_INF=z_inf, C0=np.zeros((40, 3)), C5=np.full((40, 3), 5.0),
        XI=rng.integers(-5, 5, size=(40, 3)), ZB=rng.random((40, 2)) > 0.5,
        XL=rng.normal(size=(300, 3)), ZL=rng.normal(size=(300, 2)),
        DCOR_NORM={}, HSIC_NORM={"normalized": True},
        FMAP=fmap, FMAP_NAN=fmap_nan, ORTHO=ortho,
        XK=xk, ZK=zk, ATOMS3=rng.integers(0, 3, 600).astype(float), ATOMS4=rng.integers(0, 4, 600).astype(float),
        XA=xa, ZA=za, C5A=np.full((60, 4), 5.0), XM=xm, ZM=zm, XS=x[:16], ZS=z[:16],
        TINY_MINE=dict(hidden=(4,), max_steps=20, batch_size=16, eval_every=10, patience=1, folds=2, workers=1),
        IMG=rng.random((3, 1, 12, 12)), IMG8=rng.random((2, 1, 8, 8)),
        LABELS=np.arange(40) % 4, LABELS_2_40=np.where(np.arange(40) == 3, 2**40, np.arange(40) % 4),
        TINY_SPEC=TINY_SPEC,
    )
    ns.update({f.__name__: f for f in (
        png_failed_overwrite_keeps, cli, cli_proc, spec, write, mkdir, data_spec, cifar_dir, npz_set, evil_objects,
        idx_dir, bad_png_folder, npz, npy, truncated_npz, assess_score, results, earlier_run, foreign_cache, sk,
        keras_edge, tf_const, keras_const_terms, recon_file, events_file)})
    try:
        from sift_reference import runner
        from sift_reference.spec import ATTACKER_DIR
    except ImportError:
        runner, ATTACKER_DIR = None, "attacker"
    ns.update(runner=runner, ATTACKER_DIR=ATTACKER_DIR)
    try:
        import torch
    except ImportError:
        return ns
    torch.set_num_threads(1)
    import sift_torch as st
    from torch import nn

    g = torch.Generator().manual_seed(0)
    ns.update(
        torch=torch, nn=nn, st=st,
        TX=torch.rand(16, 1, 8, 8, generator=g), TY=torch.arange(16) % 2,
        TZ=torch.rand(16, 3, 4, 4, generator=g), TL=torch.randn(16, 2, generator=g),
        EDGE=nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU()),
        TINY_MINE_TORCH=dict(hidden=(4,), max_steps=20, batch_size=16, eval_every=10, patience=1, folds=2),
    )
    ns.update({f.__name__: f for f in (tiny_model, tiny_cfg, tiny_fit, resume_changed, resume_damaged, load_ckpt,
                                       tiny_inverse, dead_feature_loss)})
    return ns


# ---- core helpers


def png_failed_overwrite_keeps(tmp: Path) -> bool:
    """Write a PNG, then try to overwrite it with an invalid image: the first file must be byte-identical."""
    import sift_core as sc

    path = tmp / "grid.png"
    sc.imaging.save_grid_png(path, np.zeros((4, 4, 3)))
    before = path.read_bytes()
    with contextlib.suppress(ValueError, TypeError):
        sc.imaging.save_grid_png(path, np.full((4, 4, 3), np.nan))
    leftovers = [p.name for p in tmp.iterdir() if p.name != "grid.png"]
    return path.read_bytes() == before and not leftovers


# ---- torch helpers


def tiny_model():
    import sift_torch as st

    return st.build_split("cnn", image_size=8, num_classes=2, width=2, seed=0)


def tiny_cfg(tmp: Path, **changes):
    import sift_torch as st

    settings = dict(epochs=2, batch_size=8, checkpoint_dir=str(tmp / "ckpt"), progress=False, seed=0)
    settings.update(changes)
    return st.TrainConfig(**settings)


def _tiny_data():
    import torch

    g = torch.Generator().manual_seed(1)
    return torch.rand(16, 1, 8, 8, generator=g), torch.arange(16) % 2


def tiny_fit(tmp: Path, *, data=None, resume=False, model=None, callbacks=(), **changes):
    import sift_torch as st

    model = model or tiny_model()
    trainer = st.Trainer(model, st.CrossEntropyLoss(), tiny_cfg(tmp, **changes), callbacks=callbacks)
    trainer.fit(data if data is not None else _tiny_data(), resume=resume)
    return model


def resume_changed(tmp: Path, **changes):
    """Train 2 epochs with checkpoints, then resume with other settings (must raise, naming them)."""
    tiny_fit(tmp)
    return tiny_fit(tmp, resume=True, **changes)


def _weights(model) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def resume_damaged(tmp: Path, marker: Path, how: str) -> dict:
    """Train 2 epochs (last.pt = end of epoch 2, prev.pt = epoch 1), damage last.pt, resume the same run."""
    import torch

    reference = _weights(tiny_fit(tmp / "plain", checkpoint_dir=None))
    tiny_fit(tmp)
    last = tmp / "ckpt" / "last.pt"
    data = last.read_bytes()
    if how == "half":
        last.write_bytes(data[: len(data) // 2])
    elif how == "empty":
        last.write_bytes(b"")
    elif how == "garbage":
        last.write_bytes(b"\x80\x04garbage" * 100)
    else:
        torch.save({"format": 1, "payload": Exploit(os.system, f"touch {marker}")}, last)
    steps: list[int] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resumed = _weights(tiny_fit(tmp, resume=True, callbacks=[lambda trainer, info: steps.append(info["step"])]))
    warned = any(issubclass(w.category, RuntimeWarning) and "last.pt" in str(w.message)
                 and "prev.pt instead" in str(w.message) for w in caught)
    same = reference.keys() == resumed.keys() and all(torch.equal(reference[k], resumed[k]) for k in reference)
    return {"warned": warned, "steps_run": len(steps), "same_weights": same, "marker": marker.exists()}


def load_ckpt(tmp: Path, content, marker: Path | None = None):
    import sift_torch as st
    import torch

    path = tmp / "x.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content == "half":
        st.save_checkpoint({"a": torch.zeros(100)}, path)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif content == "foreign":
        torch.save({"weights": torch.zeros(3)}, path)
    else:
        torch.save({"format": 1, "payload": Exploit(os.system, f"touch {marker}")}, path)
    return st.load_checkpoint(path)


def tiny_inverse():
    import sift_torch as st
    import torch
    from torch import nn

    torch.manual_seed(0)
    edge = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU())
    return st.InverseNetworkAttack(edge, image_shape=(1, 8, 8), epochs=1, width=4, min_width=2, progress=False)


def dead_feature_loss() -> dict:
    import sift_torch as st
    import torch

    x, y = torch.rand(8, 1, 4, 4), torch.arange(8) % 2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loss = st.SiftFunnelLoss()(x, torch.zeros(8, 3, 2, 2), torch.zeros(8, 2), y)
    warned = any(issubclass(w.category, st.DeadFeaturesWarning) for w in caught)
    return {"warned": warned, "finite": bool(torch.isfinite(loss))}


# ---- keras helpers


def sk():
    import sift_keras

    return sift_keras


def keras_edge():
    import keras

    return keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3, padding="same")])


def tf_const(a):
    import tensorflow as tf

    return tf.constant(np.asarray(a, dtype=np.float32))


def keras_const_terms() -> dict:
    import sift_keras

    rng = np.random.default_rng(0)
    x = tf_const(rng.random((8, 4, 4, 1)))
    terms = sift_keras.SiftFunnelLoss()(x, tf_const(np.full((8, 2, 2, 3), 5.0)), tf_const(np.zeros((8, 2))),
                                        tf_const(np.arange(8) % 2).numpy().astype(np.int64))
    return {"dcor": float(terms["dcor"]), "redundancy": float(terms["redundancy"])}


# ---- run-folder helpers


def recon_file(tmp: Path, kind: str, marker: Path) -> Path:
    path = tmp / "inverse_network_recon.npy"
    good = np.random.default_rng(0).random((4, 1, 8, 8)).astype(np.float32)
    if kind == "truncated":
        np.save(path, good)
        path.write_bytes(path.read_bytes()[:100])
    elif kind == "nan":
        np.save(path, good * np.nan)
    elif kind == "0d":
        np.save(path, np.float32(1.0))
    elif kind == "3d":
        np.save(path, good[:, 0])
    elif kind == "pickle":
        np.save(path, evil_objects(marker), allow_pickle=True)
    else:
        path.write_text("not an array")
    return path


def events_file(tmp: Path) -> Path:
    write(tmp / "events.jsonl", '{"event": "train", "defence": "none"}\n\x00\x01 garbage\n'
          '{"event": "load", "defence": "none"}\n{"event": "unit", "defe')
    return tmp


# ---- command-line helpers


@contextlib.contextmanager
def _no_training():
    """Stop the command where it would start training a model: the input was accepted."""
    try:
        from sift_reference import runner
    except ImportError:
        yield
        return

    def refuse(*args, **kwargs):
        raise ReachedTraining("the command accepted the input and went on to train")

    saved = runner.run_defence
    runner.run_defence = refuse
    try:
        yield
    finally:
        runner.run_defence = saved


def cli(*argv) -> CliResult:
    """``sift_reference.cli.main(argv)`` in this process, stdout and stderr captured."""
    from sift_reference import cli as command

    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), _no_training():
            rc = command.main([str(a) for a in argv])
    except ReachedTraining:
        raise
    except BaseException:  # noqa: BLE001  (a defect: main let an exception through)
        return CliResult(None, out.getvalue(), err.getvalue(), traceback.format_exc())
    return CliResult(rc, out.getvalue(), err.getvalue())


def cli_proc(*argv) -> CliResult:
    """``python -m sift_reference.cli argv`` in a child process (the real entry point)."""
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    p = subprocess.run([sys.executable, "-m", "sift_reference.cli", *map(str, argv)], capture_output=True, text=True,
                       env=env, timeout=300)
    return CliResult(p.returncode, p.stdout, p.stderr)


def write(path: Path, content) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def spec(tmp: Path, *edits: tuple[str, str], append: str = "") -> Path:
    """The tiny spec with ``old -> new`` text edits (each must apply) and ``append``ed TOML."""
    text = TINY_SPEC
    for old, new in edits:
        if old not in text:
            raise AssertionError(f"audit spec edit {old!r} does not apply")
        text = text.replace(old, new, 1)
    return write(tmp / "spec.toml", text + "\n" + append + "\n")


def data_spec(tmp: Path, name: str, path: Path) -> Path:
    return spec(tmp, ('name = "digits"', f"name = {json.dumps(name)}\npath = {json.dumps(str(path))}"))


def _cifar_batch(n: int = 40, labels=None) -> dict:
    rng = np.random.default_rng(0)
    return {b"batch_label": b"training batch 1 of 5", b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"labels": list(labels) if labels is not None else [i % 4 for i in range(n)]}


def cifar_dir(tmp: Path, kind: str, marker: Path | None = None) -> Path:
    d = mkdir(tmp / "cifar")
    payload: Any
    if kind == "os.system":
        payload = Exploit(os.system, f"touch {marker}")
    elif kind == "exec":
        payload = Exploit(exec, f"open({str(marker)!r}, 'w').close()")
    elif kind == "popen":
        payload = Exploit(subprocess.Popen, ["touch", str(marker)])
    elif kind == "eval-in-dict":
        payload = {b"data": Exploit(eval, f"open({str(marker)!r}, 'w')"), b"labels": [0]}
    elif kind == "truncated":
        (d / "data_batch_1").write_bytes(pickle.dumps(_cifar_batch())[:200])
        return d
    else:  # a label of 2**40
        payload = _cifar_batch(labels=[2**40] + [0] * 39)
    (d / "data_batch_1").write_bytes(pickle.dumps(payload, protocol=2))
    return d


def npz_set(tmp: Path, **arrays) -> Path:
    """A dataset .npz: 40 8 x 8 images and labels 0..3 unless given."""
    rng = np.random.default_rng(0)
    if "a" not in arrays:
        arrays.setdefault("x", rng.integers(0, 256, (40, 8, 8), dtype=np.uint8))
        arrays.setdefault("y", np.arange(40) % 4)
    path = tmp / "set.npz"
    np.savez(path, **arrays)
    return path


def evil_objects(marker: Path) -> np.ndarray:
    a = np.empty(40, dtype=object)
    a[:] = [Exploit(os.system, f"touch {marker}")] * 40
    return a


def idx_dir(tmp: Path, kind: str) -> Path:
    d = mkdir(tmp / "idx")
    labels = bytes([0, 0, 8, 1]) + (40).to_bytes(4, "big") + bytes(i % 4 for i in range(40))
    if kind == "magic":
        images = b"\x12\x34\x08\x03" + b"\x00" * 64
    else:  # the header says 40 x 28 x 28 but the data are shorter
        images = bytes([0, 0, 8, 3]) + b"".join(v.to_bytes(4, "big") for v in (40, 28, 28)) + b"\x00" * 100
    (d / "train-images-idx3-ubyte").write_bytes(images)
    (d / "train-labels-idx1-ubyte").write_bytes(labels)
    return d


def bad_png_folder(tmp: Path) -> Path:
    d = mkdir(tmp / "imgs" / "cats")
    (d / "bad.png").write_bytes(b"this is not a png")
    return tmp / "imgs"


def npz(tmp: Path, **arrays) -> Path:
    path = tmp / "f.npz"
    np.savez(path, **arrays)
    return path


def npy(tmp: Path, array) -> Path:
    path = tmp / "f.npy"
    np.save(path, array)
    return path


def truncated_npz(tmp: Path) -> Path:
    path = npz(tmp, x=np.zeros((60, 8)), z=np.zeros((60, 4)))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def assess_score(tmp: Path, x, z) -> float:
    """The difficulty score `siftfunnel assess --json` prints for x and z."""
    path = tmp / f"f{len(list(tmp.iterdir()))}.npz"
    np.savez(path, x=x, z=z)
    r = cli("assess", path, "--json")
    if r.rc != 0:
        raise RuntimeError(f"siftfunnel assess exited {r.rc}: {r.err.strip() or r.escaped.strip()[-300:]}")
    return float(json.loads(r.out)["difficulty_score"])


RESULTS = {
    "schema_version": 2, "versions": {}, "backend": "torch", "dataset": "digits",
    "spec": {"experiment": {"name": "audit", "seed": 0}},
    "rows": [{"defence": "none", "accuracy": 0.9, "accuracy_drop": 0.0, "edge_params": 1, "edge_flops": 1,
              "feature_size": 1, "privacy": {"mse": 0.01, "ssim": 0.8},
              "attacks": {"rmle": {"mse": 0.01, "psnr": 20.0, "ssim": 0.8}},
              "criterion": {"difficulty_score": 0.3}}],
}


def results(tmp: Path, *, text=None, drop: str | None = None, put: dict | None = None, rank=None) -> Path:
    """A run folder whose results.json is the well-formed RESULTS with a key dropped or set, or ``text``."""
    d = mkdir(tmp / "run")
    doc = json.loads(json.dumps(RESULTS))
    for dotted, value in (put or {}).items():
        *parents, last = dotted.split(".")
        node = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[int(last) if isinstance(node, list) else last] = value
    if drop:
        *parents, last = drop.split(".")
        node = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        del node[last]
    write(d / "results.json", text if text is not None else json.dumps(doc))
    if rank is not None:
        write(d / "rank_correlation.json", rank)
    return d


def earlier_run(tmp: Path) -> Path:
    from sift_reference import runner

    out = mkdir(tmp / "out" / "cache" / "none").parent.parent
    write(out / "cache" / "none" / "model.json", "{}")
    write(out / runner.MARKER, "siftfunnel run directory\n")
    return out


def foreign_cache(tmp: Path) -> Path:
    out = mkdir(tmp / "out" / "cache").parent
    write(out / "cache" / "precious.txt", "not ours")
    return out


# --------------------------------------------------------------------------- classification


def _is_finite_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and math.isfinite(v)


def _close(a, b, rtol: float, atol: float) -> bool:
    if isinstance(b, float) and math.isinf(b):
        return isinstance(a, (int, float, np.floating)) and a == b
    return _is_finite_number(a) and abs(float(a) - float(b)) <= atol + rtol * abs(float(b))


def _matches(got, want, rtol: float, atol: float) -> bool:
    if want is None or isinstance(want, bool):
        return got is want or (isinstance(got, (bool, np.bool_)) and bool(got) == want)
    if isinstance(want, tuple) and want and want[0] in ("<=", ">=", "in"):
        if not _is_finite_number(got):
            return False
        if want[0] == "<=":
            return got <= want[1]
        if want[0] == ">=":
            return got >= want[1]
        return want[1] <= got <= want[2]
    if isinstance(want, (int, float)):
        return _close(got, float(want), rtol, atol)
    if isinstance(want, list):
        return isinstance(got, list) and len(got) == len(want) and all(
            _matches(g, w, rtol, atol) for g, w in zip(got, want))
    if isinstance(want, dict):
        return isinstance(got, dict) and set(got) == set(want) and all(
            _matches(got[k], want[k], rtol, atol) for k in want)
    return got == want


def _short(v: Any, limit: int = 160) -> str:
    s = repr(v)
    return s if len(s) <= limit else s[: limit - 3] + "..."


def _where(exc: BaseException) -> str:
    """The innermost frame of an exception, as package/module:line."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "?"
    f = frames[-1]
    parts = Path(f.filename).parts
    for anchor in ("site-packages", "sift_core", "sift_torch", "sift_keras", "sift_reference"):
        if anchor in parts:
            i = parts.index(anchor)
            parts = parts[i + 1:] if anchor == "site-packages" else parts[i:]
            break
    return f"{'/'.join(parts[-3:])}:{f.lineno}"


def _error_text(exc: BaseException, limit: int = 300) -> str:
    """``Type: message`` on one line, cut to ``limit`` characters."""
    text = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def classify(case: Case, result: Any, exc: BaseException | None, tmp: Path, ns: dict) -> tuple[str, str]:
    """(outcome, detail) of one case."""
    marker = tmp / "pwned"
    if marker.exists():
        return "code-executed", f"the marker {marker.name} was created by the crafted file"
    if isinstance(exc, ReachedTraining):
        return "unclassified", "accepted: the command went on to train a model (stopped by the audit)"
    after_ok, after_note = True, ""
    if case.after is not None:
        try:
            after_ok = bool(eval(case.after, ns, {"T": tmp, "MARKER": marker}))  # noqa: S307
        except Exception as err:  # noqa: BLE001
            after_ok, after_note = False, f"; the check {case.after!r} raised {_error_text(err)}"
        if not after_ok and not after_note:
            after_note = f"; the check {case.after!r} failed"

    if case.expect == "named-error":
        if exc is None:
            if not _is_finite_number(result) and isinstance(result, (float, np.floating)):
                return "silent-wrong", f"returned {result!r} instead of raising"
            return "unclassified", f"accepted: returned {_short(result)} (an error naming {case.names[0]!r} expected)"
        text = _error_text(exc)
        if isinstance(exc, case.errors) and any(n in str(exc) for n in case.names):
            if not after_ok:
                return "silent-wrong", f"{text}{after_note}"
            return "named-error", text
        why = ("not a documented type" if not isinstance(exc, case.errors)
               else f"message names none of {list(case.names)}")
        return "traceback", f"{text} [{why}; raised at {_where(exc)}]"

    if case.expect == "cli-one-line":
        if exc is not None:
            return "traceback", f"the audit helper raised {_error_text(exc)} at {_where(exc)}"
        r: CliResult = result
        if r.escaped:
            last = r.escaped.strip().splitlines()[-1]
            return "traceback", f"an exception escaped main(): {last}"
        lines = r.err.splitlines()
        one = r.err.endswith("\n") and len(lines) == 1
        line = _short(r.err.strip(), 300)
        if r.rc == 2 and one and "Traceback" not in r.err and any(n in r.err for n in case.names):
            if not after_ok:
                return "silent-wrong", f"exit 2 with {line}{after_note}"
            return "cli-one-line", r.err.strip()
        if r.rc == 0:
            return "unclassified", f"accepted: exit 0 ({_short(r.out.strip()[-200:])})"
        if "Traceback" in r.err:
            return "traceback", f"exit {r.rc}; stderr ends: {_short(r.err.strip().splitlines()[-1])}"
        if r.rc == 2 and one:
            return "traceback", f"exit 2, one line, but it names none of {list(case.names)}: {line}"
        return "traceback", f"exit {r.rc}, {len(lines)} stderr line(s): {_short(r.err.strip()[-300:])}"

    if case.expect == "documented-value":
        if exc is not None:
            return "traceback", f"{_error_text(exc)} at {_where(exc)} (documented value {case.value!r})"
        if _matches(result, case.value, case.rtol, case.atol) and after_ok:
            return "documented-value", f"{_short(result)} ({case.why})"
        return "silent-wrong", f"got {_short(result)}, documented {case.value!r} ({case.why}){after_note}"

    if case.expect == "invariance-ok":
        if exc is not None:
            return "traceback", f"{_error_text(exc)} at {_where(exc)}"
        a, b = result
        if _is_finite_number(b) and _close(a, b, case.rtol, case.atol):
            return "invariance-ok", f"{a!r} vs {b!r}"
        return "silent-wrong", f"{a!r} (transformed) vs {b!r} (plain); rtol {case.rtol:g}"
    raise AssertionError(case.expect)


def _available(name: str) -> bool:
    if not name:
        return True
    import importlib.util

    if name == "torch":
        return importlib.util.find_spec("torch") is not None
    return importlib.util.find_spec("keras") is not None and importlib.util.find_spec("tensorflow") is not None


def run_cases(cases: list[Case], *, skip_keras: bool, verbose: bool) -> list[dict]:
    ns = namespace()
    records = []
    root = Path(tempfile.mkdtemp(prefix="siftfunnel-audit-"))
    try:
        for i, case in enumerate(cases):
            tmp = root / f"{i:03d}"
            tmp.mkdir()
            t0 = time.perf_counter()
            if skip_keras and case.needs == "keras":
                outcome, detail = "skipped", "--skip-keras"
            elif not _available(case.needs):
                outcome, detail = "skipped", f"{case.needs} is not installed"
            else:
                result, exc = None, None
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    try:
                        result = eval(case.call, ns, {"T": tmp, "MARKER": tmp / "pwned"})  # noqa: S307
                    except BaseException as err:  # noqa: BLE001
                        if isinstance(err, KeyboardInterrupt):
                            raise
                        exc = err
                outcome, detail = classify(case, result, exc, tmp, ns)
            seconds = time.perf_counter() - t0
            rec = {"id": case.id, "target": case.target, "description": case.description, "call": case.call,
                   "expected": case.expect, "outcome": outcome, "pass": outcome == case.expect,
                   "detail": detail, "seconds": round(seconds, 3)}
            if case.expect == "documented-value":
                rec["documented"] = repr(case.value)
                rec["why"] = case.why
            records.append(rec)
            if verbose:
                mark = "ok " if rec["pass"] else ("-- " if outcome in OTHER else "FAIL")
                print(f"{mark} {case.id:32s} {outcome:17s} {seconds:6.2f}s  {_short(detail, 110)}", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return records


# --------------------------------------------------------------------------- reports


def summary_tables(records: list[dict]) -> str:
    by_class = Counter(r["outcome"] for r in records)
    lines = ["| class | cases |", "|---|---|"]
    lines += [f"| {c} | {by_class.get(c, 0)} |" for c in CLASSES]
    lines.append(f"| **total** | **{len(records)}** |")
    targets = list(dict.fromkeys(r["target"] for r in records))
    shown = [c for c in CLASSES if any(r["outcome"] == c for r in records)]
    lines += ["", "| target | cases | " + " | ".join(shown) + " |", "|---|---|" + "---|" * len(shown)]
    for t in targets:
        rs = [r for r in records if r["target"] == t]
        counts = Counter(r["outcome"] for r in rs)
        lines.append(f"| {t} | {len(rs)} | " + " | ".join(str(counts.get(c, 0)) for c in shown) + " |")
    return "\n".join(lines)


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(records: list[dict], meta: dict) -> str:
    out = [f"# Bad and hostile inputs: {len(records)} cases", "",
           f"`{meta['command']}`; {meta['wall_s']:.0f} s; Python {meta['python']}, numpy {meta['numpy']}.", "",
           summary_tables(records), "", "## Every case", "",
           "| id | target | description | call | expected | outcome | detail |", "|---|---|---|---|---|---|---|"]
    for r in records:
        out.append("| " + " | ".join(_cell(v) for v in (r["id"], r["target"], r["description"], f"`{r['call']}`",
                                                          r["expected"], r["outcome"], r["detail"])) + " |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="audit-bad-inputs", help="folder for the JSON and markdown (default: %(default)s)")
    p.add_argument("--only", help="run only the cases whose id matches this regular expression")
    p.add_argument("--skip-keras", action="store_true", help="skip the Keras cases (TensorFlow takes ~10 s to import)")
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    p.add_argument("-q", "--quiet", action="store_true", help="no line per case")
    args = p.parse_args(argv)
    ids = Counter(c.id for c in CASES)
    dup = [i for i, n in ids.items() if n > 1]
    if dup:
        raise SystemExit(f"duplicate case ids: {dup}")
    cases = [c for c in CASES if not args.only or re.search(args.only, c.id)]
    if args.list:
        for c in cases:
            print(f"{c.id:32s} {c.target:22s} {c.expect:17s} {c.call}")
        return 0
    t0 = time.perf_counter()
    records = run_cases(cases, skip_keras=args.skip_keras, verbose=not args.quiet)
    wall = time.perf_counter() - t0
    meta = {"command": "python benchmarks/audit_bad_inputs.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "wall_s": wall, "python": sys.version.split()[0], "numpy": np.__version__,
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS")}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "audit_bad_inputs.json").write_text(json.dumps({"meta": meta, "cases": records}, indent=1) + "\n")
    (out / "audit_bad_inputs.md").write_text(markdown(records, meta))
    print()
    print(summary_tables(records))
    bad = [r for r in records if r["outcome"] in FAILURES]
    other = [r for r in records if r["outcome"] == "unclassified"]
    for title, rs in (("failures", bad), ("unclassified", other)):
        if rs:
            print(f"\n{title}:")
            for r in rs:
                print(f"  {r['id']} [{r['outcome']}] {r['call']}\n      {r['detail']}")
    print(f"\n{len(records)} cases in {wall:.0f} s; wrote {out / 'audit_bad_inputs.json'} and "
          f"{out / 'audit_bad_inputs.md'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
