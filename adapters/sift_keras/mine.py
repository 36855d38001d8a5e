"""MINE in Keras: an unbounded critic T(x, z) trained on the bounds of ``sift_core.bounds``.

The Keras counterpart of ``sift_torch.mine``: the same critic (layout, initialisation,
activations), every bound a call into :mod:`sift_core.bounds` on TensorFlow tensors, and the
procedure around it (folds, held-out scoring, weight averaging, early stopping, aggregation)
and the defaults of :func:`sift_core.mi.mine`, from :mod:`sift_core.mi.driver`. Training steps
run under ``tf.GradientTape`` in a ``tf.function``: the TensorFlow backend is required.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sift_core.mi.driver import DEFAULTS, Fold, check_hidden

from ._keras import keras, ops, serializable

__all__ = ["MineCritic", "estimate_mi_keras", "squareplus"]

ACTIVATIONS = ("relu", "elu", "tanh", "softplus", "squareplus")


@serializable
def squareplus(a):
    """(a + sqrt(a^2 + 4)) / 2: a smooth rectifier without transcendentals (Barron 2021)."""
    return 0.5 * (a + ops.sqrt(a * a + 4.0))


def _normal(fan_in: int, gain: float, seed: int, scale: float = 1.0):
    return keras.initializers.RandomNormal(stddev=scale * math.sqrt(gain / fan_in), seed=seed)


@serializable
class MineCritic(keras.Model):
    r"""Critic T(x, z) -> R with an unbounded (linear) output, for MINE and its companion bounds.

    ``T(x, z) = head(W_x e_x(x) + W_z e_z(z) + b)`` where ``e_x``, ``e_z`` flatten the sample
    (or, with ``conv``, run two stride-2 3x3 convolutions of 16 and 32 channels on (H, W, C)
    samples first) and ``head`` is an MLP (``hidden`` units, ``activation``) ending in one
    linear unit: an MLP on concat(e_x, e_z), whose split first layer lets :meth:`score_matrix`
    score all n^2 pairs with n + n encoder passes. As ``sift_torch.MineCritic``, initialised as
    the numpy critic of :func:`sift_core.mi.mine`: He normal weights (Glorot for tanh), zero
    biases, the output layer scaled by 0.1 so that training starts near T = 0.

    Parameters
    ----------
    x_shape, z_shape : the per-sample shapes of x and z (channels-last for images).
    hidden : widths of the hidden layers (at least one).
    activation : "relu", "elu", "tanh", "softplus" or "squareplus".
    conv : encode 3-D (H, W, C) samples with a small convolutional encoder (default); ``False``
        flattens every sample.
    seed : seed of the initial weights (None: Keras's global generator).
    """

    def __init__(self, x_shape, z_shape, *, hidden=DEFAULTS.hidden, activation: str = DEFAULTS.activation,
                 conv: bool = True, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        hidden = check_hidden(hidden)
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}; got {activation!r}")
        shapes = []
        for name, shape in (("x_shape", x_shape), ("z_shape", z_shape)):
            shape = tuple(int(s) for s in shape)
            if len(shape) == 0 or min(shape) < 1:
                raise ValueError(f"{name} must be a non-empty per-sample shape; got {shape}")
            shapes.append(shape)
        self.x_shape, self.z_shape = shapes
        self.hidden, self.activation, self.conv, self.seed = hidden, activation, bool(conv), seed
        base = np.random.default_rng(seed).integers(0, 2**31 - 1) if seed is not None else None

        def seed_of(k: int):
            return None if base is None else int(base) + k

        gain = 1.0 if activation == "tanh" else 2.0
        act = squareplus if activation == "squareplus" else activation
        self.enc_x, self.enc_z = (self._encoder(s, seed_of(10 * i)) for i, s in enumerate(shapes))
        dims = [int(self._encoder_output(enc, s)) for enc, s in ((self.enc_x, shapes[0]), (self.enc_z, shapes[1]))]
        fan_in = sum(dims)  # the split first layer draws as one layer on concat(e_x, e_z)
        self.proj_x = keras.layers.Dense(hidden[0], kernel_initializer=_normal(fan_in, gain, seed_of(20)))
        self.proj_z = keras.layers.Dense(hidden[0], use_bias=False,
                                         kernel_initializer=_normal(fan_in, gain, seed_of(21)))
        layers: list = [keras.layers.Activation(act)]
        for i, (a, b) in enumerate(zip(hidden[:-1], hidden[1:])):
            layers += [keras.layers.Dense(b, kernel_initializer=_normal(a, gain, seed_of(30 + i))),
                       keras.layers.Activation(act)]
        # unbounded: no sigmoid, no tanh
        layers.append(keras.layers.Dense(1, kernel_initializer=_normal(hidden[-1], gain, seed_of(29), 0.1)))
        # plain lists rather than Sequential models, which would fix the rank of their first input
        self.head_layers = layers
        self.head(self.project(ops.zeros((1, *shapes[0])), ops.zeros((1, *shapes[1])))[0])

    def _encoder(self, shape: tuple, seed: int | None) -> list:
        if not (self.conv and len(shape) == 3):
            return [keras.layers.Flatten()]
        return [keras.layers.Conv2D(width, 3, strides=2, padding="same", activation="relu",
                                    kernel_initializer=keras.initializers.GlorotUniform(
                                        seed=None if seed is None else seed + i))
                for i, width in enumerate((16, 32))] + [keras.layers.Flatten()]

    @staticmethod
    def _apply(layers: list, h):
        for layer in layers:
            h = layer(h)
        return h

    @classmethod
    def _encoder_output(cls, enc: list, shape: tuple) -> int:
        return int(cls._apply(enc, ops.zeros((1, *shape))).shape[-1])

    def encode_z(self, z):
        """e_z(z): the flattened (or convolutional) encoding of z, shape (n, d_z)."""
        return self._apply(self.enc_z, z)

    def project(self, x, z):
        """First-layer contributions (n, h) of x and of z; T on pair (i, j) is head(a_i + b_j)."""
        return self.proj_x(self._apply(self.enc_x, x)), self.proj_z(self.encode_z(z))

    def head(self, h):
        """The MLP after the first layer: (..., hidden[0]) -> (..., 1)."""
        return self._apply(self.head_layers, h)

    def call(self, inputs):
        """T(x_i, z_i) for aligned rows ``inputs = (x, z)``: shape (n,)."""
        x, z = inputs
        a, b = self.project(x, z)
        return ops.squeeze(self.head(a + b), -1)

    def score_matrix(self, x, z):
        """S[i, j] = T(x_i, z_j), shape (n, n): joint pairs on the diagonal, marginal ones off it."""
        a, b = self.project(x, z)
        return ops.squeeze(self.head(a[:, None, :] + b[None, :, :]), -1)

    def get_config(self):
        config = super().get_config()
        config.update(x_shape=list(self.x_shape), z_shape=list(self.z_shape), hidden=list(self.hidden),
                      activation=self.activation, conv=self.conv, seed=self.seed)
        return config


def _objective(objective: str, net: MineCritic, x, z, z_marg, log_ema, started, ema_rate: float, smile_clip: float):
    """The bound to maximise on one minibatch, from sift_core.bounds; (estimate, new EMA state or None).

    The MINE moving average starts at the first batch's value: fed that value as its state,
    ``bounds.mine_ema`` returns it unchanged, so one traced step serves every step.
    """
    from sift_core import bounds

    if objective == "infonce":
        return bounds.infonce(net.score_matrix(x, z)), None
    a, b = net.project(x, z)
    t_joint = ops.squeeze(net.head(a + b), -1)
    t_marg = ops.squeeze(net.head(a + net.proj_z(net.encode_z(z_marg))), -1)
    if objective == "mine":
        prev = ops.where(started, log_ema, ops.stop_gradient(bounds.log_mean_exp(t_marg)))
        return bounds.mine_ema(t_joint, t_marg, prev, rate=ema_rate)
    if objective == "dv":
        return bounds.dv(t_joint, t_marg), None
    if objective == "nwj":
        return bounds.nwj(t_joint, t_marg), None
    return bounds.smile(t_joint, t_marg, clip=smile_clip), None


@dataclass
class _State:
    net: MineCritic
    avg: MineCritic
    train: Any
    x_test: Any
    z_test: Any
    shifts: list
    chunks: list


class _KerasCritic:
    """The :class:`sift_core.mi.driver.Critic` callbacks of a Keras :class:`MineCritic`."""

    def __init__(self, x, z, *, objective: str, lr: float, ema_rate: float, smile_clip: float, **critic_kw):
        self.x, self.z, self.objective = x, z, objective
        self.lr, self.ema_rate, self.smile_clip, self.critic_kw = lr, ema_rate, smile_clip, critic_kw

    def init(self, fold: Fold) -> _State:
        import tensorflow as tf

        seed = int(fold.rng.integers(0, 2**31 - 1))
        shapes = (tuple(self.x.shape[1:]), tuple(self.z.shape[1:]))
        net = MineCritic(*shapes, seed=seed, **self.critic_kw)
        avg = MineCritic(*shapes, seed=seed, **self.critic_kw)
        avg.set_weights(net.get_weights())
        opt = keras.optimizers.Adam(self.lr)
        variables, averaged = net.trainable_variables, avg.trainable_variables
        opt.build(variables)
        log_ema, started = tf.Variable(0.0), tf.Variable(False)
        x, z, objective, ema_rate, smile_clip = self.x, self.z, self.objective, self.ema_rate, self.smile_clip

        def train(idx, jdx, beta):
            with tf.GradientTape() as tape:
                estimate, new = _objective(objective, net, tf.gather(x, idx), tf.gather(z, idx), tf.gather(z, jdx),
                                           log_ema, started, ema_rate, smile_clip)
                loss = -estimate
            grads = tape.gradient(loss, variables)
            # Updates wait for the whole backward pass: otherwise an in-place update of a weight may
            # overlap the backward matmul that reads it, and results vary from run to run.
            with tf.control_dependencies([*grads, estimate]):
                opt.apply_gradients(zip(grads, variables))
            for v_avg, v in zip(averaged, variables):
                v_avg.assign(beta * v_avg + (1.0 - beta) * v)
            if new is not None:
                log_ema.assign(new)
                started.assign(True)
            return estimate

        test = tf.constant(fold.test)
        # autograph off: no Python branch below depends on a tensor's value
        return _State(net, avg, tf.function(train, autograph=False), tf.gather(x, test), tf.gather(z, test),
                      fold.shifts.tolist(), [tf.constant(c) for c in fold.chunks])

    def step(self, s: _State, joint: np.ndarray, marginal: np.ndarray, beta: float):
        return s.train(joint, marginal, np.float32(beta))

    def scores(self, s: _State) -> tuple[np.ndarray, np.ndarray]:
        a, b = s.avg.project(s.x_test, s.z_test)
        m = int(a.shape[0])
        tj = ops.squeeze(s.avg.head(a + b), -1)
        tm = ops.stack([ops.squeeze(s.avg.head(a + ops.roll(b, -k, axis=0)), -1) for k in s.shifts])
        return ops.convert_to_numpy(tj).astype(np.float64), ops.convert_to_numpy(tm).reshape(len(s.shifts), m)

    def score_matrices(self, s: _State) -> list:
        import tensorflow as tf

        return [ops.convert_to_numpy(s.avg.score_matrix(tf.gather(s.x_test, c), tf.gather(s.z_test, c)))
                for c in s.chunks]

    def snapshot(self, s: _State) -> list:
        return [np.array(w) for w in s.avg.get_weights()]

    def restore(self, s: _State, snapshot: list) -> None:
        s.avg.set_weights(snapshot)


def estimate_mi_keras(
    x: Any,
    z: Any,
    *,
    seed: int,
    objective: str = DEFAULTS.objective,
    hidden: tuple[int, ...] = DEFAULTS.hidden,
    activation: str = DEFAULTS.activation,
    conv: bool = True,
    lr: float = DEFAULTS.lr,
    batch_size: int = DEFAULTS.batch_size,
    max_steps: int = DEFAULTS.max_steps,
    ema_rate: float = DEFAULTS.ema_rate,
    smile_clip: float = DEFAULTS.smile_clip,
    folds: int = DEFAULTS.folds,
    test_fraction: float = DEFAULTS.test_fraction,
    eval_every: int = DEFAULTS.eval_every,
    patience: int = DEFAULTS.patience,
    eval_shifts: int = DEFAULTS.eval_shifts,
    n_blocks: int = DEFAULTS.n_blocks,
    averaging: float = DEFAULTS.averaging,
    inputs: str = DEFAULTS.inputs,
    progress: bool = False,
):
    r"""Estimate I(x; z) in nats with a Keras :class:`MineCritic` (Belghazi et al. 2018).

    ``sift_torch.estimate_mi_torch`` in Keras, with the same options and defaults
    (:data:`sift_core.mi.driver.DEFAULTS`): each step draws ``batch_size`` distinct rows (the
    joint pairs) and as many z from independently drawn rows, and maximises the ``objective``
    (``"mine"``, ``"dv"``, ``"nwj"``, ``"smile"`` or ``"infonce"``, as in
    :mod:`sift_core.bounds`) with Adam (``lr``). Folds, held-out scoring of the weight average
    (rate ``averaging``), early stopping and aggregation are
    :func:`sift_core.mi.driver.fit_folds`, as for :func:`sift_core.mi.mine`; see there. Each
    input column (each pixel of an image) first goes through the invertible map ``inputs``
    (default the Gaussian rank transform, :func:`sift_core.mi.driver.transform_columns`).

    ``x``: (n, ...) and ``z``: (n, ...) arrays or tensors; image-shaped (n, H, W, C) samples
    get a convolutional encoder (``conv=False``: flattened). ``progress``: a Keras progress bar
    per fold. Reproducible for a given ``seed``.

    Returns a :class:`sift_core.mi.MIEstimate` (method ``"keras-mine[<objective>]"``).
    """
    from sift_core.mi.driver import fit_folds, prepare_samples

    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(f"estimate_mi_keras needs the TensorFlow backend of Keras; got {keras.backend.backend()!r}")
    p = prepare_samples(x, z, seed=seed, objective=objective, inputs=inputs, lr=lr, ema_rate=ema_rate,
                        smile_clip=smile_clip, batch_size=batch_size, max_steps=max_steps, folds=folds,
                        test_fraction=test_fraction, eval_every=eval_every, patience=patience, averaging=averaging,
                        eval_shifts=eval_shifts, n_blocks=n_blocks)
    procedure, n = p.procedure, p.x.shape[0]
    MineCritic(p.x.shape[1:], p.z.shape[1:], hidden=hidden, activation=activation, conv=conv)  # validates the layout
    xt, zt = (ops.convert_to_tensor(v) for v in (p.x, p.z))
    critic = _KerasCritic(xt, zt, objective=objective, lr=p.lr, ema_rate=p.ema_rate, smile_clip=p.smile_clip,
                          hidden=hidden, activation=activation, conv=conv)
    wrap = None
    if progress:
        def wrap(steps, desc):
            bar = keras.utils.Progbar(procedure.max_steps)
            for step in steps:
                yield step
                bar.update(step)

    return fit_folds(critic, n, procedure, seed=p.seed, method=f"keras-mine[{objective}]", progress=wrap)
