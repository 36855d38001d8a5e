"""The MINE training procedure, once, for a critic written in any framework.

:func:`fit_folds` owns everything but the critic's arithmetic: the split into
cross-fitting folds, the minibatch rows, the held-out pairs, the Polyak
averaging schedule, the early-stopping rule and the aggregation of the folds
into an :class:`MIEstimate`.  A framework supplies a :class:`Critic`, a few
callbacks that build a critic, take one optimiser step and score held-out
pairs; :func:`sift_core.mi.mine` (numpy), ``sift_torch.estimate_mi_torch`` and
``sift_keras.estimate_mi_keras`` are such callbacks around this driver.

:data:`DEFAULTS` is the one table of default options of the three estimators.
They were tuned on the dense 5 x 5 Gaussian task of Czyz et al. (2023) with the
numpy critic: see ``docs/bench_mi.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from .. import bounds
from .._validation import check_choice, check_int, check_positive
from ._inputs import INPUTS, host_samples, transform_columns

__all__ = [
    "DEFAULTS", "INPUTS", "OBJECTIVES", "Critic", "Fold", "MIEstimate", "MineDefaults", "Procedure",
    "Prepared", "averaging_weight", "check_hidden", "check_step_options", "fit_folds", "host_samples",
    "prepare_samples", "transform_columns",
]

#: every training objective a critic may implement; "infonce" is scored on whole score matrices
OBJECTIVES = ("mine", "dv", "nwj", "smile", "infonce")


@dataclass(frozen=True)
class MineDefaults:
    """Default options of every MINE estimator (numpy, torch, Keras)."""

    hidden: tuple[int, ...] = (32, 32)
    activation: str = "squareplus"
    objective: str = "mine"
    lr: float = 3e-3
    batch_size: int = 128
    max_steps: int = 4000
    ema_rate: float = 0.01
    smile_clip: float = 5.0
    folds: int = 2
    test_fraction: float = 0.2
    eval_every: int = 100
    patience: int = 5
    averaging: float = 0.99
    inputs: str = "rank"
    eval_shifts: int = 8
    n_blocks: int = 10


DEFAULTS = MineDefaults()


@dataclass(frozen=True)
class MIEstimate:
    """A mutual-information estimate (nats) with its spread and its training history.

    ``value``: the held-out bound (DV; InfoNCE for that objective), averaged over the folds
    weighted by their held-out sizes; ``stderr``: its standard error over held-out blocks;
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


@dataclass(frozen=True)
class Fold:
    """One cross-fitting fold, as :func:`fit_folds` hands it to a critic.

    ``train`` / ``test``: row indices of x and z the critic trains on / is scored on.
    ``shifts``: the held-out marginal pairs are (x_test[i], z_test[(i + s) mod m]) for s in
    ``shifts`` (derangements: no x meets its own z). ``chunks``: positions in ``test``, about a
    minibatch each, whose score matrices InfoNCE is scored on. ``rng``: the fold's own generator
    for the critic's initial weights.
    """

    index: int
    train: np.ndarray
    test: np.ndarray
    shifts: np.ndarray
    chunks: tuple
    rng: np.random.Generator


class Critic(Protocol):
    """The callbacks of one framework's critic; ``state`` is whatever :meth:`init` returns."""

    def init(self, fold: Fold) -> Any:
        """A fresh critic, its optimiser and its weight average, for ``fold``."""

    def step(self, state: Any, joint: np.ndarray, marginal: np.ndarray, beta: float) -> Any:
        """One optimiser step on the pairs (x_i, z_i), i in ``joint`` (distinct rows), and (x_i, z_j),
        (i, j) in zip(joint, marginal); then average = beta * average + (1 - beta) * weights.
        Returns the minibatch objective (a float, or a 0-d array or tensor)."""

    def scores(self, state: Any) -> tuple[Any, Any]:
        """The averaged critic on the fold's held-out pairs: T(x_i, z_i), shape (m,), and
        T(x_i, z_{(i + s) mod m}), shape (len(shifts), m), with i over ``fold.test``."""

    def score_matrices(self, state: Any) -> Sequence[Any]:
        """For InfoNCE only: S[i, j] = T(x_i, z_j) of the averaged critic on each chunk of the fold."""

    def snapshot(self, state: Any) -> Any:
        """A copy of the averaged weights."""

    def restore(self, state: Any, snapshot: Any) -> None:
        """Put a :meth:`snapshot` back as the averaged weights."""


