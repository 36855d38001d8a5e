"""sift_core.metrics against scikit-image, closed forms, and across numpy / torch / TensorFlow."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sift_core import metrics

skm = pytest.importorskip("skimage.metrics")
skdata = pytest.importorskip("skimage.data")
sktransform = pytest.importorskip("skimage.transform")

TOL = 1e-4


def sk_ssim(a, b, data_range, channel_axis=None):
    return skm.structural_similarity(a, b, data_range=data_range, gaussian_weights=True, sigma=1.5,
                                     use_sample_covariance=False, channel_axis=channel_axis)


def noisy(rng, a, scale, lo=0.0, hi=1.0):
    return np.clip(a + scale * rng.standard_normal(a.shape), lo, hi)


@pytest.fixture(scope="module")
def camera():
    """skimage's camera, downsized to 64 x 64, floats in [0, 1]."""
    return sktransform.resize(skdata.camera(), (64, 64), anti_aliasing=True)


@pytest.fixture(scope="module")
def astronaut():
    """skimage's astronaut (colour), downsized to 48 x 56 x 3."""
    return sktransform.resize(skdata.astronaut(), (48, 56), anti_aliasing=True)


# ---------------------------------------------------------------- SSIM vs skimage


@pytest.mark.parametrize("channels", [1, 3])
def test_ssim_random_nchw_matches_skimage(channels):
    rng = np.random.default_rng(0)
    a = rng.random((4, channels, 23, 31))
    b = noisy(rng, a, 0.3)
    ours = metrics.ssim(a, b, data_range=1.0)
    ref = [sk_ssim(a[i], b[i], 1.0, channel_axis=0) for i in range(4)] if channels > 1 else \
        [sk_ssim(a[i, 0], b[i, 0], 1.0) for i in range(4)]
    assert ours.shape == (4,)
    np.testing.assert_allclose(ours, ref, atol=TOL, rtol=0)


def test_ssim_random_nhwc_matches_skimage_and_nchw():
    rng = np.random.default_rng(1)
    a = rng.random((3, 20, 17, 3))
    b = noisy(rng, a, 0.1)
    ours = metrics.ssim(a, b, data_range=1.0, channels_last=True)
    ref = [sk_ssim(a[i], b[i], 1.0, channel_axis=-1) for i in range(3)]
    np.testing.assert_allclose(ours, ref, atol=TOL, rtol=0)
    nchw = metrics.ssim(a.transpose(0, 3, 1, 2), b.transpose(0, 3, 1, 2), data_range=1.0)
    np.testing.assert_allclose(ours, nchw, atol=1e-12)


def test_ssim_natural_grayscale_matches_skimage(camera):
    rng = np.random.default_rng(2)
    distorted = [noisy(rng, camera, 0.05), camera ** 1.5, np.roll(camera, 2, axis=1), 0.5 * camera + 0.2]
    a = np.stack([camera] * 4)[:, None]
    b = np.stack(distorted)[:, None]
    ours = metrics.ssim(a, b, data_range=1.0)
    ref = [sk_ssim(camera, d, 1.0) for d in distorted]
    np.testing.assert_allclose(ours, ref, atol=TOL, rtol=0)
    assert len(set(np.round(ref, 3))) == 4  # the distortions really differ


def test_ssim_natural_colour_matches_skimage(astronaut):
    rng = np.random.default_rng(3)
    b = noisy(rng, astronaut, 0.08)
    ref = sk_ssim(astronaut, b, 1.0, channel_axis=-1)
    ours_last = metrics.ssim(astronaut[None], b[None], data_range=1.0, channels_last=True)
    ours_first = metrics.ssim(astronaut.transpose(2, 0, 1)[None], b.transpose(2, 0, 1)[None], data_range=1.0)
    assert abs(ours_last[0] - ref) < TOL
    assert abs(ours_first[0] - ref) < TOL


def test_ssim_uint8_with_range_255_matches_skimage(camera):
    rng = np.random.default_rng(4)
    a = (camera * 255).astype(np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-20, 21, a.shape), 0, 255).astype(np.uint8)
    ours = metrics.ssim(a[None, None], b[None, None], data_range=255)
    assert abs(ours[0] - sk_ssim(a, b, 255)) < TOL


def test_ssim_small_sigma_matches_skimage_on_small_images():
    rng = np.random.default_rng(5)
    a = rng.random((2, 1, 8, 8))
    b = noisy(rng, a, 0.2)
    ours = metrics.ssim(a, b, data_range=1.0, sigma=0.8)
    ref = [skm.structural_similarity(a[i, 0], b[i, 0], data_range=1.0, gaussian_weights=True, sigma=0.8,
                                     use_sample_covariance=False) for i in range(2)]
    np.testing.assert_allclose(ours, ref, atol=TOL, rtol=0)


