"""Cases for the ``sift_core`` targets: dependence, redundancy, mi, criterion, metrics, frontier, imaging, other."""

from __future__ import annotations

import math

from .cases import E, I, V

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
