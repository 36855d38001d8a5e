"""TFLite export of the edge: the flatbuffer computes the Keras edge's features."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

import sift_keras as sk  # noqa: E402


def test_tflite_edge_gives_the_keras_features(trained_funnel, digits16, tmp_path):
    model, _ = trained_funnel
    x = digits16[0][600:605]
    path = sk.export_tflite(model, tmp_path / "edge.tflite", input_shape=(16, 16, 1), batch_size=2)
    expected = keras.ops.convert_to_numpy(model.edge(x, training=False))
    got = sk.tflite_features(path, x)  # 5 images through a batch-2 flatbuffer: chunks and padding
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5 * float(np.abs(expected).max()))


def test_tflite_export_of_a_baseline_with_moving_statistics(tmp_path):
    edge, _ = sk.split_baseline("resnet18", 10, width=4, input_shape=(16, 16, 3))
    rng = np.random.default_rng(0)
    for w in edge.weights:  # non-trivial BatchNorm statistics, so inference mode matters
        if "moving_variance" in w.path:
            w.assign(rng.uniform(0.5, 2.0, w.shape).astype("float32"))
        elif "moving_mean" in w.path:
            w.assign(rng.normal(size=w.shape).astype("float32"))
    x = rng.random((3, 16, 16, 3)).astype("float32")
    path = sk.export_tflite(edge, tmp_path / "resnet_edge.tflite", input_shape=(16, 16, 3))
    expected = keras.ops.convert_to_numpy(edge(x, training=False))
    np.testing.assert_allclose(sk.tflite_features(path, x), expected, rtol=1e-4, atol=1e-4)


def test_tflite_input_checks(tmp_path):
    edge = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3)])
    path = sk.export_tflite(edge, tmp_path / "e.tflite", input_shape=(8, 8, 1))
    with pytest.raises(ValueError, match="x must hold samples"):
        sk.tflite_features(path, np.zeros((1, 9, 9, 1)))
    with pytest.raises(ValueError, match="input_shape"):
        sk.export_tflite(edge, tmp_path / "f.tflite", input_shape=(8, 8))
