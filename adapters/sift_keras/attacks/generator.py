"""The attacker's image prior for Keras: the DCGAN of ``sift_torch.attacks.generator``, channels-last.

Same layout and recipe (non-saturating GAN loss, Adam lr 2e-4, betas (0.5, 0.999)); the
training step is one ``tf.function`` (TensorFlow backend).
"""

from __future__ import annotations

import hashlib
import json
import math
import os

import numpy as np

from sift_core.files import write_atomically

from .._keras import batch_norm, keras, require_tensorflow
from ._common import as_images, check_int, check_positive, progress_flag

__all__ = ["build_discriminator", "build_generator", "train_generator"]


def _doublings(h: int, w: int) -> int:
    side = max(h, w)
    return max(0, int(math.floor(math.log2(side / 4)))) if side > 4 else 0


def build_generator(image_shape, *, latent_dim: int = 64, width: int = 128, name: str = "generator"):
    """``G(w)``: latent codes (N, latent_dim) ~ N(0, I) to (N, H, W, C) images in (0, 1): Dense to a
    ``width`` x h0 x w0 map, per doubling a stride-2 transposed 4x4 convolution halving the
    channels (not below 16) with BN and ReLU, a resize to (H, W) when needed, a 3x3 convolution
    to C channels and a sigmoid."""
    h_img, w_img, c_img = (int(s) for s in image_shape)
    latent_dim = check_int(latent_dim, "latent_dim", 1)
    width = check_int(width, "width", 1)
    k = _doublings(h_img, w_img)
    h, w = math.ceil(h_img / 2**k), math.ceil(w_img / 2**k)
    inputs = keras.Input((latent_dim,))
    x = keras.layers.Dense(width * h * w)(inputs)
    x = keras.layers.ReLU()(batch_norm()(x))
    x = keras.layers.Reshape((h, w, width))(x)
    c = width
    for _ in range(k):
        c = max(c // 2, 16)
        x = keras.layers.Conv2DTranspose(c, 4, strides=2, padding="same")(x)
        x = keras.layers.ReLU()(batch_norm()(x))
    if (h * 2**k, w * 2**k) != (h_img, w_img):
        x = keras.layers.Resizing(h_img, w_img, interpolation="bilinear", antialias=True)(x)
    outputs = keras.layers.Conv2D(c_img, 3, padding="same", activation="sigmoid")(x)
    return keras.Model(inputs, outputs, name=name)


def build_discriminator(image_shape, *, width: int = 64, name: str = "discriminator"):
    """Stride-2 4x4 convolutions (doubling channels, BN after the first) with LeakyReLU(0.2) down to
    at most 4x4, then a Dense layer to one logit."""
    h, w, c = (int(s) for s in image_shape)
    inputs = keras.Input((h, w, c))
    x, ch, first = inputs, width, True
    while h > 4 or w > 4:
        x = keras.layers.Conv2D(ch, 4, strides=2, padding="same")(x)
        if not first:
            x = batch_norm()(x)
        x = keras.layers.LeakyReLU(negative_slope=0.2)(x)
        ch, first = ch * 2, False
        h, w = (h + 1) // 2, (w + 1) // 2
    outputs = keras.layers.Dense(1)(keras.layers.Flatten()(x))
    return keras.Model(inputs, outputs, name=name)


def train_generator(aux_x, *, latent_dim: int = 64, width: int = 128, epochs: int = 60, batch_size: int = 64,
                    lr: float = 2e-4, seed: int = 0, progress: bool = True, verbose=None, checkpoint=None):
    """Train a DCGAN on ``aux_x`` (N, H, W, C) in [0, 1]; returns the generator and, per epoch, the
    mean discriminator and generator losses (as ``sift_torch.attacks.train_generator``).
    Raises FloatingPointError when a loss turns NaN.

    ``checkpoint``: an ``.npz`` file that receives, atomically after every epoch, both networks'
    weights, both optimisers' variables, the random generator's state and the history (plain arrays
    and JSON: nothing is unpickled when it is read). When it exists, training continues from it and
    ends where an uninterrupted run would; more epochs than it holds continue it. Other data or
    settings, or more epochs than ``epochs``, are refused with a ValueError naming ``checkpoint``.
    """
    require_tensorflow("train_generator")
    import tensorflow as tf

    x = as_images(aux_x, "aux_x")
    epochs = check_int(epochs, "epochs", 1)
    batch_size = check_int(batch_size, "batch_size", 2)
    lr = check_positive(lr, "lr")
    if x.shape[0] < 8:
        raise ValueError(f"aux_x needs at least 8 images to train the generator; got {x.shape[0]}")
    batch_size = min(batch_size, x.shape[0])  # a small auxiliary set trains on whole-set batches
    keras.utils.set_random_seed(seed)
    gen = build_generator(x.shape[1:], latent_dim=latent_dim, width=width)
    disc = build_discriminator(x.shape[1:], width=max(16, width // 2))
    opt_g = keras.optimizers.Adam(lr, beta_1=0.5, beta_2=0.999)
    opt_d = keras.optimizers.Adam(lr, beta_1=0.5, beta_2=0.999)
    opt_g.build(gen.trainable_variables)
    opt_d.build(disc.trainable_variables)

    @tf.function
    def step(real, noise):
        with tf.GradientTape() as tape:
            fake = gen(noise, training=True)
            d_loss = tf.reduce_mean(tf.nn.softplus(-disc(real, training=True))) + \
                tf.reduce_mean(tf.nn.softplus(disc(fake, training=True)))
        opt_d.apply_gradients(zip(tape.gradient(d_loss, disc.trainable_variables), disc.trainable_variables))
        with tf.GradientTape() as tape:
            g_loss = tf.reduce_mean(tf.nn.softplus(-disc(gen(noise, training=True), training=True)))
        opt_g.apply_gradients(zip(tape.gradient(g_loss, gen.trainable_variables), gen.trainable_variables))
        return d_loss, g_loss

    rng = np.random.default_rng(seed)
    history: list[dict] = []
    start = 0
    settings: dict = {}
    parts = {"gen": gen.weights, "disc": disc.weights, "opt_g": opt_g.variables, "opt_d": opt_d.variables}
    if checkpoint is not None:  # what must match for a continued run to equal an uninterrupted one
        settings = {"data_sha256": hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest(),
                    "image_shape": [int(v) for v in x.shape[1:]], "latent_dim": int(latent_dim), "width": int(width),
                    "batch_size": int(batch_size), "lr": float(lr), "seed": int(seed)}
        if os.path.isfile(checkpoint):
            start, history = _restore(checkpoint, settings, epochs, parts, rng)
    bar = keras.utils.Progbar(epochs, verbose=1 if progress_flag(progress, verbose, "train_generator") else 0)
    if start:
        bar.update(start)
    for _ in range(start, epochs):
        order = rng.permutation(x.shape[0])
        sums, count = [0.0, 0.0], 0
        for i in range(0, x.shape[0] - batch_size + 1, batch_size):  # equal batches for BatchNorm
            noise = rng.standard_normal((batch_size, latent_dim)).astype(np.float32)
            d_loss, g_loss = step(tf.constant(x[order[i:i + batch_size]]), tf.constant(noise))
            sums[0] += float(d_loss)
            sums[1] += float(g_loss)
            count += 1
        record = {"d_loss": sums[0] / max(count, 1), "g_loss": sums[1] / max(count, 1)}
        if not all(math.isfinite(v) for v in record.values()):
            raise FloatingPointError(f"the GAN diverged (losses {record}); lower lr")
        history.append(record)
        if checkpoint is not None:
            _save_state(checkpoint, settings, history, parts, rng)
        bar.add(1)
    return gen, history


def _save_state(path, settings: dict, history: list, parts: dict, rng) -> None:
    meta = {"settings": settings, "epoch": len(history), "history": history, "rng": rng.bit_generator.state}
    arrays = {f"{name}_{i}": np.asarray(keras.ops.convert_to_numpy(v)) for name, vs in parts.items()
              for i, v in enumerate(vs)}
    write_atomically(path, lambda fh: np.savez(fh, meta=np.array(json.dumps(meta)), **arrays), suffix=".npz")


def _restore(path, settings: dict, epochs: int, parts: dict, rng) -> tuple[int, list]:
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            arrays = {k: data[k] for k in data.files if k != "meta"}
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
        raise ValueError(f"checkpoint: {path} is not a readable generator checkpoint ({exc})") from None
    if not isinstance(meta, dict) or meta.get("settings") != settings:
        raise ValueError(f"checkpoint: {path} was written by a generator training on other data or settings; "
                         "delete it or pass another path")
    if int(meta["epoch"]) > epochs:
        raise ValueError(f"checkpoint: {path} holds {meta['epoch']} epochs, more than epochs={epochs}")
    for name, vs in parts.items():
        for i, v in enumerate(vs):
            saved = arrays.get(f"{name}_{i}")
            if saved is None or tuple(saved.shape) != tuple(v.shape):
                raise ValueError(f"checkpoint: {path} does not hold {name}'s variable {i} of shape {tuple(v.shape)}")
            v.assign(saved)
    rng.bit_generator.state = meta["rng"]
    return int(meta["epoch"]), [dict(h) for h in meta["history"]]
