"""Inversion attacks: the inverse network and rMLE recover what the features keep and nothing more."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

from sift_torch.attacks import (  # noqa: E402
    AttackResult,
    InverseNetworkAttack,
    RMLEAttack,
    build_decoder,
    reconstruction_metrics,
    total_variation,
)
from sift_torch.attacks.results import ssim_sigma  # noqa: E402


@pytest.fixture(scope="module")
def digits16():
    """scikit-learn's 8x8 digits scaled to [0, 1] and upsampled to 16x16 (real data, no download)."""
    datasets = pytest.importorskip("sklearn.datasets")
    x = torch.tensor(datasets.load_digits().images / 16.0, dtype=torch.float32)[:, None]
    return F.interpolate(x, size=(16, 16), mode="bilinear", align_corners=False).clamp(0, 1)


class Constant(nn.Module):
    """Features that carry nothing about x."""

    def forward(self, x):
        return torch.zeros(x.shape[0], 4, 8, 8, device=x.device)


class PureNoise(nn.Module):
    """Fresh noise on every call, independent of x (a stochastic edge that leaks nothing)."""

    def forward(self, x):
        return torch.randn(x.shape[0], 4, 8, 8, device=x.device)


def seeded(module, seed=0):
    torch.manual_seed(seed)
    return module()


def invertible_conv():
    return seeded(lambda: nn.Conv2d(1, 4, 3, padding=1))


# ---------------------------------------------------------------------------- decoder sizing
@pytest.mark.parametrize(
    "feature_shape, image_shape",
    [
        ((12, 8, 8), (1, 28, 28)),  # 8 -> 16 -> 32, resized down to 28
        ((128, 7, 7), (1, 28, 28)),  # 7 -> 14 -> 28 exactly
        ((16, 4, 4), (3, 25, 25)),  # odd target
        ((4, 40, 40), (1, 16, 16)),  # features larger than the image
        ((3, 32, 32), (3, 32, 32)),  # same size
        ((64,), (1, 28, 28)),  # flat features
        ((5, 7), (3, 64, 64)),  # other ranks are flattened
    ],
)
def test_decoder_outputs_exact_image_shape_in_unit_range(feature_shape, image_shape):
    torch.manual_seed(0)
    dec = build_decoder(feature_shape, image_shape, width=16, min_width=8).eval()
    with torch.no_grad():
        out = dec(torch.randn(3, *feature_shape))
    assert tuple(out.shape) == (3, *image_shape)
    assert float(out.min()) > 0 and float(out.max()) < 1  # sigmoid output


def test_decoder_uses_transposed_convolutions_batchnorm_and_sigmoid():
    dec = build_decoder((12, 8, 8), (1, 32, 32), width=32)
    kinds = {type(m) for m in dec.modules()}
    assert {nn.ConvTranspose2d, nn.BatchNorm2d, nn.Sigmoid} <= kinds
    strided = [m for m in dec.modules() if isinstance(m, nn.ConvTranspose2d) and m.stride == (2, 2)]
    assert len(strided) == 2  # 8 -> 16 -> 32


# ---------------------------------------------------------------------------- inverse network
@pytest.mark.parametrize("shapes", [(32, 32, 28, 28), (16, 16, 28, 28), (64, 48, 60, 50), (7, 9, 5, 13)])
def test_decoder_resize_is_the_antialiased_bilinear_interpolation(shapes):
    # the decoder applies the resize as two matrix products; reference: torch's own kernel
    from sift_torch.attacks.decoder import _Resize

    h_in, w_in, h_out, w_out = shapes
    x = torch.rand(3, 4, h_in, w_in, generator=torch.Generator().manual_seed(0), requires_grad=True)
    got = _Resize((h_out, w_out))(x)
    want = torch.nn.functional.interpolate(x, size=(h_out, w_out), mode="bilinear", align_corners=False,
                                           antialias=True)
    weight = torch.rand(got.shape, generator=torch.Generator().manual_seed(1))
    g_got, = torch.autograd.grad((got * weight).sum(), x)
    g_want, = torch.autograd.grad((want * weight).sum(), x)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)  # measured: at most 4e-6
    torch.testing.assert_close(g_got, g_want, rtol=0, atol=1e-5)


def test_inverse_network_reconstructs_from_invertible_edge_and_fails_on_uninformative_ones(digits16):
    # Measured over seeds 0-2 with these settings: SSIM 0.985-0.986 (invertible), 0.03 (constant),
    # 0.14-0.19 (noise); MSE 0.0014-0.0017, 0.076-0.078, 0.058-0.059.
    aux, private = digits16[:500], digits16[1500:1600]
    kw = dict(image_shape=(1, 16, 16), epochs=4, width=16, min_width=16, seed=0, progress=False)
    good = InverseNetworkAttack(invertible_conv(), **kw).fit(aux).evaluate(private)
    const = InverseNetworkAttack(Constant(), **kw).fit(aux).evaluate(private)
    noise = InverseNetworkAttack(PureNoise(), **kw).fit(aux).evaluate(private)
    assert good.mean_ssim > 0.9 and good.mean_mse < 0.005
    # Without information the best decoder outputs about the mean digit: structure is lost.
    for bad in (const, noise):
        assert bad.mean_ssim < 0.35
        assert bad.mean_mse > 10 * good.mean_mse


