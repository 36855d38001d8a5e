"""Framework-free MINE: an MLP critic on concat(x, z) trained in numpy (Belghazi et al. 2018).

The training loop is the classic one -- minibatches of aligned pairs (joint)
and of x against z from independently drawn rows (product of marginals), a
bound from :mod:`sift_core.bounds` as the objective, Adam -- with the
gradient of the bound with respect to the critic's scores written out by
hand and backpropagated through :class:`sift_core.mi._mlp.MLP`.

The estimate is never computed on training data.  By default two critics are
cross-fitted (each trained on one half and scored on the other), every
critic is scored on its held-out part every ``eval_every`` steps with weight
averaging and early stopping, and the held-out Donsker-Varadhan values are
averaged; the standard error comes from held-out blocks.  Defaults (a 32 x 32
squareplus critic, Adam at 3e-3, batches of 128, EMA rate 0.01, averaging
0.99, patience 5) were tuned on the dense 5 x 5 task of Czyz et al. (2023):
see ``docs/bench_mi.md``.
"""

from __future__ import annotations

import contextlib
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import bounds
from .._backend import NUMPY
from .._validation import check_choice, check_int, check_positive, check_same_n
from ._mlp import ACTIVATIONS, MLP, Adam
from ._special import normal_quantile
from .knn import to_numpy_samples

__all__ = ["MIEstimate", "mine"]

OBJECTIVES = ("mine", "dv", "nwj", "smile")


@dataclass(frozen=True)
class MIEstimate:
    """A mutual-information estimate (nats) with its spread and its training history.

    ``value``: the held-out DV bound (averaged over the cross-fitting folds);
    ``stderr``: its standard error over held-out blocks;
    ``fold_values``: the held-out value of each fold's critic;
    ``train_curves[k]``: fold k's minibatch objective at every step;
    ``eval_steps[k]`` / ``eval_curves[k]``: fold k's held-out value during training;
    ``best_steps[k]``: the step whose critic fold k kept.
    """

    value: float
    stderr: float
    method: str
    fold_values: tuple = ()
    train_curves: tuple = field(default=(), repr=False)
    eval_steps: tuple = field(default=(), repr=False)
    eval_curves: tuple = field(default=(), repr=False)
    best_steps: tuple = ()
    n_samples: int = 0

    @property
    def train_curve(self) -> np.ndarray:
        """The first fold's training curve."""
        return self.train_curves[0]

    def __float__(self) -> float:
        return float(self.value)


def _score_gradient(objective: str, tj: np.ndarray, tm: np.ndarray, log_ema, ema_rate: float, clip: float):
    """(objective estimate, new EMA state, d(-objective)/d tj, d(-objective)/d tm)."""
    nj, nm = tj.shape[0], tm.shape[0]
    gj = np.full(nj, -1.0 / nj)
    if objective == "mine":
        value, log_ema = bounds.mine_ema(tj, tm, log_ema, rate=ema_rate)
        # bias-corrected: E_Q[e^T grad T] / EMA  (Belghazi et al. 2018, eq. 12)
        gm = np.exp(tm - log_ema) / nm
    elif objective == "dv":
        value = bounds.dv(tj, tm)
        w = np.exp(tm - tm.max())
        gm = w / w.sum()
    elif objective == "nwj":
        value = bounds.nwj(tj, tm)
        gm = np.exp(np.minimum(tm - 1.0, 700.0)) / nm
    else:  # smile: clipped-DV value, Jensen-Shannon gradient
        value = bounds.smile(tj, tm, clip=clip)
        gj = -0.5 * (1.0 - np.tanh(0.5 * tj)) / nj  # -sigmoid(-t) / n
        gm = 0.5 * (1.0 + np.tanh(0.5 * tm)) / nm  # sigmoid(t) / m
    return float(value), log_ema, gj, gm


