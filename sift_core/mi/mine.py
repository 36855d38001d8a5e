"""Framework-free MINE: an MLP critic on concat(x, z) trained in numpy (Belghazi et al. 2018).

The training loop is the classic one -- minibatches of aligned pairs (joint)
and of x against z from independently drawn rows (product of marginals), a
bound from :mod:`sift_core.bounds` as the objective, Adam -- with the
gradient of the bound with respect to the critic's scores written out by
hand and backpropagated through :class:`sift_core.mi._mlp.MLP`.  The
procedure around it (cross-fitting, held-out evaluation, weight averaging,
early stopping, aggregation) is :func:`sift_core.mi.driver.fit_folds`, shared
with the torch and Keras critics, and so are the defaults
(:data:`sift_core.mi.driver.DEFAULTS`; see ``docs/bench_mi.md``).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import bounds
from .._backend import NUMPY
from .._validation import check_choice, check_int, check_same_n
from ._mlp import ACTIVATIONS, MLP, Adam
from .driver import (
    DEFAULTS,
    INPUTS,
    Fold,
    MIEstimate,
    Procedure,
    check_hidden,
    check_step_options,
    fit_folds,
    transform_columns,
)
from .knn import to_numpy_samples

__all__ = ["MIEstimate", "mine"]

OBJECTIVES = ("mine", "dv", "nwj", "smile")


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


def _one_blas_thread():
    """Small matrix products run fastest on one BLAS thread (threads only contend on a shared machine)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: without it BLAS keeps its own threading
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


@dataclass
class _State:
    """One fold's critic: the network, Adam, the averaged weights and the held-out pairs."""

    net: MLP
    opt: Adam
    avg: np.ndarray
    scored: MLP
    batch: np.ndarray
    joint: np.ndarray
    marg: np.ndarray
    log_ema: Any = None


class _NumpyCritic:
    """The :class:`sift_core.mi.driver.Critic` callbacks of the numpy MLP critic."""

    def __init__(self, w: np.ndarray, dx: int, *, hidden: tuple, activation: str, objective: str, lr: float,
                 ema_rate: float, smile_clip: float):
        self.w, self.dx = w, dx
        self.z = np.ascontiguousarray(w[:, dx:])
        self.hidden, self.activation, self.objective = hidden, activation, objective
        self.lr, self.ema_rate, self.smile_clip = lr, ema_rate, smile_clip

    def init(self, fold: Fold) -> _State:
        w, dx = self.w, self.dx
        net = MLP((w.shape[1], *self.hidden, 1), activation=self.activation, rng=fold.rng, dtype=w.dtype)
        avg = net.flat.copy()
        x, z = w[fold.test, :dx], w[fold.test, dx:]
        idx = np.arange(len(fold.test))
        # x_i against z_{i+s}: one forward pass scores every held-out marginal pair
        marg = np.vstack([np.hstack([x, z[(idx + s) % len(idx)]]) for s in fold.shifts])
        return _State(net, Adam(net.flat, lr=self.lr), avg, net.with_params(avg), np.empty((0, w.shape[1]), w.dtype),
                      np.ascontiguousarray(w[fold.test]), marg)

    def step(self, s: _State, joint: np.ndarray, marginal: np.ndarray, beta: float) -> float:
        b, dx = len(joint), self.dx
        if s.batch.shape[0] != 2 * b:  # allocated once per fold: the batch size is fixed
            s.batch = np.empty((2 * b, self.w.shape[1]), dtype=self.w.dtype)
        batch = s.batch
        np.take(self.w, joint, axis=0, out=batch[:b])
        batch[b:, :dx] = batch[:b, :dx]
        np.take(self.z, marginal, axis=0, out=batch[b:, dx:])
        t, cache = s.net.forward(batch, keep=True)
        value, s.log_ema, gj, gm = _score_gradient(self.objective, t[:b], t[b:], s.log_ema, self.ema_rate,
                                                   self.smile_clip)
        s.opt.step(s.net.backward(cache, np.concatenate([gj, gm]).astype(self.w.dtype)))
        s.avg *= beta
        s.avg += (1.0 - beta) * s.net.flat
        return value

    def scores(self, s: _State) -> tuple[np.ndarray, np.ndarray]:
        return s.scored.forward(s.joint), s.scored.forward(s.marg)

    def score_matrices(self, s: _State) -> list:
        raise NotImplementedError("the numpy critic does not train on InfoNCE")

    def snapshot(self, s: _State) -> np.ndarray:
        return s.avg.copy()

    def restore(self, s: _State, snapshot: np.ndarray) -> None:
        s.avg[:] = snapshot