def test_decoder_batchnorm_statistics_match_the_final_weights(digits16):
    # After a short run at lr 0.01 the momentum-averaged BatchNorm statistics trail the weights;
    # fit() recomputes them, so the eval-mode decoder is as good on the auxiliary data as training said.
    aux = digits16[:300]
    attack = InverseNetworkAttack(invertible_conv(), image_shape=(1, 16, 16), epochs=3, width=16, min_width=16,
                                  seed=1, progress=False).fit(aux)
    eval_mse = attack.evaluate(aux).mean_mse
    assert eval_mse < 1.5 * attack.history[-1]


def test_inverse_network_on_flat_features_and_reproducible(digits16):
    aux, private = digits16[:300], digits16[1500:1520]

    def make():
        edge = seeded(lambda: nn.Sequential(nn.Flatten(), nn.Linear(256, 48), nn.ReLU()))
        return InverseNetworkAttack(edge, image_shape=(1, 16, 16), epochs=2, width=16, min_width=8, seed=3,
                                    progress=False).fit(aux)

    a, b = make(), make()
    assert len(a.history) == 2 and a.history[1] < a.history[0]
    ra, rb = a.evaluate(private), b.evaluate(private)
    np.testing.assert_array_equal(ra.reconstructions, rb.reconstructions)
    assert ra.reconstructions.shape == (20, 1, 16, 16)


def test_default_adam_settings_follow_the_paper(digits16):
    attack = InverseNetworkAttack(invertible_conv(), image_shape=(1, 16, 16))
    assert attack.lr == 0.01 and attack.betas == (0.5, 0.999)


def test_reconstruct_before_fit_raises():
    attack = InverseNetworkAttack(invertible_conv(), image_shape=(1, 16, 16), progress=False)
    with pytest.raises(RuntimeError, match="fit"):
        attack.reconstruct(torch.zeros(2, 4, 16, 16))


# ---------------------------------------------------------------------------- rMLE
def orthogonal_linear_edge(d=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=g))
    lin = nn.Linear(d, d, bias=False)
    with torch.no_grad():
        lin.weight.copy_(q)
    return nn.Sequential(nn.Flatten(), lin)


def test_rmle_recovers_input_of_invertible_linear_edge(digits16):
    private = digits16[1500:1508]
    attack = RMLEAttack(orthogonal_linear_edge(), steps=150, tv_weight=0.0, progress=False)
    result = attack.evaluate(private)
    assert result.mean_mse < 1e-3
    assert result.mean_ssim > 0.97
    assert attack.history[-1] < 1e-2 * attack.history[0]


@pytest.mark.parametrize("parametrization", ["clamp", "sigmoid"])
def test_rmle_total_variation_removes_noise_left_in_the_null_space(digits16, parametrization):
    # 2x2 average pooling keeps a quarter of the information; without a prior the initial noise
    # survives in its null space, and TV suppresses it.
    private = digits16[1500:1508]
    kw = dict(steps=200, parametrization=parametrization, seed=1, progress=False)
    plain = RMLEAttack(nn.AvgPool2d(2), tv_weight=0.0, **kw).evaluate(private)
    smooth = RMLEAttack(nn.AvgPool2d(2), tv_weight=0.05, **kw).evaluate(private)
    tv = lambda r: float(total_variation(torch.from_numpy(r.reconstructions)).mean())  # noqa: E731
    assert tv(smooth) < 0.7 * tv(plain)
    assert smooth.mean_mse < 0.5 * plain.mean_mse
    assert smooth.mean_ssim > plain.mean_ssim + 0.05


def test_rmle_result_does_not_depend_on_batching_and_is_seeded(digits16):
    private = digits16[1500:1507]
    edge = seeded(lambda: nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.ReLU()))
    with torch.no_grad():
        z = edge(private)
    kw = dict(image_shape=(1, 16, 16), steps=30, progress=False)
    whole = RMLEAttack(edge, batch_size=64, seed=5, **kw).reconstruct(z)
    split = RMLEAttack(edge, batch_size=3, seed=5, **kw).reconstruct(z)
    other = RMLEAttack(edge, batch_size=64, seed=6, **kw).reconstruct(z)
    torch.testing.assert_close(whole, split, atol=1e-5, rtol=0)
    assert float((whole - other).abs().max()) > 1e-2
    assert float(whole.min()) >= 0 and float(whole.max()) <= 1


