"""Run by test_keras_backends.py on the Keras backend named by ``KERAS_BACKEND`` (in a fresh process for
any backend but the test's own: Keras fixes its backend at import).  Weights are drawn by numpy,
so that every backend starts from the same model.  Prints one JSON line (``measure()``):

- ``core`` / ``step``: on a two-layer split with the SiftFunnel objective (no BatchNorm or dropout, so
  the training forward pass is the inference one), ``sift_core.siftfunnel_terms`` in float64 numpy on
  the batch's features and logits, and the terms that ``fit`` logged for its one step on that batch;
- ``update``: the change of each trainable weight of a tiny funnel model (funnel edge with its
  attention blocks, upsampling cloud, SiftFunnel objective) by one SGD step (equal across backends);
- ``funnel``: the terms of that step, and ``losses``: the funnel's loss over further epochs;
- ``defences``: the terms of one step with each defence that transmits something other than z.
"""

from __future__ import annotations

import json
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import sift_keras as sk  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

import sift_core  # noqa: E402

LR = 0.01


def data(n=32):
    d = load_digits()
    x = np.kron(d.images[:n] / 16.0, np.ones((2, 2)))[..., None].astype("float32")
    return x, d.target[:n].astype("int64")


def numpy_weights(model, seed=0):
    """Trainable weights drawn by numpy (BatchNorm scales 1), moving statistics 0 and 1, other state (random
    generators, counters) kept: the same model on every backend."""
    rng = np.random.default_rng(seed)
    out = []
    for w in model.weights:
        shape, path = tuple(w.shape), w.path
        if "gamma" in path or "moving_variance" in path:
            out.append(np.ones(shape, "float32"))
        elif "moving_mean" in path:
            out.append(np.zeros(shape, "float32"))
        elif w.trainable:
            out.append((0.3 * rng.standard_normal(shape)).astype("float32"))
        else:
            out.append(keras.ops.convert_to_numpy(w))
    model.set_weights(out)


def as_numpy(t):
    return keras.ops.convert_to_numpy(t).astype(np.float64)


def tiny_model(defence, **options):
    edge = keras.Sequential([keras.Input((16, 16, 1)), keras.layers.Conv2D(4, 3, strides=2, activation="tanh")])
    cloud = keras.Sequential([keras.Input((7, 7, 4)), keras.layers.Flatten(), keras.layers.Dense(10)])
    model = sk.SplitModel(edge, cloud, sk.make_defence(defence, **options))
    model.build((None, 16, 16, 1))
    numpy_weights(model)
    model.compile(optimizer=keras.optimizers.SGD(LR))
    return model


def funnel_model():
    edge = sk.FunnelEdge(out_channels=4, base_channels=4, se_reduction=2, out_se_reduction=2, cbam_ratio=2)
    cloud = sk.UpsamplingCloud(num_classes=10, base_channels=4, dropout=0.0)
    model = sk.SplitModel(edge, cloud, sk.make_defence("siftfunnel"))
    # built on a symbolic input: an eager pass through the funnel costs JAX half a minute of op compiles
    model(keras.Input((16, 16, 1)))
    numpy_weights(model)
    model.compile(optimizer=keras.optimizers.SGD(LR))
    return model


def one_step(model, x, y):
    return {k: float(v[0]) for k, v in model.fit(x, y, batch_size=len(x), epochs=1, verbose=0).history.items()}


def measure() -> dict:
    """What the module docstring lists, on the current backend."""
    x, y = data()
    model = tiny_model("siftfunnel")
    z = model.features(x)
    core = sift_core.siftfunnel_terms(x.astype(np.float64), np.transpose(as_numpy(z), (0, 3, 1, 2)),
                                      as_numpy(model(x)), y)
    out = {"backend": keras.backend.backend(), "core": {k: float(v) for k, v in core.items()},
           "step": one_step(model, x, y)}
    model = funnel_model()
    before = [as_numpy(v) for v in model.trainable_variables]
    out["funnel"] = one_step(model, x, y)
    out["update"] = [(as_numpy(v) - b).tolist() for v, b in zip(model.trainable_variables, before)]
    out["losses"] = [float(v) for v in model.fit(x, y, batch_size=len(x), epochs=6, verbose=0).history["loss"]]
    out["defences"] = {name: one_step(tiny_model(name, **({} if name == "bido" else {"seed": 1})), x, y)
                       for name in ("noise", "dropout", "mid", "bido")}
    return out


if __name__ == "__main__":
    print(json.dumps(measure()))
