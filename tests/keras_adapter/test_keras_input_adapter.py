"""sift_keras.InputAdapter: sift_torch's input handling (zero padding to a multiple, then standardisation)."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import sift_keras as sk  # noqa: E402


def _plain(x, multiple, mean, std):
    """The adapter by hand: pad (N, H, W, C) with zeros up to the multiple, torch's split of the border."""
    h, w = x.shape[1:3]
    ph, pw = (-h) % multiple, (-w) % multiple
    x = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    return (x - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)


@pytest.mark.parametrize("shape, multiple, mean, std", [
    ((2, 28, 28, 1), 16, 0.5, 0.5),
    ((1, 27, 30, 3), 32, [0.4, 0.5, 0.6], [0.2, 0.25, 0.3]),
    ((1, 32, 32, 3), 1, 0.0, 1.0),
])
def test_equals_the_plain_formula(shape, multiple, mean, std):
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    got = keras.ops.convert_to_numpy(sk.InputAdapter(multiple=multiple, mean=mean, std=std)(x))
    np.testing.assert_allclose(got, _plain(x, multiple, mean, std), rtol=1e-6, atol=1e-6)


def test_matches_sift_torch():
    torch = pytest.importorskip("torch")
    from sift_torch.models.blocks import InputAdapter as TorchAdapter

    x = np.random.default_rng(1).random((2, 27, 30, 3), dtype=np.float32)
    adapter = TorchAdapter(in_channels=3, multiple=16, mean=[0.4, 0.5, 0.6], std=0.3)
    want = adapter(torch.from_numpy(x.transpose(0, 3, 1, 2)))
    got = keras.ops.convert_to_numpy(sk.InputAdapter(multiple=16, mean=[0.4, 0.5, 0.6], std=0.3)(x))
    np.testing.assert_allclose(got, want.numpy().transpose(0, 2, 3, 1), rtol=1e-6, atol=1e-6)


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="multiple"):
        sk.InputAdapter(multiple=0)
    with pytest.raises(ValueError, match="std"):
        sk.InputAdapter(std=[0.5, 0.0])
    with pytest.raises(ValueError, match="mean"):
        sk.InputAdapter(mean=[0.1, 0.2])(np.zeros((1, 8, 8, 3), "float32"))
    with pytest.raises(ValueError, match="normalize"):
        sk.split_baseline("cnn", 10, width=8, normalize=0.5)
    with pytest.raises(ValueError, match="normalize"):
        sk.FunnelEdge(normalize=0.5)


def test_edges_send_what_the_torch_edges_send_and_old_models_load_without_the_adapter():
    x = np.random.default_rng(2).random((2, 28, 28, 1), dtype=np.float32)
    edge, _ = sk.split_baseline("cnn", 10, width=8, input_shape=(28, 28, 1))
    funnel, _ = sk.funnel_split(10, base_channels=8, input_shape=(28, 28, 1))
    # 28x28 padded to 32x32, as sift_torch's CNN: 8x8 feature maps
    assert tuple(edge(x).shape) == (2, 8, 8, 16) and tuple(funnel(x).shape) == (2, 8, 8, 12)
    # a config saved before the adapter existed (no "normalize") rebuilds the raw-input edge
    for model in (edge, funnel):
        config = keras.saving.serialize_keras_object(model)
        config["config"].pop("normalize")
        old = keras.saving.deserialize_keras_object(config)
        assert not any(isinstance(layer, sk.InputAdapter) for layer in old.blocks)
        assert tuple(old(x).shape[1:3]) == (7, 7)
        # and a current config keeps it
        new = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model))
        assert isinstance(new.blocks[0], sk.InputAdapter) and tuple(new(x).shape[1:3]) == (8, 8)