def test_gaussian_window_is_the_11_tap_normalised_gaussian():
    w = metrics.gaussian_window(1.5)
    t = np.arange(-5, 6)
    expected = np.exp(-t**2 / 4.5)
    np.testing.assert_allclose(w, expected / expected.sum(), rtol=1e-12)


def test_ssim_identity_symmetry_and_reduction():
    rng = np.random.default_rng(6)
    a = rng.random((3, 2, 16, 16))
    b = noisy(rng, a, 0.2)
    np.testing.assert_allclose(metrics.ssim(a, a, data_range=1.0), 1.0, atol=1e-12)
    np.testing.assert_allclose(metrics.ssim(a, b, data_range=1.0), metrics.ssim(b, a, data_range=1.0), atol=1e-12)
    per = metrics.ssim(a, b, data_range=1.0)
    assert metrics.ssim(a, b, data_range=1.0, reduction="mean") == pytest.approx(per.mean(), abs=1e-12)
    assert metrics.ssim(a, b, data_range=1.0, reduction="sum") == pytest.approx(per.sum(), abs=1e-12)


@settings(deadline=None, max_examples=25)
@given(h=st.integers(11, 20), w=st.integers(11, 20), c=st.integers(1, 3), seed=st.integers(0, 2**16),
       scale=st.floats(0.01, 1.0))
def test_ssim_bounded_and_matches_skimage_property(h, w, c, seed, scale):
    rng = np.random.default_rng(seed)
    a = rng.random((1, c, h, w))
    b = noisy(rng, a, scale)
    ours = metrics.ssim(a, b, data_range=1.0)[0]
    assert -1.0 <= ours <= 1.0
    ref = sk_ssim(a[0], b[0], 1.0, channel_axis=0) if c > 1 else sk_ssim(a[0, 0], b[0, 0], 1.0)
    assert abs(ours - ref) < TOL


# ---------------------------------------------------------------- MSE, PSNR, cosine


def test_mse_and_psnr_closed_forms():
    rng = np.random.default_rng(7)
    a = rng.random((5, 3, 8, 8))
    shifts = np.array([0.5, 0.1, 0.02, 0.3, 0.05])
    b = a + shifts[:, None, None, None]
    np.testing.assert_allclose(metrics.mse(a, b), shifts**2, rtol=1e-12)
    np.testing.assert_allclose(metrics.psnr(a, b, data_range=1.0), -20 * np.log10(shifts), rtol=1e-12)
    np.testing.assert_allclose(metrics.psnr(a, b, data_range=255.0), 20 * np.log10(255 / shifts), rtol=1e-12)


def test_psnr_matches_skimage_per_image_and_mean_is_of_per_image_values():
    rng = np.random.default_rng(8)
    a = rng.random((4, 1, 12, 12))
    b = noisy(rng, a, 0.1)
    ref = np.array([skm.peak_signal_noise_ratio(a[i], b[i], data_range=1.0) for i in range(4)])
    np.testing.assert_allclose(metrics.psnr(a, b, data_range=1.0), ref, rtol=1e-10)
    assert metrics.psnr(a, b, data_range=1.0, reduction="mean") == pytest.approx(ref.mean(), rel=1e-10)


def test_psnr_identical_images_is_inf_or_capped_never_nan():
    rng = np.random.default_rng(9)
    a = rng.random((3, 1, 4, 4))
    b = a.copy()
    b[1] += 0.1
    v = metrics.psnr(a, b, data_range=1.0)
    assert v[0] == math.inf and v[2] == math.inf and v[1] == pytest.approx(20.0)
    capped = metrics.psnr(a, b, data_range=1.0, max_db=60.0)
    np.testing.assert_allclose(capped, [60.0, 20.0, 60.0], rtol=1e-12)
    assert metrics.psnr(a, b, data_range=1.0, max_db=60.0, reduction="mean") == pytest.approx(140.0 / 3)


