"""The Keras attack suite: converged attacks, hybrid, generative prior, and parity with sift_torch."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

import sift_keras as sk  # noqa: E402
from sift_keras.attacks import (  # noqa: E402
    GenerativePriorAttack,
    HybridAttack,
    InverseNetworkAttack,
    RMLEAttack,
    build_generator,
    recalibrate_batchnorm,
)

from sift_core.inversion import reconstruction_scores, relative_feature_error  # noqa: E402


def _np(t):
    return keras.ops.convert_to_numpy(t)


def test_recalibrated_batchnorm_holds_the_exact_statistics_of_its_input(digits16):
    z = digits16[0][:300, ::2, ::2]  # 8x8x1 "features"
    decoder = sk.build_decoder(z.shape[1:], (16, 16, 1), width=8, min_width=4)
    recalibrate_batchnorm(decoder, z, batch_size=64)
    for bn in [layer for layer in decoder.layers if isinstance(layer, keras.layers.BatchNormalization)]:
        a = _np(keras.Model(decoder.inputs, bn.input)(z, training=False)).astype(np.float64)
        axes = tuple(range(a.ndim - 1))
        np.testing.assert_allclose(_np(bn.moving_mean), a.mean(axis=axes), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(_np(bn.moving_variance), a.var(axis=axes), rtol=1e-3, atol=1e-5)


def test_recalibration_follows_weights_changed_after_an_earlier_call(digits16):
    """The statistics probes are kept per decoder: a second call must see the decoder's current
    weights and earlier statistics (not those of the first call), on any number of rows."""
    z = digits16[0][:300, ::2, ::2]
    decoder = sk.build_decoder(z.shape[1:], (16, 16, 1), width=8, min_width=4)
    recalibrate_batchnorm(decoder, z[:100], batch_size=64)
    conv = next(layer for layer in decoder.layers if isinstance(layer, keras.layers.Conv2DTranspose))
    conv.kernel.assign(_np(conv.kernel) * 3.0 + 0.05)
    recalibrate_batchnorm(decoder, z[:37], batch_size=64)  # fewer rows than one batch
    for bn in [layer for layer in decoder.layers if isinstance(layer, keras.layers.BatchNormalization)]:
        a = _np(keras.Model(decoder.inputs, bn.input)(z[:37], training=False)).astype(np.float64)
        axes = tuple(range(a.ndim - 1))
        np.testing.assert_allclose(_np(bn.moving_mean), a.mean(axis=axes), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(_np(bn.moving_variance), a.var(axis=axes), rtol=1e-3, atol=1e-5)
    with pytest.raises(ValueError, match="z must hold"):
        recalibrate_batchnorm(decoder, z[:0])


def test_inverse_network_stops_on_a_held_out_plateau(digits16):
    """Features that carry nothing: the held-out MSE cannot keep improving, so training stops early."""
    attack = InverseNetworkAttack(keras.layers.Rescaling(0.0), image_shape=(16, 16, 1), epochs=60, patience=3,
                                  width=16, min_width=8, progress=False).fit(digits16[0][:400])
    assert attack.converged and len(attack.history) < 60
    # the kept epoch is the best up to the 0.1 % that counts as an improvement
    assert attack.val_history[attack.best_epoch] <= 1.001 * min(attack.val_history)
    # the kept weights are the best epoch's: the held-out images (same seeded split) score close to it
    x = digits16[0][:400]
    val = x[np.random.default_rng(0).permutation(400)[:40]]
    mse = float(np.mean((attack.reconstruct(np.zeros((40, 16, 16, 1), "float32")) - val) ** 2))
    assert mse == pytest.approx(attack.val_history[attack.best_epoch], rel=0.1)


def test_rmle_stops_and_hybrid_refines_toward_the_features(digits16):
    x = digits16[0]
    edge = keras.layers.AveragePooling2D(4)
    hybrid = HybridAttack(edge, image_shape=(16, 16, 1), inverse_options={"epochs": 4, "width": 16, "min_width": 8,
                                                                          "patience": 2, "progress": False},
                          steps=400, progress=False).fit(x[:300])
    private = x[300:332]
    z = _np(edge(private))
    guess = hybrid.inverse.reconstruct(z)
    refined = hybrid.reconstruct(z)
    assert relative_feature_error(_np(edge(refined)), z) < 0.5 * relative_feature_error(_np(edge(guess)), z)
    assert np.mean((refined - private) ** 2) <= 1.05 * np.mean((guess - private) ** 2)


def test_latent_search_recovers_images_the_generator_can_make():
    keras.utils.set_random_seed(0)
    gen = build_generator((16, 16, 1), latent_dim=8, width=16)
    x = _np(gen(np.random.default_rng(0).standard_normal((6, 8)).astype("float32"), training=False))
    edge = keras.layers.AveragePooling2D(2)
    attack = GenerativePriorAttack(edge, image_shape=(16, 16, 1), generator=gen, restarts=4, steps=600, lr=0.05,
                                   prior_weight=0.0, pixel_steps=0, progress=False)
    x_hat = attack.reconstruct(_np(edge(x)))
    assert np.mean((x_hat - x) ** 2) < 0.1 * np.mean((x - x.mean()) ** 2)
    assert max(attack.latent_feature_error) < 0.01


def test_generator_trains_and_a_diverging_rmle_raises(digits16):
    from sift_keras.attacks import train_generator

    gen, history = train_generator(digits16[0][:128], latent_dim=8, width=16, epochs=2, batch_size=32, progress=False)
    assert len(history) == 2 and gen.output_shape[1:] == (16, 16, 1)

    class Exploding(keras.layers.Layer):
        def call(self, x):
            return x * float("nan")

    with pytest.raises(FloatingPointError, match="diverged"):
        RMLEAttack(Exploding(), image_shape=(16, 16, 1), steps=30, progress=False).reconstruct(
            np.ones((2, 16, 16, 1), "float32"))


def test_generator_training_resumes_from_its_checkpoint_to_the_uninterrupted_weights(digits16, tmp_path):
    from sift_keras.attacks import train_generator

    x = digits16[0][:96]
    kw = dict(latent_dim=8, width=16, batch_size=32, seed=3, progress=False)
    whole, whole_history = train_generator(x, epochs=3, **kw)
    ckpt = tmp_path / "gan.npz"
    train_generator(x, epochs=1, checkpoint=ckpt, **kw)  # "interrupted" after one epoch
    resumed, history = train_generator(x, epochs=3, checkpoint=ckpt, **kw)
    assert history == whole_history
    for a, b in zip(whole.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="checkpoint: .* other data or settings"):
        train_generator(x, epochs=3, checkpoint=ckpt, **dict(kw, lr=1e-3))
    with pytest.raises(ValueError, match="checkpoint: .* holds 3 epochs, more than epochs=2"):
        train_generator(x, epochs=2, checkpoint=ckpt, **kw)
    (tmp_path / "junk.npz").write_bytes(b"not an archive")
    with pytest.raises(ValueError, match="checkpoint: .*junk.npz is not a readable generator checkpoint"):
        train_generator(x, epochs=3, checkpoint=tmp_path / "junk.npz", **kw)


def _torch_and_keras_edges():
    """One conv 3x3 (1 -> 4, ReLU) + 2x2 average pooling edge, the same weights in both frameworks."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.5, size=(3, 3, 1, 4)).astype("float32")  # HWIO
    b = rng.normal(0, 0.1, size=4).astype("float32")
    conv = keras.layers.Conv2D(4, 3, padding="same", activation="relu")
    k_edge = keras.Sequential([keras.Input((16, 16, 1)), conv, keras.layers.AveragePooling2D(2)])
    conv.set_weights([w, b])
    t_conv = torch.nn.Conv2d(1, 4, 3, padding=1)
    with torch.no_grad():
        t_conv.weight.copy_(torch.from_numpy(w.transpose(3, 2, 0, 1)))
        t_conv.bias.copy_(torch.from_numpy(b))
    t_edge = torch.nn.Sequential(t_conv, torch.nn.ReLU(), torch.nn.AvgPool2d(2))
    return torch, t_edge, k_edge


