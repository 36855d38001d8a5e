"""Helpers shared by the Keras adapter tests (imported by name: tests/keras_adapter is on the path)."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402


def tiny_split(seed=0, *, activation="tanh", dropout=0.2):
    """(edge, cloud) small enough that tracing a training step takes a fraction of a funnel's time."""
    keras.utils.set_random_seed(seed)
    edge = keras.Sequential([keras.Input((16, 16, 1)), keras.layers.Conv2D(4, 3, strides=2, activation=activation)])
    cloud = keras.Sequential([keras.Input((7, 7, 4)), keras.layers.Flatten(), keras.layers.Dropout(dropout),
                              keras.layers.Dense(10)])
    return edge, cloud