def mine(
    x: Any,
    z: Any,
    *,
    seed=None,
    hidden: tuple[int, ...] = DEFAULTS.hidden,
    activation: str = DEFAULTS.activation,
    objective: str = DEFAULTS.objective,
    lr: float = DEFAULTS.lr,
    batch_size: int = DEFAULTS.batch_size,
    max_steps: int = DEFAULTS.max_steps,
    ema_rate: float = DEFAULTS.ema_rate,
    smile_clip: float = DEFAULTS.smile_clip,
    folds: int = DEFAULTS.folds,
    test_fraction: float = DEFAULTS.test_fraction,
    eval_every: int = DEFAULTS.eval_every,
    patience: int = DEFAULTS.patience,
    averaging: float = DEFAULTS.averaging,
    dtype: str = "float32",
    inputs: str = DEFAULTS.inputs,
    workers: int | None = None,
    eval_shifts: int = DEFAULTS.eval_shifts,
    n_blocks: int = DEFAULTS.n_blocks,
) -> MIEstimate:
    r"""Estimate I(x; z) (nats) with a neural critic, MINE style (Belghazi et al., ICML 2018).

    An MLP critic T on concat(x, z) maximises the ``objective`` -- ``"mine"``: the
    Donsker-Varadhan bound :math:`E_P[T] - \log E_Q[e^T]` with the bias-corrected
    moving-average gradient (:func:`sift_core.bounds.mine_ema`, rate ``ema_rate``); ``"dv"``:
    the same with the naive minibatch gradient; ``"nwj"``; ``"smile"`` (clip ``smile_clip``)
    -- by Adam (``lr``) on minibatches of ``batch_size`` distinct joint pairs and as many pairs
    of x with z from independently drawn rows.  The critic is ``hidden`` fully connected
    layers with ``activation`` and a linear (unbounded) output, computed in ``dtype``; the
    critic that is scored is the running (Polyak) average of its weights, rate ``averaging``.
    Each input column first goes through an invertible map (``inputs``; default the Gaussian
    rank transform), which leaves I(x; z) unchanged and keeps heavy tails from saturating the
    critic; see :func:`sift_core.mi.driver.transform_columns`.

    The value always comes from data the critic was not trained on.  With ``folds = K >= 2``
    (cross-fitting) the samples are split into K parts and K critics are trained, each on all
    parts but one and scored on that one, so every sample serves the final estimate (the
    held-out DV values are averaged); ``folds=1`` trains one critic and holds out
    ``test_fraction``.  The held-out DV value (joint pairs against ``eval_shifts``
    derangements of z) is computed every ``eval_every`` steps; a critic stops after
    ``patience`` evaluations without improvement or at ``max_steps`` and the best one is
    kept (:func:`sift_core.mi.driver.fit_folds`).  Why cross-fitting: the held-out value's own
    sampling error, sd(log-ratio)/sqrt(n_test), is about 0.03 nats for 1,000 held-out samples
    of the dense 5 x 5 task, as large as the critic's error.  ``workers`` folds are trained
    at once on threads (default: one per fold, at most one per CPU); the result is the same.

    The defaults are :data:`sift_core.mi.driver.DEFAULTS`, shared with
    ``sift_torch.estimate_mi_torch`` and ``sift_keras.estimate_mi_keras``.

    Returns an :class:`MIEstimate`: ``.value``, ``.stderr`` (over ``n_blocks`` blocks of each
    held-out part), the training curves.  Reproducible for a given ``seed``.  As a lower
    bound with a finite critic the value sits a little below the truth (``docs/bench_mi.md``)
    and can be slightly negative for independent data.
    """
    check_choice(objective, "objective", OBJECTIVES)
    check_choice(activation, "activation", ACTIVATIONS)
    check_choice(dtype, "dtype", ("float32", "float64"))
    check_choice(inputs, "inputs", INPUTS)
    hidden = check_hidden(hidden)
    lr, ema_rate, smile_clip = check_step_options(lr=lr, ema_rate=ema_rate, smile_clip=smile_clip)
    procedure = Procedure(objective=objective, batch_size=batch_size, max_steps=max_steps, folds=folds,
                          test_fraction=test_fraction, eval_every=eval_every, patience=patience,
                          averaging=averaging, eval_shifts=eval_shifts, n_blocks=n_blocks)
    workers = min(os.cpu_count() or 1, procedure.folds) if workers is None else check_int(workers, "workers", minimum=1)

    x = to_numpy_samples(x, "x", min_n=4)
    z = to_numpy_samples(z, "z", min_n=4)
    check_same_n(NUMPY, x, z)
    n = x.shape[0]
    procedure.n_test(n)  # too few samples: a clear error before any work
    w = transform_columns(np.hstack([x, z]), inputs).astype(np.float32 if dtype == "float32" else np.float64)
    critic = _NumpyCritic(w, x.shape[1], hidden=hidden, activation=activation, objective=objective, lr=lr,
                          ema_rate=ema_rate, smile_clip=smile_clip)
    with _one_blas_thread():
        # numpy releases the GIL inside its kernels, so folds on threads overlap on separate cores
        return fit_folds(critic, n, procedure, seed=seed, method=f"mine[{objective}]", workers=workers)
