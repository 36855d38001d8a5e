"""Run by test_keras_distribute.py in a fresh process: SplitModel under MirroredStrategy on 2 logical CPUs.

Logical devices must be configured before TensorFlow initialises its devices,
hence a separate process.  Prints one JSON line with the measured values.
"""

from __future__ import annotations

import json
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import sift_keras as sk  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

LR = 0.1


def data(n=64):
    d = load_digits()
    x = np.kron(d.images[:n] / 16.0, np.ones((2, 2)))[..., None].astype("float32")
    return x, d.target[:n].astype("int64")


def plain_split(seed):
    """A split without BatchNorm or dropout, so one step's gradient depends on the batch split only."""
    keras.utils.set_random_seed(seed)
    edge = keras.Sequential([keras.Input((16, 16, 1)), keras.layers.Conv2D(4, 3, strides=2, activation="tanh")])
    cloud = keras.Sequential([keras.Input((7, 7, 4)), keras.layers.Flatten(), keras.layers.Dense(10)])
    return edge, cloud


def model(edge, cloud, dependence):
    m = sk.SplitModel(edge, cloud, sk.make_defence("siftfunnel", beta=5.0), dependence=dependence)
    m.compile(optimizer=keras.optimizers.SGD(LR))
    return m


def manual_step(x, y, weights, halves):
    """Weights after one SGD step on the mean of the objectives of ``halves`` sub-batches (one device)."""
    edge, cloud = plain_split(0)
    ref = model(edge, cloud, "replica")
    ref(x[:1])
    ref.set_weights(weights)
    grads = None
    for xs, ys in zip(np.array_split(x, halves), np.array_split(y, halves)):
        xs, ys = tf.constant(xs), tf.constant(ys)
        with tf.GradientTape() as tape, ref._step_outputs():  # call returns what compute_loss reads
            total = ref.compute_loss(xs, ys, ref(xs, training=True))
        g = tape.gradient(total, ref.trainable_variables)
        grads = g if grads is None else [a + b for a, b in zip(grads, g)]
    return [np.asarray(v) - LR * np.asarray(g) / halves for v, g in zip(ref.trainable_variables, grads)]


def main():
    x, y = data()
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    out = {"replicas": strategy.num_replicas_in_sync}
    for dependence in ("replica", "global"):
        with strategy.scope():
            edge, cloud = plain_split(0)
            dist = model(edge, cloud, dependence)
            dist(x[:1])
        start = [np.asarray(v) for v in dist.trainable_variables]
        ev = dist.evaluate(x, y, batch_size=64, verbose=0, return_dict=True)
        ref_edge, ref_cloud = plain_split(0)
        ref = model(ref_edge, ref_cloud, dependence)
        ref(x[:1])
        ref.set_weights(dist.get_weights())
        out[dependence] = {
            "dist_loss": ev["loss"], "dist_dcor": ev["dcor"],
            "single_b32_loss": ref.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)["loss"],
            "single_b64_loss": ref.evaluate(x, y, batch_size=64, verbose=0, return_dict=True)["loss"],
        }
        weights = dist.get_weights()
        dist.fit(x, y, batch_size=64, epochs=1, shuffle=False, verbose=0)
        after = [np.asarray(v) for v in dist.trainable_variables]
        for name, halves in (("step_vs_global", 1), ("step_vs_replica", 2)):
            expected = manual_step(x, y, weights, halves)
            out[dependence][name] = max(float(np.abs(a - e).max()) for a, e in zip(after, expected))
        out[dependence]["moved"] = max(float(np.abs(a - s).max()) for a, s in zip(after, start))
    # a few epochs on both replicas with the default optimizer
    with strategy.scope():
        edge, cloud = plain_split(1)
        m = sk.SplitModel(edge, cloud, sk.make_defence("siftfunnel"))
        m.compile()
    h = m.fit(x, y, batch_size=32, epochs=3, verbose=0)
    out["losses"] = [float(v) for v in h.history["loss"]]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