def averaging_weight(step: int, averaging: float) -> float:
    """Polyak averaging weight beta of step ``step`` (1-based): ``min(averaging, (1 + step) / (10 + step))``.

    The warm-up (as TensorFlow's ExponentialMovingAverage) keeps the first steps from being
    averaged with the random initial weights.
    """
    return min(averaging, (1.0 + step) / (10.0 + step))


def check_hidden(hidden: Any) -> tuple[int, ...]:
    """``hidden`` as a non-empty tuple of positive widths (an int is one layer)."""
    if isinstance(hidden, (int, np.integer)) and not isinstance(hidden, bool):
        hidden = (hidden,)
    try:
        widths = tuple(hidden)
    except TypeError:
        raise TypeError(f"hidden must be one or more positive integers; got {hidden!r}") from None
    if not widths:
        raise ValueError(f"hidden must be one or more positive integers; got {hidden!r}")
    return tuple(check_int(h, "hidden", minimum=1) for h in widths)


def check_step_options(*, lr: Any, ema_rate: Any, smile_clip: Any) -> tuple[float, float, float]:
    """The optimiser step's options, validated: (lr, ema_rate, smile_clip) as floats."""
    check_positive(lr, "lr")
    check_positive(ema_rate, "ema_rate")
    if ema_rate > 1:
        raise ValueError(f"ema_rate must lie in (0, 1]; got {ema_rate!r}")
    check_positive(smile_clip, "smile_clip")
    return float(lr), float(ema_rate), float(smile_clip)


@dataclass(frozen=True)
class Procedure:
    """The options of :func:`fit_folds`, validated on construction (see :func:`sift_core.mi.mine`)."""

    objective: str = DEFAULTS.objective
    batch_size: int = DEFAULTS.batch_size
    max_steps: int = DEFAULTS.max_steps
    folds: int = DEFAULTS.folds
    test_fraction: float = DEFAULTS.test_fraction
    eval_every: int = DEFAULTS.eval_every
    patience: int = DEFAULTS.patience
    averaging: float = DEFAULTS.averaging
    eval_shifts: int = DEFAULTS.eval_shifts
    n_blocks: int = DEFAULTS.n_blocks

    def __post_init__(self) -> None:
        check_choice(self.objective, "objective", OBJECTIVES)
        for name, minimum in (("batch_size", 2), ("max_steps", 1), ("folds", 1), ("eval_every", 1),
                              ("patience", 1), ("eval_shifts", 1), ("n_blocks", 2)):
            object.__setattr__(self, name, check_int(getattr(self, name), name, minimum=minimum))
        check_positive(self.test_fraction, "test_fraction")
        if not self.test_fraction < 1:
            raise ValueError(f"test_fraction must lie in (0, 1); got {self.test_fraction!r}")
        check_positive(self.averaging, "averaging", allow_zero=True)
        if not self.averaging < 1:
            raise ValueError(f"averaging must lie in [0, 1); got {self.averaging!r}")
        object.__setattr__(self, "test_fraction", float(self.test_fraction))
        object.__setattr__(self, "averaging", float(self.averaging))

    def n_test(self, n: int) -> int:
        """The size of a held-out part of n samples; a ValueError when it or the rest is too small."""
        n_test = n // self.folds if self.folds > 1 else int(round(self.test_fraction * n))
        if n_test < 2 * self.n_blocks or n - n_test < 2:
            raise ValueError(
                f"x has too few samples ({n}) for held-out parts of {n_test} samples in {self.n_blocks} blocks "
                f"(folds={self.folds}, test_fraction={self.test_fraction:g}); use more samples or fewer n_blocks"
            )
        return n_test

    def split(self, n: int, rng: np.random.Generator) -> list[np.ndarray]:
        """The held-out rows of each fold, in random order: K random parts, or one of ``test_fraction * n`` rows."""
        n_test = self.n_test(n)
        perm = rng.permutation(n)
        return np.array_split(perm, self.folds) if self.folds > 1 else [perm[:n_test]]


