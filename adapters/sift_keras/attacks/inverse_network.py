"""Black-box, training-based model inversion: learn a decoder from the edge's features back to inputs."""

from __future__ import annotations

import numpy as np

from .._keras import keras
from ._common import as_images, check_int, check_positive, check_target, observe
from .decoder import build_decoder
from .results import AttackResult

__all__ = ["InverseNetworkAttack"]


class InverseNetworkAttack:
    """Inverse-network attack (He, Zhang and Lee 2019; decoder after Dosovitskiy and Brox 2016).

    The attacker queries the deployed edge on auxiliary data ``x_aux`` from the
    input distribution (disjoint from the target's training data) and trains a
    decoder ``g`` with Adam on the mean squared error

        (1 / N) sum_i ||g(f(x_aux_i)) - x_aux_i||^2 / d,

    then reconstructs private inputs from their observed features, ``x_hat = g(z)``.
    Training runs through ``decoder.fit``, so Keras's progress bar (``verbose``)
    and ``callbacks`` apply.

    Parameters
    ----------
    edge : the target: a :class:`~sift_keras.training.SplitModel` (queried through
        ``transmit``, defence included) or any Keras model/layer mapping (N, H, W, C)
        images in [0, 1] to features; always called with ``training=False``.
    image_shape : (H, W, C) of one input.
    epochs, batch_size, lr, betas : decoder training (defaults: the paper code's Adam,
        lr 0.01, betas (0.5, 0.999), 30 epochs, batch 64).
    width, min_width, activation : decoder size (:func:`build_decoder`).
    decoder : a Keras model of your own from features to images in [0, 1].
    seed : seeds the decoder's initialisation and the batch order
        (through ``keras.utils.set_random_seed``, i.e. the global generators).
    ssim_sigma : Gaussian window of the SSIM metric (1.5 needs images >= 11 pixels).
    """

    name = "inverse_network"

    def __init__(self, edge, *, image_shape, epochs: int = 30, batch_size: int = 64, lr: float = 0.01,
                 betas=(0.5, 0.999), width: int = 128, min_width: int = 32, activation: str = "relu",
                 decoder=None, seed: int = 0, verbose="auto", ssim_sigma: float = 1.5):
        self.edge = check_target(edge)
        self.image_shape = tuple(int(s) for s in image_shape)
        if len(self.image_shape) != 3 or min(self.image_shape) < 1:
            raise ValueError(f"image_shape must be (H, W, C) with positive sizes; got {image_shape!r}")
        self.epochs = check_int(epochs, "epochs", 1)
        self.batch_size = check_int(batch_size, "batch_size", 2)
        self.lr = check_positive(lr, "lr")
        if not (isinstance(betas, (tuple, list)) and len(betas) == 2 and all(0 <= float(b) < 1 for b in betas)):
            raise ValueError(f"betas must be two numbers in [0, 1); got {betas!r}")
        self.betas = (float(betas[0]), float(betas[1]))
        self.width = check_int(width, "width", 1)
        self.min_width = check_int(min_width, "min_width", 1)
        self.activation = activation
        self.seed = check_int(seed, "seed", 0)
        self.verbose = verbose
        self.ssim_sigma = check_positive(ssim_sigma, "ssim_sigma")
        self.decoder = decoder
        #: mean training MSE of each epoch
        self.history: list[float] = []

    def fit(self, aux_x, *, callbacks=None) -> InverseNetworkAttack:
        """Query the edge on ``aux_x`` (N, H, W, C) in [0, 1] and train the decoder; returns ``self``.

        Calling ``fit`` again continues training the same decoder.
        """
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
        hist = self.decoder.fit(z, x, epochs=self.epochs, batch_size=self.batch_size, shuffle=True,
                                verbose=self.verbose, callbacks=callbacks)
        self.history.extend(float(v) for v in hist.history["loss"])
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
