"""Black-box, training-based model inversion: learn a decoder from the edge's features back to inputs."""

from __future__ import annotations

import weakref

import numpy as np

from sift_core.inversion import Plateau
from sift_core.stats import pool_moments

from .._keras import keras
from ..data import ordered_fit_inputs
from ._common import as_images, check_int, check_positive, check_target, observe, progress_flag
from .decoder import build_decoder
from .results import AttackResult

__all__ = ["InverseNetworkAttack", "recalibrate_batchnorm"]


class InverseNetworkAttack:
    """Inverse-network attack (He, Zhang and Lee 2019; decoder after Dosovitskiy and Brox 2016),
    trained to convergence.

    The attacker queries the deployed edge on auxiliary data ``x_aux`` from the
    input distribution (disjoint from the target's training data) and trains a
    decoder ``g`` with Adam on the mean squared error

        (1 / N) sum_i ||g(f(x_aux_i)) - x_aux_i||^2 / d,

    then reconstructs private inputs from their observed features, ``x_hat = g(z)``.
    The procedure is ``sift_torch``'s: ``val_fraction`` of the auxiliary data is held out;
    after every epoch the decoder's BatchNorm statistics are recomputed over the training
    features (:func:`recalibrate_batchnorm`) and its held-out MSE measured; the learning rate
    halves after ``patience // 2`` epochs without improvement (twice at most) and training
    stops after ``patience`` more (:class:`sift_core.inversion.Plateau`), keeping the best
    epoch's weights. ``epochs`` is only the most it may take. Each epoch runs through
    ``decoder.fit``, so Keras's progress bar (``progress``) and ``callbacks`` apply.

    Parameters
    ----------
    edge : the target: a :class:`~sift_keras.trainer.SplitModel` (queried through
        ``transmit``, defence included) or any Keras model/layer mapping (N, H, W, C)
        images in [0, 1] to features; always called with ``training=False``.
    image_shape : (H, W, C) of one input.
    epochs, patience, val_fraction : the most epochs, and early stopping (as in sift_torch).
    batch_size, lr, betas : decoder training (the paper code's Adam, lr 0.01, betas (0.5, 0.999)).
    width, min_width, activation : decoder size (:func:`build_decoder`).
    decoder : a Keras model of your own from features to images in [0, 1].
    seed : seeds the decoder's initialisation (through ``keras.utils.set_random_seed``, i.e. the
        global generators), the held-out split and the batch order (only full batches train, in
        a new order every epoch, as in sift_torch).
    ssim_sigma : Gaussian window of the SSIM metric (1.5 needs images >= 11 pixels).
    """

    name = "inverse_network"

    def __init__(self, edge, *, image_shape, epochs: int = 200, patience: int = 10, val_fraction: float = 0.1,
                 batch_size: int = 64, lr: float = 0.01, betas=(0.5, 0.999), width: int = 128, min_width: int = 32,
                 activation: str = "relu", decoder=None, seed: int = 0, progress: bool = True, ssim_sigma: float = 1.5,
                 verbose=None):
        self.edge = check_target(edge)
        self.image_shape = tuple(int(s) for s in image_shape)
        if len(self.image_shape) != 3 or min(self.image_shape) < 1:
            raise ValueError(f"image_shape must be (H, W, C) with positive sizes; got {image_shape!r}")
        self.epochs = check_int(epochs, "epochs", 1)
        self.patience = check_int(patience, "patience", 1)
        self.val_fraction = check_positive(val_fraction, "val_fraction", allow_zero=True)
        if self.val_fraction >= 0.5:
            raise ValueError(f"val_fraction must be in [0, 0.5); got {val_fraction!r}")
        self.batch_size = check_int(batch_size, "batch_size", 2)
        self.lr = check_positive(lr, "lr")
        if not (isinstance(betas, (tuple, list)) and len(betas) == 2 and all(0 <= float(b) < 1 for b in betas)):
            raise ValueError(f"betas must be two numbers in [0, 1); got {betas!r}")
        self.betas = (float(betas[0]), float(betas[1]))
        self.width = check_int(width, "width", 1)
        self.min_width = check_int(min_width, "min_width", 1)
        self.activation = activation
        self.seed = check_int(seed, "seed", 0)
        self.progress = progress_flag(progress, verbose, type(self).__name__)
        self.ssim_sigma = check_positive(ssim_sigma, "ssim_sigma")
        self.decoder = decoder
        #: mean training MSE of each epoch
        self.history: list[float] = []
        #: held-out MSE of each epoch; empty with ``val_fraction=0``
        self.val_history: list[float] = []
        self.best_epoch: int | None = None
        self.converged = False

    def fit(self, aux_x, *, callbacks=None) -> InverseNetworkAttack:
        """Query the edge on ``aux_x`` (N, H, W, C) in [0, 1] and train the decoder to convergence;
        returns ``self``. Calling ``fit`` again continues from the kept weights. Raises
        FloatingPointError when the loss turns NaN or infinite before any usable epoch."""
        x = as_images(aux_x, "aux_x", self.image_shape)
        if x.shape[0] < 2:
            raise ValueError(f"aux_x needs at least 2 images to train the decoder; got {x.shape[0]}")
        z = observe(self.edge, x, batch_size=max(self.batch_size, 256))
        keras.utils.set_random_seed(self.seed)
        if self.decoder is None:
            self.decoder = build_decoder(z.shape[1:], self.image_shape, width=self.width, min_width=self.min_width,
                                         activation=self.activation)
        if getattr(self.decoder, "optimizer", None) is None:
            self.decoder.compile(optimizer=keras.optimizers.Adam(self.lr, beta_1=self.betas[0],
                                                                 beta_2=self.betas[1]), loss="mse")
        n = x.shape[0]
        n_val = int(round(self.val_fraction * n))
        if n_val < 1 or n - n_val < 2:
            n_val = 0
        split = np.random.default_rng(self.seed).permutation(n)
        x_val, z_val, x_tr, z_tr = x[split[:n_val]], z[split[:n_val]], x[split[n_val:]], z[split[n_val:]]
        z_cal = z_tr[: max(512, self.batch_size)]
        plateau = Plateau(patience=self.patience, min_delta=1e-3, reductions=2,
                          reduce_patience=max(1, self.patience // 2))
        best = None
        self.converged = False
        # Only full batches train, in a new seeded order every epoch (as sift_torch): a short last
        # batch gets a full Adam step from noisy BatchNorm statistics (docs/attacks.md).
        order_rng = np.random.default_rng([self.seed, 1])
        n_tr = x_tr.shape[0]
        used = (n_tr // self.batch_size) * self.batch_size or n_tr
        for _ in range(self.epochs):
            order = order_rng.permutation(n_tr)[:used]
            hist = self.decoder.fit(**ordered_fit_inputs(z_tr[order], x_tr[order], batch_size=self.batch_size),
                                    epochs=1, verbose=1 if self.progress else 0, callbacks=callbacks)
            self.history.append(float(hist.history["loss"][-1]))
            if not np.isfinite(self.history[-1]) and best is None:
                raise FloatingPointError(f"the decoder's training loss is {self.history[-1]} (diverged); lower lr")
            if not n_val:
                continue
            recalibrate_batchnorm(self.decoder, z_cal)
            val = float(np.mean((self.reconstruct(z_val) - x_val) ** 2))
            self.val_history.append(val)
            if plateau.update(val):
                best = self.decoder.get_weights()
                self.best_epoch = len(self.val_history) - 1
            if plateau.reduce:
                lr = self.decoder.optimizer.learning_rate
                lr.assign(float(keras.ops.convert_to_numpy(lr)) * 0.5)
            if plateau.stop:
                self.converged = True
                break
        if best is not None:
            self.decoder.set_weights(best)
        recalibrate_batchnorm(self.decoder, z)  # exact statistics over all the attacker's features
        return self

    def reconstruct(self, z, *, batch_size: int | None = None) -> np.ndarray:
        """Reconstructions ``g(z)`` (N, H, W, C) in [0, 1] of observed features ``z``."""
        if self.decoder is None:
            raise RuntimeError("the decoder is not trained yet: call fit(aux_x) first")
        bs = check_int(batch_size, "batch_size", 1) if batch_size is not None else max(self.batch_size, 256)
        z = np.asarray(z, dtype=np.float32)
        # eager calls: no graph to trace for a one-off pass over the private set
        return np.concatenate([keras.ops.convert_to_numpy(self.decoder(z[i:i + bs], training=False))
                               for i in range(0, z.shape[0], bs)])

    def evaluate(self, private_x, *, batch_size: int | None = None) -> AttackResult:
        """Attack held-out ``private_x``: observe its features, reconstruct, measure MSE / PSNR / SSIM per image."""
        x = as_images(private_x, "private_x", self.image_shape)
        bs = check_int(batch_size, "batch_size", 1) if batch_size is not None else max(self.batch_size, 256)
        x_hat = self.reconstruct(observe(self.edge, x, batch_size=bs), batch_size=bs)
        return AttackResult.from_images(self.name, x, x_hat, ssim_sigma=self.ssim_sigma)


def recalibrate_batchnorm(decoder, z: np.ndarray, *, batch_size: int = 256) -> None:
    """Set every BatchNormalization layer's moving statistics to the exact mean and variance of its
    input over ``z``, layer by layer in order (each with the earlier layers already recalibrated).

    The moving averages (momentum 0.9) trail weights that moved during training; the eval-mode
    decoder then reconstructs worse than its training loss says (``sift_torch`` measured SSIM
    0.55-0.92 before and 0.99 after on one edge). The same repair as ``sift_torch``'s.

    Each batch's per-channel mean and centred second moment are computed in the graph (one traced
    function per layer, kept for the decoder's lifetime, the last batch zero-padded and masked so
    no shape retraces) and pooled in float64 by :func:`sift_core.stats.pool_moments`.
    """
    batch_size = check_int(batch_size, "batch_size", 1)
    z = np.asarray(z, dtype=np.float32)
    if z.ndim < 2 or z.shape[0] < 1:
        raise ValueError(f"z must hold at least one row of features; got shape {z.shape}")
    norms = [layer for layer in decoder.layers if isinstance(layer, keras.layers.BatchNormalization)]
    probes = _STAT_PROBES.get(decoder)
    if probes is None or len(probes) != len(norms):
        probes = [_stats_probe(decoder, bn) for bn in norms]
        _STAT_PROBES[decoder] = probes
    n_rows = z.shape[0]
    size = min(batch_size, n_rows)
    for bn, probe in zip(norms, probes):
        counts, means, variances = [], [], []
        for i in range(0, n_rows, size):
            zb = z[i:i + size]
            n = zb.shape[0]
            mask = np.zeros((size, 1), dtype=np.float32)
            mask[:n] = 1.0
            if n < size:  # one shape for every call: pad, and let the mask drop the padding
                zb = np.concatenate([zb, np.zeros((size - n,) + zb.shape[1:], dtype=np.float32)])
            m_b, v_b = (keras.ops.convert_to_numpy(t) for t in probe.predict_on_batch([zb, mask]))
            counts.append(n)
            means.append(m_b)
            variances.append(v_b)
        mean, var = pool_moments(counts, means, variances)
        bn.moving_mean.assign(mean.astype(np.float32))
        bn.moving_variance.assign(var.astype(np.float32))


# decoder -> one statistics probe per BatchNorm layer; weak keys, so a dropped decoder frees them
_STAT_PROBES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _stats_probe(decoder, bn):
    """A model (z, row mask) -> (per-channel mean, per-channel mean squared deviation) of ``bn``'s
    input over the masked rows, in inference mode."""
    a = bn.input
    mask = keras.Input((1,), name=f"{bn.name}_rows")
    spatial = tuple(range(1, len(a.shape) - 1))
    rows = keras.ops.sum(mask)
    per_row = keras.ops.mean(a, axis=spatial) if spatial else a  # (B, C)
    mean = keras.ops.sum(per_row * mask, axis=0) / rows
    dev = keras.ops.square(a - mean)
    per_row_dev = keras.ops.mean(dev, axis=spatial) if spatial else dev
    var = keras.ops.sum(per_row_dev * mask, axis=0) / rows
    return keras.Model([decoder.inputs[0], mask], [mean, var])
