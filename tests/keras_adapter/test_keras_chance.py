"""SplitModel.fit's ChanceAccuracyWarning (the rule itself: tests/core/test_training_checks.py)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest


@pytest.mark.parametrize("learns", [False, True])
def test_fit_warns_only_for_a_model_that_does_not_learn(learns):
    """Random labels and a learning rate of 0 stay at chance (warned); real digits at 2e-3 do not."""
    keras = pytest.importorskip("keras")
    pytest.importorskip("tensorflow")
    import sift_keras as sk
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images[:320, ..., None] / 16.0).astype("float32")
    y = d.target[:320] if learns else np.random.default_rng(0).integers(0, 10, 320)
    keras.utils.set_random_seed(0)
    edge = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(8, 3, activation="tanh")])
    cloud = keras.Sequential([keras.Input((6, 6, 8)), keras.layers.Flatten(), keras.layers.Dense(10)])
    model = sk.SplitModel(edge, cloud)
    model.compile(optimizer=None if learns else keras.optimizers.SGD(learning_rate=0.0))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, batch_size=8, epochs=3, verbose=0)  # 40 steps an epoch: judged after epoch 3
    fired = [w for w in caught if issubclass(w.category, sk.ChanceAccuracyWarning)]
    assert len(fired) == (0 if learns else 1)
    if fired:
        assert "not learning" in str(fired[0].message) and "10 classes" in str(fired[0].message)
