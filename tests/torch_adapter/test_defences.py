"""Defences: every registered defence trains a step; each layer does what it says."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import sift_torch as st  # noqa: E402
from sift_torch.defences import DEFENCES  # noqa: E402

import sift_core  # noqa: E402


@pytest.mark.parametrize("name", sorted(DEFENCES))
def test_each_defence_trains_a_step_with_a_finite_loss(name):
    torch.manual_seed(0)
    d = st.make_defence(name)
    model = st.build_split("cnn", defence=d, image_size=16, num_classes=3, width=8, seed=0)
    crit = d.criterion()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(12, 1, 16, 16)
    y = torch.arange(12) % 3
    before = [p.detach().clone() for p in model.edge.parameters()]
    logits, z = model(x, return_features=True)
    loss = crit(x, z, logits, y) + model.regularization()
    assert loss.ndim == 0 and torch.isfinite(loss)
    opt.zero_grad()
    loss.backward()
    opt.step()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.edge.parameters()))
    assert "total" in crit.terms and all(torch.isfinite(v) for v in crit.terms.values())
    assert isinstance(model.edge, st.FunnelEdge) == (name == "siftfunnel")


def test_noise_layer_statistics_and_modes():
    z = torch.zeros(200, 50, 10)
    layer = st.GaussianNoise(0.8)
    out = layer.eval()(z)  # at_inference: the transmitted features are noisy at test time too
    assert out.std().item() == pytest.approx(0.8, rel=0.02)
    assert out.mean().abs().item() < 0.01
    assert torch.equal(st.GaussianNoise(0.8, at_inference=False).eval()(z), z)
    with pytest.raises(ValueError, match="sigma"):
        st.GaussianNoise(-1.0)


def test_dropout_layer_drops_at_rate_and_rescales():
    z = torch.ones(100_000)
    out = st.FeatureDropout(0.8).eval()(z)
    assert (out == 0).float().mean().item() == pytest.approx(0.8, abs=0.01)
    kept = out[out != 0]
    torch.testing.assert_close(kept, torch.full_like(kept, 5.0))
    with pytest.raises(ValueError, match="rate"):
        st.FeatureDropout(1.0)


def test_variational_bottleneck_kl_and_eval_mean():
    torch.manual_seed(0)
    vib = st.VariationalBottleneck(3, weight=0.5)
    h = torch.randn(4, 3, 5, 5)
    z1 = vib.train()(h)
    mean, logvar = vib.stats(h).chunk(2, dim=1)
    kl = sift_core.gaussian_kl(mean.flatten(1), logvar.flatten(1))
    torch.testing.assert_close(vib.regularization(), 0.5 * kl)
    # closed form, independent of the core: 0.5 * mean(mu^2 + e^v - v - 1)
    torch.testing.assert_close(kl, 0.5 * (mean**2 + logvar.exp() - logvar - 1).mean())
    assert not torch.allclose(z1, mean)
    torch.testing.assert_close(vib.eval()(h), mean)
    model = st.make_defence("mid", weight=0.5).protect(nn.Identity(), nn.Flatten(), channels=3)
    model(h)
    torch.testing.assert_close(model.regularization(), model.edge[1].regularization())


def test_nopeek_and_bido_losses_are_the_core_terms():
    torch.manual_seed(0)
    x = torch.rand(10, 1, 4, 4, dtype=torch.float64)
    z = torch.randn(10, 2, 2, 2, dtype=torch.float64)
    logits = torch.randn(10, 3, dtype=torch.float64)
    y = torch.arange(10) % 3
    nopeek = st.NoPeekLoss(weight=0.7)
    v = nopeek(x, z, logits, y)
    ce = torch.nn.functional.cross_entropy(logits, y)
    torch.testing.assert_close(v, ce + 0.7 * sift_core.distance_correlation(x, z))
    bido = st.BiDOLoss(weight_x=0.1, weight_y=2.0)
    v = bido(x, z, logits, y)
    onehot = torch.nn.functional.one_hot(y, 3).double()
    expected = ce + 0.1 * sift_core.hsic(x, z) - 2.0 * sift_core.hsic(z, onehot)
    torch.testing.assert_close(v, expected)


def test_siftfunnel_protects_an_existing_split_model():
    edge = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
    cloud = nn.Sequential(nn.Flatten(), nn.Linear(32 * 7 * 7, 10))
    d = st.make_defence("siftfunnel", out_channels=6, beta=1.0)
    model = d.protect(edge, cloud, channels=32)
    logits, z = model(torch.rand(4, 1, 14, 14), return_features=True)
    assert z.shape == (4, 6, 7, 7) and logits.shape == (4, 10)
    assert model.edge.trunk is edge and model.cloud.tail is cloud
    assert d.criterion().settings["beta"] == 1.0
    with pytest.raises(ValueError, match="channels"):
        d.protect(edge, cloud)


def test_registry_and_validation():
    assert set(DEFENCES) == {"none", "noise", "dropout", "nopeek", "mid", "bido", "siftfunnel"}
    with pytest.raises(ValueError, match="defence must be one of"):
        st.make_defence("dp-sgd")
    with pytest.raises(TypeError, match="lambda_2"):
        st.make_defence("siftfunnel", lambda_2=1.0)
    with pytest.raises(TypeError):
        st.make_defence("noise", rate=0.5)
    d = st.make_defence("noise", sigma=0.1)
    assert st.make_defence(d) is d and d.settings["sigma"] == 0.1

    assert all(cls.kind == cls.name == key for key, cls in DEFENCES.items())

    @st.register_defence
    class Scaled(st.Defence):
        kind = "scaled"

        def protect(self, edge, cloud, *, channels=None):
            return st.SplitModel(nn.Sequential(edge, nn.Tanh()), cloud)

    @st.register_defence
    class OldStyle(st.Defence):  # user code written before `kind`: registered under `name`
        name = "old_style"

    try:
        m = st.build_split("cnn", defence="scaled", image_size=16, width=8)
        assert isinstance(m.edge[1], nn.Tanh)
        assert m(torch.rand(2, 1, 16, 16)).shape == (2, 10)
        assert DEFENCES["old_style"] is OldStyle and OldStyle.kind == "old_style" and Scaled.name == "scaled"
        assert type(st.make_defence("old_style")) is OldStyle
    finally:
        DEFENCES.pop("scaled")
        DEFENCES.pop("old_style")
    with pytest.raises(TypeError, match="cls"):
        st.register_defence(st.make_defence("none"))
    with pytest.raises(ValueError, match="kind"):
        st.register_defence(type("NoKind", (st.Defence,), {"kind": None}))
    assert None not in DEFENCES
    assert math.isfinite(float(st.make_defence("none").criterion()(
        torch.rand(2, 1, 2, 2), torch.rand(2, 3), torch.zeros(2, 4), torch.tensor([0, 3]))))


def test_docs_snippet_protects_and_attacks_a_split_model(capsys):
    """The README-style snippet of docs/torch.md runs as written."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "torch.md").read_text()
    section = text.split("## Protect an existing split model", 1)[1]
    code = section.split("```python", 1)[1].split("```", 1)[0]
    g = torch.Generator().manual_seed(0)
    x = torch.rand(96, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (96,), generator=g)
    namespace = {"loader": [(x[:32], y[:32]), (x[32:64], y[32:64])], "x_aux": x[:64], "x_private": x[64:]}
    exec(compile(code, "docs/torch.md", "exec"), namespace)
    assert set(namespace["loss_fn"].terms) >= {"task", "dcor", "l1", "redundancy"}
    assert "SSIM" in capsys.readouterr().out
