"""Shared fixtures of the Keras adapter tests: small real images and one tiny trained split model.

TensorFlow takes seconds to import and each model's first training step
traces a graph, so the fixtures are session-scoped and the models tiny.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")


@pytest.fixture(scope="session")
def digits16():
    """scikit-learn's 8x8 digits in [0, 1], upsampled to 16x16 (nearest), channels-last; (x, y)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = np.kron(d.images / 16.0, np.ones((2, 2)))[..., None].astype("float32")
    order = np.random.default_rng(0).permutation(len(x))
    return x[order], d.target[order].astype("int64")


@pytest.fixture(scope="session")
def trained_funnel(digits16):
    """A tiny SiftFunnel split model trained for 4 epochs on 1,024 digits (shared, never modified by tests)."""
    import sift_keras as sk

    x, y = digits16
    keras.utils.set_random_seed(0)
    edge, cloud = sk.funnel_split(10, base_channels=8, input_shape=(16, 16, 1))
    model = sk.SplitModel(edge, cloud, sk.make_defence("siftfunnel"))
    model.compile()
    history = model.fit(sk.ShuffledArrays(x[:1024], y[:1024], batch_size=64, seed=0), epochs=4, verbose=0)
    return model, history