def test_the_same_edge_gives_reconstructions_of_equal_quality_in_torch_and_keras(digits16):
    """Parity of the bindings: one objective and stopping rule in sift_core, two frameworks.

    Measured (this test's setting): rMLE from the same start reaches SSIM 0.88-0.89 in both
    frameworks, differing by under 0.005 (float32 round-off through 300 Adam steps); the inverse
    networks (different initialisations) differ by under 0.03 SSIM. The tolerances allow 2-3x that.
    """
    from sift_torch.attacks import InverseNetworkAttack as TorchInverse
    from sift_torch.attacks import RMLEAttack as TorchRMLE

    torch, t_edge, k_edge = _torch_and_keras_edges()
    x = digits16[0]
    private = x[1500:1516]
    nchw = np.ascontiguousarray(private.transpose(0, 3, 1, 2))
    z_k = _np(k_edge(private))
    with torch.no_grad():
        z_t = t_edge(torch.from_numpy(nchw))
    np.testing.assert_allclose(z_t.numpy().transpose(0, 2, 3, 1), z_k, atol=1e-5)
    start = np.random.default_rng(1).random(private.shape).astype("float32")
    settings = dict(steps=300, lr=0.05, tv_weight=0.02, patience=6)
    k_rec = RMLEAttack(k_edge, image_shape=(16, 16, 1), progress=False, **settings).reconstruct(z_k, init=start)
    t_rec = TorchRMLE(t_edge, image_shape=(1, 16, 16), progress=False, **settings).reconstruct(
        z_t, init=np.ascontiguousarray(start.transpose(0, 3, 1, 2))).numpy()
    k_s = reconstruction_scores(private, k_rec, channels_last=True)
    t_s = reconstruction_scores(nchw, t_rec)
    assert abs(k_s["ssim"] - t_s["ssim"]) < 0.015 and k_s["mse"] == pytest.approx(t_s["mse"], rel=0.1)

    aux = x[:600]
    inv = dict(epochs=12, patience=3, width=16, min_width=8, seed=0)
    k_inv = InverseNetworkAttack(k_edge, image_shape=(16, 16, 1), progress=False, **inv).fit(aux)
    t_inv = TorchInverse(t_edge, image_shape=(1, 16, 16), progress=False, **inv).fit(
        np.ascontiguousarray(aux.transpose(0, 3, 1, 2)))
    k_s = reconstruction_scores(private, k_inv.reconstruct(z_k), channels_last=True)
    t_s = reconstruction_scores(nchw, t_inv.reconstruct(z_t).numpy())
    assert abs(k_s["ssim"] - t_s["ssim"]) < 0.08, (k_s, t_s)


