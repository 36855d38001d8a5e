"""Models: attention blocks, funnel edge / upsampling cloud, split baselines, batch norm, profiling."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import sift_torch as st  # noqa: E402
from sift_torch.attention import AttentionGate, ChannelAttention  # noqa: E402
from sift_torch.models import ARCHS, FUNNEL_CHANNELS, InputAdapter  # noqa: E402
from sift_torch.norm import BatchNorm2d  # noqa: E402


def _zero_(module):
    with torch.no_grad():
        for p in module.parameters():
            if p.ndim > 1:
                p.zero_()
    return module


# ---------------------------------------------------------------- attention


def test_attention_gates_at_zero_weights_are_one_half():
    """With zero weights every sigmoid gate is sigmoid(0) = 1/2: closed-form outputs."""
    x = torch.randn(3, 8, 5, 6)
    se = _zero_(st.SqueezeExcitation(8, reduction=4))
    torch.testing.assert_close(se(x), x / 2)
    cbam = _zero_(st.CBAM(8, ratio=4))  # channel gate 1/2, then spatial gate 1/2
    torch.testing.assert_close(cbam(x), x / 4)
    tri = _zero_(st.TripletAttention()).eval()  # BN at its initial running stats is the identity
    torch.testing.assert_close(tri(x), x / 2, atol=1e-6, rtol=1e-5)


def test_attention_gate_matches_its_formula_and_triplet_rotates_axes():
    torch.manual_seed(0)
    gate = AttentionGate().eval()
    x = torch.randn(2, 4, 5, 6)
    pooled = torch.cat([x.max(dim=1, keepdim=True).values, x.mean(dim=1, keepdim=True)], dim=1)
    w = torch.nn.functional.conv2d(pooled, gate.conv.weight, padding=3)
    w = (w - gate.bn.running_mean.view(1, -1, 1, 1)) / torch.sqrt(gate.bn.running_var.view(1, -1, 1, 1) + gate.bn.eps)
    w = w * gate.bn.weight.view(1, -1, 1, 1) + gate.bn.bias.view(1, -1, 1, 1)
    torch.testing.assert_close(gate(x), x * torch.sigmoid(w))
    tri = st.TripletAttention().eval()
    expected = (tri.cw(x.permute(0, 2, 1, 3)).permute(0, 2, 1, 3) + tri.hc(x.permute(0, 3, 2, 1)).permute(0, 3, 2, 1)
                + tri.hw(x)) / 3
    torch.testing.assert_close(tri(x), expected)


def test_channel_attention_is_shared_mlp_on_avg_and_max():
    torch.manual_seed(1)
    ca = ChannelAttention(6, ratio=3)
    x = torch.randn(2, 6, 4, 4)
    w1, w2 = ca.fc1.weight[:, :, 0, 0], ca.fc2.weight[:, :, 0, 0]

    def mlp(v):
        return torch.relu(v @ w1.T) @ w2.T

    expected = torch.sigmoid(mlp(x.mean(dim=(2, 3))) + mlp(x.amax(dim=(2, 3))))
    torch.testing.assert_close(ca(x)[:, :, 0, 0], expected)


# ---------------------------------------------------------------- split models


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize(("size", "channels"), [(28, 1), (32, 3), (64, 1)])
def test_every_arch_builds_for_every_input(arch, size, channels):
    padded = {"cnn": 16, "vgg16": 32, "resnet18": 1}[arch]
    side = size + (-size) % padded
    down = 2 if arch == "resnet18" else 4
    x = torch.rand(2, channels, size, size)
    for funnel in (False, True):
        m = st.build_split(arch, in_channels=channels, image_size=size, num_classes=7, width=8, funnel=funnel,
                           seed=0)
        logits, z = m(x, return_features=True)
        c = FUNNEL_CHANNELS[arch] if funnel else 16
        h = -(-side // down) if arch == "resnet18" else side // down
        assert logits.shape == (2, 7)
        assert z.shape == (2, c, h, h)
        assert torch.equal(m.z, z) and m.z.grad_fn is None  # a detached copy: no graph kept alive


def test_authors_cnn_parameter_counts():
    """The authors' code (docs/method.md): undefended CNN edge 74,880 parameters, SiftFunnel edge 9,202
    (1-channel input)."""
    plain = st.build_split("cnn", in_channels=1, image_size=32)
    funnel = st.build_split("cnn", defence="siftfunnel", in_channels=1, image_size=32)
    assert st.count_parameters(plain.edge) == 74_880
    assert st.count_parameters(funnel.edge) == 9_202
    assert st.profile_edge(funnel.edge, (1, 32, 32)).feature_shape == (12, 8, 8)
    assert st.profile_edge(plain.edge, (1, 32, 32)).feature_shape == (128, 8, 8)


def test_build_split_seed_is_reproducible_and_leaves_global_rng_alone():
    state = torch.get_rng_state()
    a = st.build_split("cnn", defence="siftfunnel", width=8, seed=3)
    b = st.build_split("cnn", defence="siftfunnel", width=8, seed=3)
    c = st.build_split("cnn", defence="siftfunnel", width=8, seed=4)
    assert torch.equal(torch.get_rng_state(), state)
    for (ka, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), ka
    assert any(not torch.equal(va, vc) for va, vc in zip(a.state_dict().values(), c.state_dict().values()))


def test_build_split_validates_arguments():
    with pytest.raises(ValueError, match="arch"):
        st.build_split("alexnet")
    with pytest.raises(ValueError, match="image_size"):
        st.build_split("cnn", image_size=4)
    with pytest.raises(ValueError, match="in_channels"):
        st.build_split("cnn", in_channels=0)
    with pytest.raises(ValueError, match="num_classes"):
        st.build_split("cnn", num_classes=1)
    with pytest.raises(ValueError, match="activation"):
        st.build_split("cnn", defence="siftfunnel", output_activation="gelu")  # names the activation
    m = st.build_split("cnn", width=8)
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        m(torch.rand(2, 3, 28, 28))


def test_input_adapter_pads_black_and_standardises():
    ad = InputAdapter(in_channels=2, multiple=16, mean=(0.5, 0.25), std=(0.5, 0.25))
    x = torch.rand(1, 2, 28, 28)
    y = ad(x)
    assert y.shape == (1, 2, 32, 32)
    torch.testing.assert_close(y[0, 0, 2:30, 2:30], (x[0, 0] - 0.5) / 0.5)
    torch.testing.assert_close(y[0, 1, 2:30, 2:30], (x[0, 1] - 0.25) / 0.25)
    assert torch.all(y[0, 0, :2] == -1.0) and torch.all(y[0, 1, :, :2] == -1.0)
    with pytest.raises(ValueError, match="std"):
        InputAdapter(in_channels=1, std=0.0)


def test_funnel_edge_wraps_any_edge_and_the_cloud_projects_back():
    trunk = nn.Sequential(nn.Conv2d(3, 20, 3, padding=1), nn.ReLU())
    edge = st.FunnelEdge(trunk, in_channels=20, out_channels=5, mid_channels=8)
    cloud = st.UpsamplingCloud(5, 20, nn.Sequential(nn.Flatten(), nn.Linear(20 * 9 * 9, 4)))
    m = st.SplitModel(edge, cloud)
    logits, z = m(torch.rand(6, 3, 9, 9), return_features=True)
    assert z.shape == (6, 5, 9, 9) and logits.shape == (6, 4)
    with pytest.raises(TypeError, match="trunk"):
        st.FunnelEdge("not a module", in_channels=3)


# ---------------------------------------------------------------- batch norm


def test_batchnorm_running_stats_are_debiased_then_exponential():
    torch.manual_seed(0)
    bn = BatchNorm2d(3, momentum=0.1)
    batches = [torch.randn(8, 3, 4, 4) * 0.01 + i for i in range(15)]
    means = []
    for t, b in enumerate(batches, start=1):
        bn(b)
        means.append(b.mean(dim=(0, 2, 3)))
        if t <= 10:  # momentum max(0.1, 1/t): the running mean is the plain average so far
            torch.testing.assert_close(bn.running_mean, torch.stack(means).mean(0), rtol=1e-5, atol=1e-6)
    expected = torch.stack(means[:10]).mean(0)
    for m in means[10:]:
        expected = 0.9 * expected + 0.1 * m
    torch.testing.assert_close(bn.running_mean, expected, rtol=1e-5, atol=1e-6)
    # the batch count survives a state-dict round trip, so a resumed run updates identically
    clone = BatchNorm2d(3, momentum=0.1)
    clone.load_state_dict(bn.state_dict())
    nxt = torch.randn(8, 3, 4, 4)
    bn(nxt)
    clone(nxt)
    torch.testing.assert_close(clone.running_mean, bn.running_mean)


# ---------------------------------------------------------------- profiling


def test_flop_count_closed_forms():
    conv = nn.Conv2d(3, 8, 3, padding=1)
    prof = st.profile_edge(conv, (3, 16, 16))
    macs = 8 * 16 * 16 * 3 * 9
    assert prof.macs == macs and prof.flops == 2 * macs + 8 * 16 * 16
    assert prof.params == 8 * 3 * 9 + 8 and prof.feature_size == 8 * 16 * 16
    seq = nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1, bias=False, groups=1), nn.BatchNorm2d(4),
                        nn.Flatten(), nn.Linear(4 * 4 * 4, 5))
    p2 = st.profile_edge(seq, (1, 8, 8))
    conv_macs = 4 * 4 * 4 * 1 * 9
    assert p2.macs == conv_macs + 64 * 5
    assert p2.flops == 2 * conv_macs + 2 * 64 + 2 * 64 * 5 + 5
    assert p2.feature_shape == (5,)


def test_profile_of_the_authors_cnn_edge():
    edge = st.build_split("cnn", in_channels=1, image_size=32).edge
    edge.train()
    prof = st.profile_edge(edge, (1, 32, 32))
    assert edge.training  # mode restored
    conv1 = 64 * 32 * 32 * 9
    conv2 = 128 * 16 * 16 * 64 * 9
    expected = 2 * conv1 + 64 * 32 * 32 + 2 * 64 * 32 * 32 + 2 * conv2 + 128 * 16 * 16 + 2 * 128 * 16 * 16
    assert prof.flops == expected
    assert prof.feature_size == 128 * 8 * 8 and prof.compression == pytest.approx(8192 / 1024)
    d = prof.to_dict()
    assert d["params"] == 74_880 and d["feature_size"] == 8192
    with pytest.raises(ValueError, match="input_shape"):
        st.profile_edge(edge, (2, 1, 32, 32))