@dataclass(frozen=True)
class Prepared:
    """A framework estimator's validated options and samples (:func:`prepare_samples`)."""

    procedure: Procedure
    seed: int
    lr: float
    ema_rate: float
    smile_clip: float
    #: the samples after the column map ``inputs``, float32, in their own sample shapes
    x: np.ndarray
    z: np.ndarray


def prepare_samples(x: Any, z: Any, *, seed: Any, objective: str, inputs: str, lr: Any, ema_rate: Any,
                    smile_clip: Any, **procedure: Any) -> Prepared:
    """What the torch and Keras estimators do before their critics exist: check the options (errors
    name them), build the :class:`Procedure` (``procedure``: its keyword options), bring ``x`` and
    ``z`` to the host, refuse unequal or too small sample counts, and map every column (each pixel)
    through ``inputs`` (:func:`transform_columns`), keeping each sample's shape."""
    check_choice(objective, "objective", OBJECTIVES)
    check_choice(inputs, "inputs", INPUTS)
    seed = check_int(seed, "seed", minimum=0)
    lr, ema_rate, smile_clip = check_step_options(lr=lr, ema_rate=ema_rate, smile_clip=smile_clip)
    proc = Procedure(objective=objective, **procedure)
    xs, zs = host_samples(x, "x"), host_samples(z, "z")
    if xs.shape[0] != zs.shape[0]:
        raise ValueError(f"x and z must have the same number of samples; got {xs.shape[0]} and {zs.shape[0]}")
    n = xs.shape[0]
    proc.n_test(n)  # too few samples: a clear error before any work
    xt, zt = (transform_columns(v.reshape(n, -1), inputs).reshape(v.shape).astype(np.float32) for v in (xs, zs))
    return Prepared(procedure=proc, seed=seed, lr=lr, ema_rate=ema_rate, smile_clip=smile_clip, x=xt, z=zt)