def test_cosine_similarity_closed_form_and_zero_convention():
    rng = np.random.default_rng(10)
    a = rng.standard_normal((4, 2, 3, 3))
    b = rng.standard_normal((4, 2, 3, 3))
    fa, fb = a.reshape(4, -1), b.reshape(4, -1)
    ref = np.sum(fa * fb, 1) / np.linalg.norm(fa, axis=1) / np.linalg.norm(fb, axis=1)
    np.testing.assert_allclose(metrics.cosine_similarity(a, b), ref, rtol=1e-12)
    np.testing.assert_allclose(metrics.cosine_similarity(a, 3.0 * a), 1.0, rtol=1e-12)
    np.testing.assert_allclose(metrics.cosine_similarity(a, -a), -1.0, rtol=1e-12)
    b[2] = 0.0
    assert metrics.cosine_similarity(a, b)[2] == 0.0
    assert metrics.cosine_similarity(np.zeros((1, 4)), np.zeros((1, 4)))[0] == 0.0


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda a: metrics.ssim(a, a[:, :, :12], data_range=1.0), "same shape"),
        (lambda a: metrics.ssim(a, a, data_range=0.0), "data_range"),
        (lambda a: metrics.ssim(a, a, data_range=-1.0), "data_range"),
        (lambda a: metrics.ssim(a[0], a[0], data_range=1.0), "at least 4 dimensions"),
        (lambda a: metrics.ssim(a[:, :, :8, :8], a[:, :, :8, :8], data_range=1.0), "sigma"),
        (lambda a: metrics.ssim(a, a, data_range=1.0, reduction="max"), "reduction"),
        (lambda a: metrics.psnr(a, a, data_range=float("inf")), "data_range"),
        (lambda a: metrics.psnr(a, a, data_range=1.0, max_db=float("nan")), "max_db"),
        (lambda a: metrics.mse(a[:, 0, 0, 0], a[:, 0, 0, 0]), "at least 2 dimensions"),
        (lambda a: metrics.mse(np.where(a > 0.5, np.nan, a), a), "a contains NaN"),
        (lambda a: metrics.cosine_similarity(a, np.where(a > 0.5, np.inf, a)), "b contains NaN"),
    ],
)
def test_bad_input_names_the_argument(call, match):
    a = np.random.default_rng(11).random((2, 1, 16, 16))
    with pytest.raises(ValueError, match=match):
        call(a)


def test_bad_types():
    a = np.ones((2, 1, 16, 16))
    with pytest.raises(TypeError, match="channels_last"):
        metrics.mse(a, a, channels_last=1)
    with pytest.raises(TypeError, match="data_range"):
        metrics.ssim(a, a, data_range="1")
    with pytest.raises(TypeError, match="a:"):
        metrics.mse(a.astype(complex), a)


# ---------------------------------------------------------------- torch / TensorFlow parity and gradients


def _pair(seed=12, shape=(3, 2, 16, 18)):
    rng = np.random.default_rng(seed)
    a = rng.random(shape)
    return a, noisy(rng, a, 0.15)


@pytest.mark.parametrize("name", ["mse", "psnr", "ssim", "cosine_similarity"])
def test_torch_parity_and_finite_gradients(name):
    torch = pytest.importorskip("torch")
    a, b = _pair()
    b[0] = a[0]  # an exact reconstruction: PSNR inf, gradients must stay finite
    kw = {"data_range": 1.0} if name in ("psnr", "ssim") else {}
    fn = getattr(metrics, name)
    ref = fn(a, b, **kw)
    for dtype, tol in ((torch.float64, 1e-10), (torch.float32, 1e-4)):
        ta = torch.tensor(a, dtype=dtype)
        tb = torch.tensor(b, dtype=dtype, requires_grad=True)
        out = fn(ta, tb, **kw)
        assert out.dtype == dtype and out.shape == (3,)
        got = out.detach().double().numpy()
        finite = np.isfinite(ref)
        np.testing.assert_allclose(got[finite], ref[finite], rtol=tol, atol=tol)
        assert np.array_equal(np.isinf(got), np.isinf(ref))
        loss = torch.where(torch.isfinite(out), out, torch.zeros_like(out)).sum()
        loss.backward()
        assert torch.isfinite(tb.grad).all() and tb.grad.abs().sum() > 0