class _HeldOut:
    """Fixed evaluation pairs on the held-out split: the aligned pairs and ``shifts`` derangements of z."""

    def __init__(self, x: np.ndarray, z: np.ndarray, shifts: int, n_blocks: int):
        n = x.shape[0]
        self.n = n
        steps = np.unique(np.linspace(1, n - 1, num=min(shifts, n - 1)).astype(int))
        idx = np.arange(n)
        self.joint = np.hstack([x, z])
        # x_i against z_{i+s}: every x is paired with `len(steps)` different z's, none its own
        self.marg = np.vstack([np.hstack([x, z[(idx + s) % n]]) for s in steps])
        self.n_shift = len(steps)
        self.blocks = np.array_split(np.arange(n), n_blocks)

    def scores(self, net: MLP):
        return net.forward(self.joint), net.forward(self.marg).reshape(self.n_shift, self.n)

    def estimate(self, net: MLP) -> float:
        tj, tm = self.scores(net)
        return float(bounds.dv(tj, tm))

    def estimate_with_blocks(self, net: MLP) -> tuple[float, np.ndarray]:
        """The DV value on the whole split and on each block (for the standard error)."""
        tj, tm = self.scores(net)
        per_block = np.array([bounds.dv(tj[b], tm[:, b]) for b in self.blocks])
        return float(bounds.dv(tj, tm)), per_block


def _preprocess(w: np.ndarray, inputs: str) -> np.ndarray:
    """Per-column invertible maps of the inputs (which leave I(x; z) unchanged).

    ``"standardize"``: (w - mean) / sd.  ``"asinh"``: asinh((w - median) / s) with
    s the normal-consistent interquartile range (sd where that is 0) -- identity-like
    near the centre and logarithmic in the tails.  ``"rank"``: the Gaussian rank
    transform Phi^{-1}((rank - 1/2) / n) (ties share their average rank), which
    makes every marginal standard normal: nearly the identity on Gaussian data,
    and heavy tails (a Cauchy sample reaches 1e4) cannot saturate the critic.
    Statistics of all samples are used: they leak nothing about the pairing.
    """
    if inputs == "rank":
        n = w.shape[0]
        out = np.empty_like(w)
        for c in range(w.shape[1]):
            order = np.argsort(w[:, c], kind="stable")
            ranks = np.empty(n)
            ranks[order] = np.arange(n)
            # average the ranks of tied values so that equal inputs stay equal
            _, inverse, counts = np.unique(w[order, c], return_inverse=True, return_counts=True)
            first = np.concatenate(([0], np.cumsum(counts)[:-1]))
            ranks[order] = (first + (counts - 1) / 2.0)[inverse]
            out[:, c] = normal_quantile((ranks + 0.5) / n)
        return out
    if inputs == "standardize":
        centre, scale = w.mean(axis=0), w.std(axis=0)
    else:
        q1, centre, q3 = np.percentile(w, [25, 50, 75], axis=0)
        scale = (q3 - q1) / 1.3489795
        scale = np.where(scale > 0, scale, w.std(axis=0))
    scale = np.where(scale > 0, scale, 1.0)
    w = (w - centre) / scale
    return np.arcsinh(w) if inputs == "asinh" else w


def _check_unit(value, name: str) -> float:
    check_positive(value, name, allow_zero=True)
    if not value < 1:
        raise ValueError(f"{name} must lie in [0, 1); got {value!r}")
    return float(value)


