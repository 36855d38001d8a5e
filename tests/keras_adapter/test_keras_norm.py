"""The debiased batch norm and the funnel's standardised output (parity with sift_torch)."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytest.importorskip("tensorflow")

import sift_keras as sk  # noqa: E402
from sift_keras.norm import BatchNormalization  # noqa: E402


def _np(t):
    return keras.ops.convert_to_numpy(t)


def test_moving_statistics_average_the_first_batches_exactly_then_decay():
    rng = np.random.default_rng(0)
    bn = BatchNormalization(momentum=0.9, epsilon=1e-5)
    batches = [rng.normal(loc=3.0 + i, scale=0.01 * (i + 1), size=(16, 4)).astype("float32") for i in range(14)]
    means = [b.mean(axis=0) for b in batches]
    variances = [b.var(axis=0) for b in batches]
    for t, b in enumerate(batches, start=1):
        bn(b, training=True)
        if t == 10:  # the plain average of the first ten batch statistics, no trace of the initial (0, 1)
            np.testing.assert_allclose(_np(bn.moving_mean), np.mean(means[:10], axis=0), rtol=1e-5)
            np.testing.assert_allclose(_np(bn.moving_variance), np.mean(variances[:10], axis=0), rtol=1e-4)
    m, v = np.mean(means[:10], axis=0), np.mean(variances[:10], axis=0)
    for t in range(10, 14):  # then Keras's exponential average with momentum 0.9
        m, v = 0.9 * m + 0.1 * means[t], 0.9 * v + 0.1 * variances[t]
    np.testing.assert_allclose(_np(bn.moving_mean), m, rtol=1e-5)
    np.testing.assert_allclose(_np(bn.moving_variance), v, rtol=1e-4)
    assert float(_np(bn.batches_seen)) == 14.0


def test_torch_rule_gives_the_same_running_mean():
    torch = pytest.importorskip("torch")
    from sift_torch.norm import BatchNorm2d

    rng = np.random.default_rng(1)
    xs = [rng.normal(loc=-2.0, scale=0.05, size=(8, 3, 2, 2)).astype("float32") for _ in range(13)]
    t_bn, k_bn = BatchNorm2d(3), BatchNormalization(momentum=0.9, epsilon=1e-5)
    for x in xs:
        t_bn(torch.from_numpy(x))
        k_bn(np.transpose(x, (0, 2, 3, 1)), training=True)
    np.testing.assert_allclose(_np(k_bn.moving_mean), t_bn.running_mean.numpy(), rtol=1e-5)


def test_inference_uses_the_moving_statistics_and_the_count_is_saved(tmp_path):
    bn = BatchNormalization(momentum=0.9, epsilon=1e-5, center=False, scale=False)
    x = np.random.default_rng(2).normal(loc=5.0, scale=2.0, size=(64, 3)).astype("float32")
    bn(x, training=True)
    out = _np(bn(x, training=False))
    np.testing.assert_allclose(out, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5), rtol=1e-4, atol=1e-5)
    model = keras.Sequential([keras.Input((3,)), bn])
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert float(_np(loaded.layers[0].batches_seen)) == 1.0


@pytest.mark.parametrize("output_norm", [True, False])
def test_funnel_output_is_standardised_before_the_activation(output_norm):
    edge = sk.FunnelEdge(base_channels=8, out_channels=5, output_activation="identity", output_norm=output_norm)
    x = np.random.default_rng(3).uniform(size=(32, 16, 16, 1)).astype("float32")
    z = _np(edge(x, training=True))
    # what reaches the output stage: every block but the funnel head, then the head up to CBAM
    h = x
    for block in edge.blocks[:-1]:
        h = block(h, training=True)
    head = edge.head.layers_
    for layer in head[:head.index(next(la for la in head if la.__class__.__name__ == "CBAM")) + 1]:
        h = layer(h, training=True)
    h = _np(h).astype("float64")
    standardised = (h - h.mean(axis=(0, 1, 2))) / np.sqrt(h.var(axis=(0, 1, 2)) + 1e-5)  # batch statistics, eps 1e-5
    np.testing.assert_allclose(z, standardised if output_norm else h, rtol=1e-3, atol=1e-4)
    clone = sk.FunnelEdge.from_config(edge.get_config())
    assert clone.get_config()["output_norm"] is output_norm


def test_output_norm_must_be_a_bool():
    with pytest.raises(TypeError, match="output_norm"):
        sk.FunnelEdge(output_norm="yes")
