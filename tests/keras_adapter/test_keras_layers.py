"""Attention blocks, funnel edge / upsampling cloud and the split baselines."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytest.importorskip("tensorflow")

import sift_keras as sk  # noqa: E402


def _np(t):
    return keras.ops.convert_to_numpy(t)


def _rand(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def test_squeeze_excitation_closed_form():
    x = _rand((3, 5, 4, 8))
    layer = sk.SqueezeExcitation(4)
    out = _np(layer(x))
    w1, w2 = (_np(w) for w in (layer.squeeze.kernel, layer.excite.kernel))
    gate = 1 / (1 + np.exp(-(np.maximum(x.mean(axis=(1, 2)) @ w1, 0) @ w2)))
    np.testing.assert_allclose(out, x * gate[:, None, None, :], rtol=1e-5, atol=1e-6)
    assert w1.shape == (8, 2)


@pytest.mark.parametrize("cls", [sk.SqueezeExcitation, sk.TripletAttention, sk.CBAM])
def test_channels_first_matches_channels_last(cls):
    x = _rand((2, 6, 5, 4), seed=1)  # (B, H, W, C)
    last = cls(data_format="channels_last")
    first = cls(data_format="channels_first")
    y_last = _np(last(x))
    first(np.transpose(x, (0, 3, 1, 2)))
    first.set_weights(last.get_weights())
    y_first = _np(first(np.transpose(x, (0, 3, 1, 2))))
    np.testing.assert_allclose(np.transpose(y_first, (0, 2, 3, 1)), y_last, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cls", [sk.TripletAttention, sk.CBAM])
def test_attention_only_rescales_by_gates_in_unit_interval(cls):
    x = _rand((2, 7, 6, 5), seed=2)
    y = _np(cls()(x))
    assert y.shape == x.shape
    # every branch multiplies x by a sigmoid gate in (0, 1)
    assert np.all(np.abs(y) <= np.abs(x) + 1e-6)
    assert np.all(np.sign(y[np.abs(y) > 1e-6]) == np.sign(x[np.abs(y) > 1e-6]))


# 28x28 is padded to 32x32 by the edge's InputAdapter, as in sift_torch
@pytest.mark.parametrize("shape, sent", [((28, 28, 1), (8, 8, 12)), ((32, 32, 3), (8, 8, 12)),
                                         ((64, 64, 3), (16, 16, 12))])
def test_funnel_split_shapes(shape, sent):
    edge, cloud = sk.funnel_split(10, base_channels=16, input_shape=shape)
    z = edge(np.zeros((2, *shape), "float32"))
    assert tuple(z.shape[1:]) == sent
    assert tuple(cloud(z).shape) == (2, 10)


@pytest.mark.parametrize("arch, sent", [("cnn", (8, 8, 16)), ("vgg16", (8, 8, 16)), ("resnet18", (16, 16, 16))])
def test_baseline_splits(arch, sent):
    edge, cloud = sk.split_baseline(arch, 7, width=8, input_shape=(32, 32, 3))
    z = edge(np.zeros((2, 32, 32, 3), "float32"))
    assert tuple(z.shape[1:]) == sent
    assert tuple(cloud(z).shape) == (2, 7)


def test_funnel_wraps_an_existing_split():
    old_edge, old_cloud = sk.split_baseline("cnn", 10, width=8, input_shape=(28, 28, 1))
    edge = sk.FunnelEdge(old_edge, out_channels=6)
    cloud = sk.UpsamplingCloud(16, old_cloud)
    z = edge(np.zeros((2, 28, 28, 1), "float32"))
    assert tuple(z.shape[1:]) == (8, 8, 6)  # the old split's spatial size (28 padded to 32), fewer channels
    assert tuple(cloud(z).shape) == (2, 10)


def test_profile_edge_counts_a_convolution_exactly():
    edge = keras.Sequential([keras.Input((8, 8, 2)), keras.layers.Conv2D(4, 3, padding="same", use_bias=False),
                             keras.layers.BatchNormalization()])
    rep = sk.profile_edge(edge, (8, 8, 2))
    assert rep.params == 3 * 3 * 2 * 4 + 4 * 4 == edge.count_params()  # BN: gamma, beta and two moving statistics
    assert rep.trainable_params == 3 * 3 * 2 * 4 + 2 * 4
    if keras.backend.backend() == "tensorflow":  # one multiply and one add per weight and position, plus BN's
        assert rep.flops >= 2 * 8 * 8 * 3 * 3 * 2 * 4
    else:  # FLOPs come from TensorFlow's profiler only
        assert rep.flops is None
    assert rep.feature_shape == (8, 8, 4) and rep.feature_size == 256
    assert rep.input_size == 128 and rep.compression == 2.0
    assert rep.to_dict()["feature_size"] == 256 and rep.to_dict()["input_shape"] == [8, 8, 2]


def test_edge_report_is_the_deprecated_name_of_profile_edge():
    edge = keras.Sequential([keras.Input((8, 8, 2)), keras.layers.Conv2D(4, 3, padding="same", use_bias=False)])
    with pytest.warns(DeprecationWarning, match="profile_edge"):
        rep = sk.edge_report(edge, (8, 8, 2))
    assert rep == sk.profile_edge(edge, (8, 8, 2)) and sk.EdgeReport is sk.EdgeProfile
    assert rep.flops == 2 * 8 * 8 * 3 * 3 * 2 * 4  # one multiply and one add per weight and position


def test_funnel_edge_sends_less_than_the_undefended_split():
    funnel = sk.profile_edge(sk.funnel_split(10, input_shape=(32, 32, 1))[0], (32, 32, 1))
    plain = sk.profile_edge(sk.split_baseline("cnn", 10, input_shape=(32, 32, 1))[0], (32, 32, 1))
    assert funnel.feature_size == 12 * 8 * 8 and plain.feature_size == 128 * 8 * 8
    assert funnel.params < plain.params / 4


def test_funnel_edge_parameters_match_the_torch_adapter():
    torch = pytest.importorskip("torch")
    st = pytest.importorskip("sift_torch")
    from sift_torch.models.blocks import conv_block

    t_edge = st.FunnelEdge(conv_block(1, 64), in_channels=64, out_channels=12, mid_channels=16, pool=True)
    t_up = st.UpsamplingCloud(12, 128, torch.nn.Identity())
    k_edge, k_cloud = sk.funnel_split(10, input_shape=(32, 32, 1))

    def trainable(model):
        return sum(int(np.prod(w.shape)) for w in model.trainable_weights)

    assert trainable(k_edge) == sum(p.numel() for p in t_edge.parameters())
    assert trainable(k_cloud.up) == sum(p.numel() for p in t_up.parameters())


def test_config_round_trip_rebuilds_the_same_function():
    edge = sk.FunnelEdge(base_channels=8, out_channels=5, output_activation="tanh")
    x = _rand((2, 16, 16, 1), seed=3)
    y = _np(edge(x, training=False))
    clone = sk.FunnelEdge.from_config(edge.get_config())
    clone(x)
    clone.set_weights(edge.get_weights())
    np.testing.assert_allclose(_np(clone(x, training=False)), y, rtol=1e-6)
    assert clone.get_config()["output_activation"] == "tanh"


def test_invalid_arguments_name_the_argument():
    with pytest.raises(ValueError, match="output_activation"):
        sk.FunnelEdge(output_activation="bogus")
    with pytest.raises(ValueError, match="reduction"):
        sk.SqueezeExcitation(0)
    with pytest.raises(ValueError, match="arch"):
        sk.split_baseline("alexnet", 10)
    with pytest.raises(ValueError, match="data_format"):
        sk.CBAM(data_format="nchw")
    with pytest.raises(ValueError, match="num_classes"):
        sk.UpsamplingCloud()
    with pytest.raises(ValueError, match="input_shape"):
        sk.profile_edge(sk.PlainCNNEdge(base_channels=4), (8, 8))