def test_total_variation_matches_plain_formula():
    x = torch.rand(2, 3, 5, 4, generator=torch.Generator().manual_seed(0))
    expected = []
    for img in x.numpy():
        dh = np.abs(np.diff(img, axis=1)).mean()
        dw = np.abs(np.diff(img, axis=2)).mean()
        expected.append(dh + dw)
    np.testing.assert_allclose(total_variation(x).numpy(), expected, rtol=1e-6)
    assert float(total_variation(torch.ones(1, 1, 4, 4))[0]) == 0.0
    assert total_variation(torch.rand(1, 1, 1, 5)).shape == (1,)  # a direction of length 1 adds 0


# ---------------------------------------------------------------------------- the edge stays untouched
class Stochastic(nn.Module):
    """BatchNorm, dropout, and noise that acts only in training: what eval mode must switch off."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.5))

    def forward(self, x):
        z = self.body(x)
        return z + torch.randn_like(z) if self.training else z


@pytest.mark.parametrize("which", ["inverse_network", "rmle"])
def test_attacks_leave_edge_mode_parameters_and_statistics_unchanged(digits16, which):
    torch.manual_seed(0)
    edge = Stochastic().train()
    frozen_param = edge.body[0].bias
    frozen_param.requires_grad_(False)  # a user's choice that must survive too
    before = {k: v.clone() for k, v in edge.state_dict().items()}
    if which == "inverse_network":
        attack = InverseNetworkAttack(edge, image_shape=(1, 16, 16), epochs=1, width=8, min_width=8, progress=False)
        attack.fit(digits16[:64]).evaluate(digits16[100:110])
    else:
        RMLEAttack(edge, steps=5, progress=False).evaluate(digits16[100:110])
    after = edge.state_dict()
    for k, v in before.items():
        torch.testing.assert_close(after[k], v, rtol=0, atol=0, msg=f"{k} changed")
    assert all(m.training for m in edge.modules())
    assert all(p.grad is None for p in edge.parameters())
    assert not frozen_param.requires_grad
    assert edge.body[0].weight.requires_grad


def test_attacks_query_the_edge_in_eval_mode(digits16):
    # In eval mode this edge is deterministic, so rMLE sees a consistent target and converges.
    torch.manual_seed(0)
    edge = Stochastic().train()
    attack = RMLEAttack(edge, steps=60, tv_weight=0.0, progress=False)
    attack.evaluate(digits16[100:104])
    assert attack.history[-1] < 0.2 * attack.history[0]


# ---------------------------------------------------------------------------- metrics and results
def test_attack_result_metrics_agree_with_sift_core_and_skimage(digits16):
    from sift_core import metrics

    skm = pytest.importorskip("skimage.metrics")
    a = digits16[:5].numpy().astype(np.float64)
    b = np.clip(a + 0.1 * np.random.default_rng(0).standard_normal(a.shape), 0, 1)
    result = AttackResult.from_images("rmle", a, b)
    np.testing.assert_allclose(result.mse, metrics.mse(a, b))
    np.testing.assert_allclose(result.mse, ((a - b) ** 2).reshape(5, -1).mean(1))
    np.testing.assert_allclose(result.psnr, metrics.psnr(a, b, data_range=1.0))
    np.testing.assert_allclose(result.psnr, 10 * np.log10(1.0 / result.mse))
    np.testing.assert_allclose(result.ssim, metrics.ssim(a, b, data_range=1.0))
    reference = [
        skm.structural_similarity(a[i, 0], b[i, 0], data_range=1.0, gaussian_weights=True, sigma=1.5,
                                  use_sample_covariance=False)
        for i in range(5)
    ]
    np.testing.assert_allclose(result.ssim, reference, atol=1e-6)
    d = result.to_dict()
    assert d["mse"] == pytest.approx(result.mse.mean()) and d["ssim"] == pytest.approx(np.mean(reference))
    assert all(isinstance(v, float) for k, v in d.items() if k not in ("attack", "n"))
    assert d["n"] == 5 and d["attack"] == "rmle"


def test_small_images_get_a_fitting_ssim_window():
    assert ssim_sigma(28, 28) == 1.5
    sigma = ssim_sigma(8, 8)
    assert 2 * int(3.5 * sigma + 0.5) + 1 <= 8
    a = np.random.default_rng(0).random((3, 1, 8, 8))
    m = reconstruction_metrics(a, a)
    np.testing.assert_allclose(m["ssim"], 1.0)
    assert np.all(np.isinf(m["psnr"])) and np.all(m["mse"] == 0)


# ---------------------------------------------------------------------------- input validation
def test_inputs_are_validated_with_the_argument_named(digits16):
    edge = invertible_conv()
    with pytest.raises(TypeError, match="edge"):
        InverseNetworkAttack(lambda x: x, image_shape=(1, 16, 16))
    with pytest.raises(ValueError, match="image_shape"):
        InverseNetworkAttack(edge, image_shape=(16, 16))
    with pytest.raises(ValueError, match="epochs"):
        InverseNetworkAttack(edge, image_shape=(1, 16, 16), epochs=0)
    with pytest.raises(ValueError, match="lr"):
        RMLEAttack(edge, lr=-1.0)
    with pytest.raises(ValueError, match="parametrization"):
        RMLEAttack(edge, parametrization="tanh")
    attack = InverseNetworkAttack(edge, image_shape=(1, 16, 16), progress=False)
    with pytest.raises(ValueError, match=r"aux_x must lie in \[0, 1\]"):
        attack.fit(digits16[:10] * 2)
    with pytest.raises(ValueError, match="aux_x must have images of shape"):
        attack.fit(digits16[:10, :, :8])
    with pytest.raises(ValueError, match="private_x contains NaN"):
        RMLEAttack(edge, progress=False).evaluate(torch.full((2, 1, 16, 16), float("nan")))
    with pytest.raises(ValueError, match="image_shape"):
        RMLEAttack(edge, progress=False).reconstruct(torch.zeros(2, 4, 16, 16))
    with pytest.raises(ValueError, match="z must have the edge's output shape"):
        RMLEAttack(edge, image_shape=(1, 16, 16), steps=1, progress=False).reconstruct(torch.zeros(2, 4, 8, 8))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_attacks_follow_the_edge_to_cuda(digits16):
    edge = invertible_conv().cuda()
    inv = InverseNetworkAttack(edge, image_shape=(1, 16, 16), epochs=1, width=8, progress=False).fit(digits16[:64])
    assert next(inv.decoder.parameters()).is_cuda
    assert inv.evaluate(digits16[100:104]).n == 4
    rm = RMLEAttack(edge, steps=3, progress=False)
    assert rm.device.type == "cuda" and rm.evaluate(digits16[100:104]).n == 4


# ---------------------------------------------------------------------------- PNG grids
def _read_png(path):
    image = pytest.importorskip("matplotlib.image")
    with open(path, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    return image.imread(path)


def test_grid_png_is_originals_over_reconstructions(tmp_path, digits16):
    from sift_torch.viz import grid_image, save_reconstruction_grid

    originals, recon = digits16[:6], 1 - digits16[:6]
    path = save_reconstruction_grid(tmp_path / "sub" / "grid.png", originals, recon, n=5, scale=2, pad=3)
    png = _read_png(path)
    # 2 rows of 16*2 px and 5 columns of 16*2 px, with 3 px of padding around every cell.
    assert png.shape[:2] == (2 * 32 + 3 * 3, 5 * 32 + 6 * 3)
    expected = grid_image(originals, recon, n=5, scale=2, pad=3)
    np.testing.assert_allclose(png[..., :3], expected, atol=1 / 255)
    top_left = np.repeat(np.repeat(originals[0, 0].numpy(), 2, 0), 2, 1)
    np.testing.assert_allclose(png[3:35, 3:35, 0], top_left, atol=1 / 255)
    np.testing.assert_allclose(png[38:70, 3:35, 0], 1 - top_left, atol=1 / 255)


def test_multi_row_grid_with_labels(tmp_path, digits16):
    from sift_torch.viz import grid_image, save_reconstruction_grid

    rows = {"none": digits16[:4], "siftfunnel": digits16[4:8], "noise": digits16[8:12]}
    path = save_reconstruction_grid(tmp_path / "defences.png", digits16[:4], rows, label_width=50)
    png = _read_png(path)
    grid = grid_image(digits16[:4], rows)
    assert grid.shape[0] == 4 * 64 + 5 * 2  # originals + 3 rows, cells 64 px by default
    assert png.shape[:2] == (grid.shape[0], grid.shape[1] + 50)
    np.testing.assert_allclose(png[:, 50:, :3], grid, atol=1 / 255)
    with pytest.raises(ValueError, match="reconstructions 'none'"):
        save_reconstruction_grid(tmp_path / "bad.png", digits16[:4], {"none": digits16[:3]})
    assert not (tmp_path / "bad.png").exists()


def test_attack_result_saves_its_grid(tmp_path, digits16):
    result = AttackResult.from_images("inverse_network", digits16[:3], digits16[3:6])
    png = _read_png(result.save_grid(tmp_path / "r.png", n=3, scale=1, labels=False))
    assert png.shape[:2] == (2 * 16 + 3 * 2, 3 * 16 + 4 * 2)
    labelled = _read_png(result.save_grid(tmp_path / "l.png", n=3, scale=1))
    assert labelled.shape[0] == png.shape[0] and labelled.shape[1] > png.shape[1]