def _folds(n: int, p: Procedure, rng: np.random.Generator) -> list[tuple[Fold, np.random.Generator]]:
    parts = p.split(n, rng)
    out = []
    # one generator per fold: the result does not depend on how the folds are scheduled
    for k, (test, fold_rng) in enumerate(zip(parts, rng.spawn(len(parts)))):
        mask = np.ones(n, dtype=bool)
        mask[test] = False
        m = len(test)
        shifts = np.unique(np.linspace(1, m - 1, num=min(p.eval_shifts, m - 1)).astype(int))
        chunks = tuple(np.array_split(np.arange(m), max(1, m // p.batch_size)))
        init_rng, batch_rng = fold_rng.spawn(2)
        out.append((Fold(k, np.flatnonzero(mask), test, shifts, chunks, init_rng), batch_rng))
    return out


def _held_out(critic: Critic, state: Any, fold: Fold, objective: str, n_blocks: int) -> tuple[float, np.ndarray]:
    """The held-out bound and its value on each block (InfoNCE: on each chunk)."""
    if objective == "infonce":
        per = np.array([float(bounds.infonce(np.asarray(s, dtype=np.float64))) for s in critic.score_matrices(state)])
        return float(per.mean()), per
    tj, tm = critic.scores(state)
    tj = np.asarray(tj, dtype=np.float64).reshape(-1)
    tm = np.asarray(tm, dtype=np.float64).reshape(len(fold.shifts), tj.shape[0])
    # the Donsker-Varadhan value for every other objective: one yardstick for the stopping rule
    per = np.array([float(bounds.dv(tj[b], tm[:, b])) for b in np.array_split(np.arange(tj.shape[0]), n_blocks)])
    return float(bounds.dv(tj, tm)), per


def _fit_fold(critic: Critic, fold: Fold, rng: np.random.Generator, p: Procedure,
              progress: Callable[[Iterable[int], str], Iterable[int]] | None, n_folds: int) -> dict:
    """Train one critic with early stopping on its held-out part; its value, blocks and curves."""
    state = critic.init(fold)
    n_train = len(fold.train)
    b = min(p.batch_size, n_train)
    curve: list[Any] = []
    eval_steps: list[int] = []
    eval_curve: list[float] = []
    best_value, best, best_step, stale = -math.inf, critic.snapshot(state), 0, 0
    steps: Iterable[int] = range(1, p.max_steps + 1)
    if progress is not None:
        steps = progress(steps, f"MINE fold {fold.index + 1}/{n_folds}")
    for step in steps:
        # distinct joint rows, so every off-diagonal pair of a score matrix is a product-of-marginals
        # pair; the marginal z come from independently drawn rows
        joint = fold.train[rng.choice(n_train, size=b, replace=False)]
        marginal = fold.train[rng.integers(0, n_train, size=b)]
        curve.append(critic.step(state, joint, marginal, averaging_weight(step, p.averaging)))
        if step % p.eval_every == 0 or step == p.max_steps:
            value = _held_out(critic, state, fold, p.objective, p.n_blocks)[0]
            eval_steps.append(step)
            eval_curve.append(value)
            if value > best_value:
                best_value, best, best_step, stale = value, critic.snapshot(state), step, 0
            else:
                stale += 1
                if stale >= p.patience:
                    break
    critic.restore(state, best)
    value, blocks = _held_out(critic, state, fold, p.objective, p.n_blocks)
    return {
        "value": value,
        "blocks": blocks,
        "train_curve": np.array([float(v) for v in curve]),
        "eval_steps": np.asarray(eval_steps),
        "eval_curve": np.asarray(eval_curve),
        "best_step": best_step,
    }


def fit_folds(
    critic: Critic,
    n: int,
    procedure: Procedure,
    *,
    seed: Any = None,
    method: str,
    workers: int = 1,
    progress: Callable[[Iterable[int], str], Iterable[int]] | None = None,
) -> MIEstimate:
    """Estimate I(x; z) with ``critic`` on n samples: cross-fitting, early stopping, aggregation.

    The rows are split into ``procedure.folds`` = K random parts and K critics are trained, each
    on all parts but one and scored on that one (``folds=1``: one critic, ``test_fraction``
    held out). Every step draws ``batch_size`` distinct training rows (the joint pairs) and as
    many rows for the marginal z, and passes the Polyak weight :func:`averaging_weight`. Every
    ``eval_every`` steps (and at the last step) the averaged critic is scored on its held-out
    part by the Donsker-Varadhan bound of the aligned pairs against ``eval_shifts``
    derangements of z (InfoNCE: the InfoNCE bound over chunks of ``batch_size`` rows); the
    best-scoring weights are kept, and a critic stops after ``patience`` evaluations without
    improvement or at ``max_steps``.

    Parameters
    ----------
    critic : the framework's :class:`Critic` callbacks (it holds x and z).
    n : the number of samples.
    procedure : the options, validated (:class:`Procedure`).
    seed : int, None or numpy Generator. Each fold draws from a generator of its own, so the
        result does not depend on ``workers``.
    method : the name the estimate carries.
    workers : folds trained at once on threads (for critics that release the GIL).
    progress : ``progress(steps, description)`` may wrap each fold's step range (a progress bar).

    Returns
    -------
    estimate : :class:`MIEstimate`. ``value`` is the mean of the folds' held-out values weighted
        by their sizes; ``stderr`` is sd / sqrt(B) over the B = K * ``n_blocks`` held-out blocks
        of all folds (InfoNCE: over the chunks; infinite for a single one).
    """
    workers = check_int(workers, "workers", minimum=1)
    rng = np.random.default_rng(seed)
    folds = _folds(n, procedure, rng)

    def fit(item: tuple[Fold, np.random.Generator]) -> dict:
        return _fit_fold(critic, item[0], item[1], procedure, progress, len(folds))

    if workers > 1 and len(folds) > 1:
        with ThreadPoolExecutor(max_workers=min(workers, len(folds))) as pool:
            results = list(pool.map(fit, folds))
    else:
        results = [fit(item) for item in folds]
    sizes = np.array([len(f.test) for f, _ in folds], dtype=float)
    values = np.array([r["value"] for r in results])
    blocks = np.concatenate([r["blocks"] for r in results])
    return MIEstimate(
        value=float(np.sum(sizes * values) / sizes.sum()),
        stderr=float(blocks.std(ddof=1) / math.sqrt(len(blocks))) if len(blocks) > 1 else math.inf,
        method=method,
        fold_values=tuple(float(v) for v in values),
        train_curves=tuple(r["train_curve"] for r in results),
        eval_steps=tuple(r["eval_steps"] for r in results),
        eval_curves=tuple(r["eval_curve"] for r in results),
        best_steps=tuple(r["best_step"] for r in results),
        n_samples=int(n),
    )
