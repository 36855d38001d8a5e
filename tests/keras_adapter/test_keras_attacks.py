"""Inverse-network and rMLE attacks, their metrics and PNG grids."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

import sift_keras as sk  # noqa: E402
from sift_keras.attacks import total_variation  # noqa: E402

import sift_core  # noqa: E402


def test_total_variation_closed_form():
    x = np.random.default_rng(0).random((3, 5, 4, 2)).astype("float32")
    expected = np.abs(np.diff(x, axis=1)).mean(axis=(1, 2, 3)) + np.abs(np.diff(x, axis=2)).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(total_variation(x)), expected, rtol=1e-6)
    flat = np.ones((2, 1, 6, 1), "float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(total_variation(flat)), 0.0)


@pytest.mark.parametrize("features, image", [((4, 4, 12), (16, 16, 1)), ((48,), (28, 28, 1)),
                                             ((6, 6, 8), (25, 25, 3))])
def test_decoder_maps_features_to_images_in_unit_range(features, image):
    decoder = sk.build_decoder(features, image, width=16, min_width=4)
    out = keras.ops.convert_to_numpy(decoder(np.random.default_rng(1).normal(size=(2, *features))))
    assert out.shape == (2, *image)
    assert out.min() >= 0 and out.max() <= 1


def test_inverse_network_recovers_informative_features_only(digits16):
    x = digits16[0]
    aux, private = x[:800], x[1500:1564]
    kwargs = dict(image_shape=(16, 16, 1), epochs=8, batch_size=32, lr=0.01, width=32, min_width=8, progress=False)
    pooled = sk.InverseNetworkAttack(keras.layers.AveragePooling2D(2), **kwargs).fit(aux).evaluate(private)
    blind = sk.InverseNetworkAttack(keras.layers.Rescaling(0.0), **kwargs).fit(aux).evaluate(private)
    assert pooled.mean_ssim > blind.mean_ssim + 0.3
    assert pooled.mean_mse < blind.mean_mse / 2
    assert pooled.n == 64 and pooled.reconstructions.shape == private.shape


def test_rmle_inverts_an_invertible_edge_independently_of_batching(digits16):
    private = digits16[0][:4]
    kwargs = dict(image_shape=(16, 16, 1), steps=150, lr=0.05, tv_weight=0.0, progress=False)
    whole = sk.RMLEAttack(keras.layers.Identity(), batch_size=4, **kwargs)
    result = whole.evaluate(private)
    assert result.mean_mse < 1e-3
    assert whole.history[-1] < whole.history[0] / 100
    halves = sk.RMLEAttack(keras.layers.Identity(), batch_size=2, **kwargs).reconstruct(private)
    np.testing.assert_allclose(halves, result.reconstructions, atol=1e-6)


def test_attacks_on_a_split_model_observe_what_is_transmitted(trained_funnel, digits16):
    model, _ = trained_funnel
    noisy = sk.SplitModel(model.edge, model.cloud, sk.make_defence("noise", sigma=0.5, seed=0))
    x = digits16[0][:8]
    from sift_keras.attacks._common import observe, white_box_edge

    z = observe(noisy, x)
    clean = keras.ops.convert_to_numpy(model.edge(x, training=False))
    assert z.shape == clean.shape and np.std(z - clean) == pytest.approx(0.5, rel=0.15)
    assert white_box_edge(noisy) is model.edge


def test_result_metrics_are_sift_core_metrics_and_grid_has_the_documented_size(digits16, tmp_path):
    from matplotlib.image import imread

    x = digits16[0][:6]
    x_hat = np.clip(x + np.random.default_rng(2).normal(scale=0.1, size=x.shape), 0, 1).astype("float32")
    r = sk.AttackResult.from_images("rmle", x, x_hat)
    np.testing.assert_allclose(r.ssim, sift_core.metrics.ssim(x, x_hat, data_range=1.0, channels_last=True))
    np.testing.assert_allclose(r.psnr, sift_core.metrics.psnr(x, x_hat, data_range=1.0, channels_last=True))
    assert r.to_dict()["mse"] == pytest.approx(float(np.mean((x.astype(np.float64) - x_hat) ** 2)), rel=1e-5)
    plain = imread(sk.save_reconstruction_grid(tmp_path / "grid.png", x, x_hat, n=4, scale=4))
    assert plain.shape[:2] == (2 * 64 + 3 * 2, 4 * 64 + 5 * 2)
    np.testing.assert_allclose(plain[2:66, 2:66, 0], np.kron(x[0, :, :, 0], np.ones((4, 4))), atol=1 / 255)
    labelled = imread(r.save_grid(tmp_path / "labelled.png", n=4, scale=4))  # rows named in a left margin
    assert labelled.shape[0] == 2 * 64 + 3 * 2 and labelled.shape[1] > 4 * 64 + 5 * 2
    several = imread(sk.save_reconstruction_grid(tmp_path / "cmp.png", x, {"none": x, "siftfunnel": x_hat}, n=4,
                                                 scale=4))
    assert several.shape[0] == 3 * 64 + 4 * 2


def test_attack_arguments_are_validated():
    with pytest.raises(ValueError, match="image_shape"):
        sk.InverseNetworkAttack(keras.layers.Identity(), image_shape=(16, 16))
    with pytest.raises(ValueError, match="parametrization"):
        sk.RMLEAttack(keras.layers.Identity(), parametrization="project")
    with pytest.raises(TypeError, match="edge"):
        sk.RMLEAttack("edge")
    with pytest.raises(RuntimeError, match="fit"):
        sk.InverseNetworkAttack(keras.layers.Identity(), image_shape=(16, 16, 1)).reconstruct(np.zeros((1, 4)))
    with pytest.raises(ValueError, match="private_x"):
        sk.RMLEAttack(keras.layers.Identity(), image_shape=(16, 16, 1)).evaluate(np.zeros((2, 8, 8, 1)))


def test_tensorflow_only_attacks_name_the_backend_elsewhere(monkeypatch):
    from sift_keras.attacks import GenerativePriorAttack, HybridAttack, RMLEAttack, train_generator

    edge = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3, padding="same")])
    z = np.zeros((2, 8, 8, 2), np.float32)
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    calls = [lambda: RMLEAttack(edge, image_shape=(8, 8, 1)).reconstruct(z),
             lambda: HybridAttack(edge, image_shape=(8, 8, 1)).reconstruct(z, init=np.zeros((2, 8, 8, 1), np.float32)),
             lambda: GenerativePriorAttack(edge, image_shape=(8, 8, 1)).fit(np.zeros((4, 8, 8, 1), np.float32)),
             lambda: train_generator(np.zeros((4, 8, 8, 1), np.float32))]
    for call in calls:
        with pytest.raises(RuntimeError, match="KERAS_BACKEND is 'jax'"):
            call()


def test_progress_is_the_keyword_and_verbose_its_deprecated_name():
    edge = keras.layers.Identity()
    assert sk.RMLEAttack(edge, image_shape=(4, 4, 1)).progress is True
    assert sk.RMLEAttack(edge, image_shape=(4, 4, 1), progress=False).progress is False
    for cls in (sk.RMLEAttack, sk.InverseNetworkAttack, sk.GenerativePriorAttack):
        with pytest.warns(DeprecationWarning, match="verbose is now progress"):
            assert cls(edge, image_shape=(4, 4, 1), verbose=0).progress is False
    with pytest.warns(DeprecationWarning, match="verbose is now progress"):
        assert sk.HybridAttack(edge, image_shape=(4, 4, 1), verbose="auto").rmle.progress is True