def test_rmle_records_which_images_halted_on_a_non_finite_step():
    class Pole(keras.layers.Layer):  # f(x) = 1 / (x - 0.5): infinite at x = 0.5
        def call(self, x):
            return 1.0 / (x - 0.5)

    init = np.full((2, 4, 4, 1), 0.25, "float32")
    init[1] = 0.5  # the second image starts on the pole: its first step is not finite
    attack = RMLEAttack(Pole(), image_shape=(4, 4, 1), steps=200, tv_weight=0.0, progress=False)
    attack.reconstruct(np.full((2, 4, 4, 1), 4.0, "float32"), init=init)
    assert attack.halted == [False, True]
    assert attack.steps_run[1] < attack.steps_run[0]


def test_rmle_records_the_steps_each_image_ran():
    """A constant objective improves once (at the first check), then the rule halves the step twice
    after 2 checks each and stops after 4 more: 8 checks, so every image ran 8 * check_every steps."""
    attack = RMLEAttack(keras.layers.Rescaling(0.0), image_shape=(8, 8, 1), steps=500, tv_weight=0.0, patience=4,
                        check_every=25, progress=False)
    attack.reconstruct(np.zeros((3, 8, 8, 1), "float32"))
    assert attack.steps_run == [8 * 25] * 3


def test_inverse_network_trains_on_full_batches_only(digits16):
    """19 images at batch 8: two full batches an epoch, the short third left out (as sift_torch)."""

    class Count(keras.callbacks.Callback):
        batches = 0

        def on_train_batch_end(self, batch, logs=None):
            Count.batches += 1

    attack = InverseNetworkAttack(keras.layers.AveragePooling2D(8), image_shape=(16, 16, 1), epochs=3,
                                  val_fraction=0.0, batch_size=8, width=8, min_width=4, progress=False)
    attack.fit(digits16[0][:19], callbacks=[Count()])
    assert Count.batches == 6 and len(attack.history) == 3