def _one_blas_thread():
    """Small matrix products run fastest on one BLAS thread (threads only contend on a shared machine)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: without it BLAS keeps its own threading
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


@dataclass(frozen=True)
class _Options:
    objective: str
    hidden: tuple
    activation: str
    lr: float
    batch_size: int
    max_steps: int
    ema_rate: float
    smile_clip: float
    eval_every: int
    patience: int
    averaging: float
    dtype: type


def mine(
    x: Any,
    z: Any,
    *,
    seed=None,
    hidden: tuple[int, ...] = (32, 32),
    activation: str = "squareplus",
    objective: str = "mine",
    lr: float = 3e-3,
    batch_size: int = 128,
    max_steps: int = 4000,
    ema_rate: float = 0.01,
    smile_clip: float = 5.0,
    folds: int = 2,
    test_fraction: float = 0.2,
    eval_every: int = 100,
    patience: int = 5,
    averaging: float = 0.99,
    dtype: str = "float32",
    inputs: str = "rank",
    workers: int | None = None,
    eval_shifts: int = 8,
    n_blocks: int = 10,
) -> MIEstimate:
    r"""Estimate I(x; z) (nats) with a neural critic, MINE style (Belghazi et al., ICML 2018).

    An MLP critic T on concat(x, z) maximises the
    ``objective`` -- ``"mine"``: the Donsker-Varadhan bound
    :math:`E_P[T] - \log E_Q[e^T]` with the bias-corrected moving-average
    gradient (:func:`sift_core.bounds.mine_ema`, rate ``ema_rate``); ``"dv"``:
    the same with the naive minibatch gradient; ``"nwj"``; ``"smile"`` (clip
    ``smile_clip``) -- by Adam on minibatches of ``batch_size`` joint pairs
    and as many pairs of x with z from independently drawn rows.  The critic
    is ``hidden`` fully connected layers with ``activation`` and a linear
    (unbounded) output, computed in ``dtype``.  Each input column first goes
    through an invertible map (``inputs``; default the Gaussian rank
    transform), which leaves I(x; z) unchanged and keeps heavy tails from
    saturating the critic; see :func:`_preprocess`.

    The value always comes from data the critic was not trained on.  With
    ``folds = K >= 2`` (cross-fitting) the samples are split into K parts and
    K critics are trained, each on all parts but one and scored on that one,
    so every sample serves the final estimate (the held-out DV values are
    averaged); ``folds=1`` trains one critic and holds out ``test_fraction``.
    The held-out DV value (joint pairs against ``eval_shifts`` derangements of
    z) is computed every ``eval_every`` steps; a critic stops after
    ``patience`` evaluations without improvement or at ``max_steps`` and the
    best one is kept.  Why cross-fitting: the held-out value's own sampling
    error, sd(log-ratio)/sqrt(n_test), is about 0.03 nats for 1,000 held-out
    samples of the dense 5 x 5 task, as large as the critic's error.

    Returns an :class:`MIEstimate`: ``.value``, ``.stderr`` (over
    ``n_blocks`` blocks of each held-out part), the training curves.
    Reproducible for a given ``seed``.  As a lower bound with a finite critic
    the value sits a little below the truth (``docs/bench_mi.md``) and can be
    slightly negative for independent data.
    """
    check_choice(objective, "objective", OBJECTIVES)
    check_choice(activation, "activation", ACTIVATIONS)
    check_choice(dtype, "dtype", ("float32", "float64"))
    check_choice(inputs, "inputs", ("rank", "asinh", "standardize"))
    if isinstance(hidden, int):
        hidden = (hidden,)
    hidden = tuple(check_int(h, "hidden", minimum=1) for h in hidden)
    check_positive(lr, "lr")
    check_positive(ema_rate, "ema_rate")
    if ema_rate > 1:
        raise ValueError(f"ema_rate must lie in (0, 1]; got {ema_rate!r}")
    check_positive(smile_clip, "smile_clip")
    folds = check_int(folds, "folds", minimum=1)
    check_positive(test_fraction, "test_fraction")
    if not test_fraction < 1:
        raise ValueError(f"test_fraction must lie in (0, 1); got {test_fraction!r}")
    opts = _Options(
        objective=objective,
        hidden=hidden,
        activation=activation,
        lr=float(lr),
        batch_size=check_int(batch_size, "batch_size", minimum=2),
        max_steps=check_int(max_steps, "max_steps", minimum=1),
        ema_rate=float(ema_rate),
        smile_clip=float(smile_clip),
        eval_every=check_int(eval_every, "eval_every", minimum=1),
        patience=check_int(patience, "patience", minimum=1),
        averaging=_check_unit(averaging, "averaging"),
        dtype=np.float32 if dtype == "float32" else np.float64,
    )
    eval_shifts = check_int(eval_shifts, "eval_shifts", minimum=1)
    workers = min(os.cpu_count() or 1, folds) if workers is None else check_int(workers, "workers", minimum=1)
    n_blocks = check_int(n_blocks, "n_blocks", minimum=2)

    x = to_numpy_samples(x, "x", min_n=4)
    z = to_numpy_samples(z, "z", min_n=4)
    check_same_n(NUMPY, x, z)
    n = x.shape[0]
    n_test = n // folds if folds > 1 else int(round(test_fraction * n))
    if n_test < 2 * n_blocks or n - n_test < 2:
        raise ValueError(
            f"x has too few samples ({n}) for held-out parts of {n_test} samples in {n_blocks} blocks "
            f"(folds={folds}, test_fraction={test_fraction:g}); use more samples or fewer n_blocks"
        )
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    parts = np.array_split(perm, folds) if folds > 1 else [perm[:n_test]]
    w = np.hstack([x, z])
    w = _preprocess(w, inputs).astype(opts.dtype)
    dx = x.shape[1]
    # one generator per fold: the result does not depend on how the folds are scheduled
    fold_rngs = rng.spawn(len(parts))

    def fit(k: int) -> dict:
        mask = np.ones(n, dtype=bool)
        mask[parts[k]] = False
        held = _HeldOut(w[parts[k], :dx], w[parts[k], dx:], eval_shifts, n_blocks)
        return _train(w[mask, :dx], w[mask, dx:], held, fold_rngs[k], opts)

    with _one_blas_thread():
        if workers > 1 and len(parts) > 1:
            # numpy releases the GIL inside its kernels, so folds overlap on separate cores
            with ThreadPoolExecutor(max_workers=min(workers, len(parts))) as pool:
                results = list(pool.map(fit, range(len(parts))))
        else:
            results = [fit(k) for k in range(len(parts))]
    sizes = np.array([len(p) for p in parts], dtype=float)
    values = np.array([r["value"] for r in results])
    blocks = np.concatenate([r["blocks"] for r in results])
    return MIEstimate(
        value=float(np.sum(sizes * values) / sizes.sum()),
        stderr=float(blocks.std(ddof=1) / math.sqrt(len(blocks))),
        method=f"mine[{objective}]",
        fold_values=tuple(float(v) for v in values),
        train_curves=tuple(r["train_curve"] for r in results),
        eval_steps=tuple(r["eval_steps"] for r in results),
        eval_curves=tuple(r["eval_curve"] for r in results),
        best_steps=tuple(r["best_step"] for r in results),
        n_samples=n,
    )


def _train(xtr: np.ndarray, ztr: np.ndarray, held: _HeldOut, rng: np.random.Generator, o: _Options) -> dict:
    """Train one critic on (xtr, ztr) with early stopping on ``held``; its held-out value and history."""
    n_train, dx = xtr.shape
    b = min(o.batch_size, n_train)
    wtr = np.hstack([xtr, ztr])
    net = MLP((wtr.shape[1], *o.hidden, 1), activation=o.activation, rng=rng, dtype=o.dtype)
    opt = Adam(net.flat, lr=o.lr)
    avg = net.flat.copy()
    scored = net.with_params(avg)
    batch = np.empty((2 * b, wtr.shape[1]), dtype=o.dtype)
    log_ema = None
    train_curve = np.empty(o.max_steps)
    eval_steps: list[int] = []
    eval_curve: list[float] = []
    best_value, best_flat, best_step, stale = -math.inf, avg.copy(), 0, 0
    step = 0
    for step in range(1, o.max_steps + 1):
        i = rng.integers(0, n_train, size=b)
        j = rng.integers(0, n_train, size=b)  # independent rows: z_j is a draw from the marginal of z
        np.take(wtr, i, axis=0, out=batch[:b])
        batch[b:, :dx] = batch[:b, :dx]
        np.take(ztr, j, axis=0, out=batch[b:, dx:])
        t, cache = net.forward(batch, keep=True)
        value, log_ema, gj, gm = _score_gradient(o.objective, t[:b], t[b:], log_ema, o.ema_rate, o.smile_clip)
        train_curve[step - 1] = value
        opt.step(net.backward(cache, np.concatenate([gj, gm]).astype(o.dtype)))
        # Polyak averaging of the weights: the critic that is scored is the running average, which
        # smooths out the noise of the minibatch gradients (warm-up as in TF's ExponentialMovingAverage)
        beta = min(o.averaging, (1.0 + step) / (10.0 + step))
        avg *= beta
        avg += (1.0 - beta) * net.flat
        if step % o.eval_every == 0 or step == o.max_steps:
            held_value = held.estimate(scored)
            eval_steps.append(step)
            eval_curve.append(held_value)
            if held_value > best_value:
                best_value, best_step, stale = held_value, step, 0
                best_flat[:] = avg
            else:
                stale += 1
                if stale >= o.patience:
                    break
    value, blocks = held.estimate_with_blocks(net.with_params(best_flat))
    return {
        "value": value,
        "blocks": blocks,
        "train_curve": train_curve[:step].copy(),
        "eval_steps": np.asarray(eval_steps),
        "eval_curve": np.asarray(eval_curve),
        "best_step": best_step,
    }