def test_torch_ssim_as_a_loss_improves_a_reconstruction():
    torch = pytest.importorskip("torch")
    a, b = _pair(seed=13)
    target = torch.tensor(a)
    recon = torch.tensor(b, requires_grad=True)
    opt = torch.optim.Adam([recon], lr=0.02)
    before = float(metrics.ssim(target, recon.detach(), data_range=1.0, reduction="mean"))
    for _ in range(10):
        opt.zero_grad()
        loss = 1.0 - metrics.ssim(target, recon, data_range=1.0, reduction="mean")
        loss.backward()
        opt.step()
    after = float(metrics.ssim(target, recon.detach(), data_range=1.0, reduction="mean"))
    assert after > before + 0.05


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("name", ["mse", "psnr", "ssim", "cosine_similarity"])
def test_tensorflow_parity_and_finite_gradients(name, channels_last):
    tf = pytest.importorskip("tensorflow")
    a, b = _pair(seed=14)
    if channels_last:
        a, b = a.transpose(0, 2, 3, 1), b.transpose(0, 2, 3, 1)
    kw = {"data_range": 1.0, "channels_last": channels_last} if name in ("psnr", "ssim") else {}
    fn = getattr(metrics, name)
    ref = fn(a, b, **kw)
    for dtype, tol in ((tf.float64, 1e-10), (tf.float32, 1e-4)):
        ta = tf.constant(a, dtype=dtype)
        tb = tf.Variable(tf.constant(b, dtype=dtype))
        with tf.GradientTape() as tape:
            out = fn(ta, tb, **kw)
            loss = tf.reduce_sum(out)
        assert out.dtype == dtype and tuple(out.shape) == (3,)
        np.testing.assert_allclose(out.numpy().astype(np.float64), ref, rtol=tol, atol=tol)
        grad = tape.gradient(loss, tb)
        assert bool(tf.reduce_all(tf.math.is_finite(grad))) and float(tf.reduce_sum(tf.abs(grad))) > 0


def _tv_plain(x):
    """Total variation by explicit loops over pixels (NCHW)."""
    n, c, h, w = x.shape
    out = np.zeros(n)
    for i in range(n):
        dh = [abs(x[i, k, a + 1, b] - x[i, k, a, b]) for k in range(c) for a in range(h - 1) for b in range(w)]
        dw = [abs(x[i, k, a, b + 1] - x[i, k, a, b]) for k in range(c) for a in range(h) for b in range(w - 1)]
        out[i] = (np.mean(dh) if dh else 0.0) + (np.mean(dw) if dw else 0.0)
    return out


@settings(deadline=None, max_examples=25)
@given(st.integers(1, 3), st.integers(1, 2), st.integers(1, 6), st.integers(1, 6), st.integers(0, 2**16))
def test_total_variation_matches_plain_loops_in_both_layouts(n, c, h, w, seed):
    x = np.random.default_rng(seed).random((n, c, h, w))
    expected = _tv_plain(x)
    np.testing.assert_allclose(metrics.total_variation(x), expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(metrics.total_variation(x.transpose(0, 2, 3, 1), channels_last=True), expected,
                               rtol=1e-12, atol=1e-15)
    assert metrics.total_variation(x, reduction="mean") == pytest.approx(expected.mean())


def test_total_variation_of_constant_images_is_zero_and_bad_input_is_named():
    np.testing.assert_array_equal(metrics.total_variation(np.full((2, 3, 4, 5), 0.3)), 0.0)
    with pytest.raises(ValueError, match="x must be a batch"):
        metrics.total_variation(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="reduction"):
        metrics.total_variation(np.zeros((1, 1, 4, 4)), reduction="max")
    with pytest.raises(ValueError, match="x"):
        metrics.total_variation(np.full((1, 1, 2, 2), np.nan))


def test_total_variation_torch_parity_and_gradient():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(3).random((2, 3, 5, 4))
    t = torch.tensor(x, requires_grad=True)
    tv = metrics.total_variation(t)
    np.testing.assert_allclose(tv.detach().numpy(), _tv_plain(x), rtol=1e-12)
    tv.sum().backward()
    assert torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0


@pytest.mark.parametrize("scale", [1e-200, 1e-90, 255.0, 1e90, 1e200])
def test_psnr_and_ssim_are_scale_free_even_at_extreme_scales(scale):
    # the images and data_range scaled together: the same values, never NaN or an overflow
    a = np.random.default_rng(0).random((2, 1, 12, 12))
    b = np.clip(a + 0.1 * np.random.default_rng(1).standard_normal(a.shape), 0, 1)
    want_psnr = metrics.psnr(a, b, data_range=1.0)
    want_ssim = metrics.ssim(a, b, data_range=1.0)
    np.testing.assert_allclose(metrics.psnr(a * scale, b * scale, data_range=scale), want_psnr, rtol=1e-9)
    np.testing.assert_allclose(metrics.ssim(a * scale, b * scale, data_range=scale), want_ssim, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(metrics.psnr(a, a + 0.1, data_range=1.0), 20.0, rtol=1e-9)  # closed form
