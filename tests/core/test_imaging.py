"""sift_core.imaging: reconstruction grids against their documented geometry, and their PNGs."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sift_core import imaging
from sift_core.attack_result import AttackResultBase


def batch(rng, n, c, h, w):
    return rng.random((n, c, h, w))


def cell(grid, r, j, *, h, w, scale, pad):
    """The cell of row r, column j, located by the documented offsets."""
    y0, x0 = pad + r * (h * scale + pad), pad + j * (w * scale + pad)
    return grid[y0 : y0 + h * scale, x0 : x0 + w * scale]


def upscaled_rgb(img_chw, scale):
    """Nearest-neighbour magnification by a Kronecker product, grey repeated over RGB."""
    planes = [np.kron(p, np.ones((scale, scale))) for p in img_chw]
    if len(planes) == 1:
        planes = planes * 3
    return np.stack(planes, axis=-1)


@settings(deadline=None, max_examples=30)
@given(
    n_img=st.integers(1, 5), n=st.integers(1, 7), c=st.sampled_from([1, 3]), h=st.integers(1, 6),
    w=st.integers(1, 6), scale=st.integers(1, 3), pad=st.integers(0, 3), n_rows=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_grid_size_cells_and_white_padding(n_img, n, c, h, w, scale, pad, n_rows, seed):
    rng = np.random.default_rng(seed)
    originals = batch(rng, n_img, c, h, w)
    rows = [batch(rng, n_img, c, h, w) for _ in range(n_rows)]
    grid = imaging.grid_image(originals, rows, n=n, scale=scale, pad=pad)
    cols, total_rows = min(n, n_img), 1 + n_rows
    assert grid.shape == (total_rows * h * scale + (total_rows + 1) * pad, cols * w * scale + (cols + 1) * pad, 3)
    covered = np.zeros(grid.shape[:2], dtype=bool)
    for r, source in enumerate([originals, *rows]):
        for j in range(cols):
            np.testing.assert_array_equal(cell(grid, r, j, h=h, w=w, scale=scale, pad=pad),
                                          upscaled_rgb(source[j], scale))
            y0, x0 = pad + r * (h * scale + pad), pad + j * (w * scale + pad)
            covered[y0 : y0 + h * scale, x0 : x0 + w * scale] = True
    assert np.all(grid[~covered] == 1.0)  # white everywhere between and around the cells


def test_channels_last_gives_the_same_grid():
    rng = np.random.default_rng(1)
    for c in (1, 3):
        x, y, z = (batch(rng, 4, c, 5, 7) for _ in range(3))
        first = imaging.grid_image(x, {"a": y, "b": z}, n=3, scale=2, pad=1)
        last = imaging.grid_image(x.transpose(0, 2, 3, 1), {"a": y.transpose(0, 2, 3, 1), "b": z.transpose(0, 2, 3, 1)},
                                  n=3, scale=2, pad=1, channels_last=True)
        np.testing.assert_array_equal(first, last)


def test_one_batch_a_sequence_and_a_mapping_give_the_same_rows():
    rng = np.random.default_rng(2)
    x, y, z = (batch(rng, 3, 1, 4, 4) for _ in range(3))
    single = imaging.grid_image(x, y, scale=1)
    np.testing.assert_array_equal(single, imaging.grid_image(x, [y], scale=1))
    np.testing.assert_array_equal(imaging.grid_image(x, (y, z), scale=1),
                                  imaging.grid_image(x, {"y": y, "z": z}, scale=1))


def test_default_scale_values_are_clipped_and_n_is_capped():
    x = np.full((2, 1, 10, 3), 1.7)
    grid = imaging.grid_image(x, -x, n=50)
    scale = int(np.ceil(64 / 10))  # cells of about 64 px on the longer side
    assert grid.shape == (2 * 10 * scale + 3 * 2, 2 * 3 * scale + 3 * 2, 3)
    np.testing.assert_array_equal(cell(grid, 0, 1, h=10, w=3, scale=scale, pad=2), 1.0)
    np.testing.assert_array_equal(cell(grid, 1, 1, h=10, w=3, scale=scale, pad=2), 0.0)


NHWC = r"originals must have shape \(N, H, W, C\)"
ONE, THREE = np.zeros((2, 1, 4, 4)), np.zeros((2, 3, 4, 4))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"originals": np.zeros((2, 4, 4))}, ValueError, r"originals must have shape \(N, C, H, W\)"),
        ({"originals": np.zeros((2, 2, 4, 4))}, ValueError, "originals must have shape"),
        ({"originals": np.zeros((2, 4, 4, 2)), "channels_last": True}, ValueError, NHWC),
        ({"originals": np.zeros((0, 1, 4, 4))}, ValueError, "originals must hold at least one image"),
        ({"originals": np.full((2, 1, 4, 4), np.nan)}, ValueError, "originals contains NaN"),
        ({"originals": "not images"}, TypeError, "originals must be an array"),
        ({"reconstructions": {"none": ONE[:1]}}, ValueError, "reconstructions 'none' must have the shape"),
        ({"reconstructions": [ONE, np.zeros((2, 2, 4, 4))]}, ValueError, r"reconstructions\[1\] must"),
        ({"reconstructions": [ONE, THREE]}, ValueError, "reconstructions 'row 2'"),
        ({"reconstructions": {}}, ValueError, "reconstructions must hold at least one batch"),
        ({"n": 0}, ValueError, "n must be a positive integer"),
        ({"n": 2.0}, ValueError, "n must be a positive integer"),
        ({"scale": 0}, ValueError, "scale must be a positive integer"),
        ({"pad": -1}, ValueError, "pad must be a non-negative integer"),
        ({"channels_last": 1}, TypeError, "channels_last must be a bool"),
    ],
)
def test_bad_input_names_the_argument(kwargs, error, match):
    args = {"originals": np.zeros((2, 1, 4, 4)), "reconstructions": np.zeros((2, 1, 4, 4)), **kwargs}
    with pytest.raises(error, match=match):
        imaging.grid_image(args.pop("originals"), args.pop("reconstructions"), **args)


def test_import_needs_no_plotting_or_framework():
    code = ("import sys, sift_core, sift_core.imaging, sift_core.attack_result; "
            "print(sorted(m for m in ('matplotlib', 'torch', 'tensorflow', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------------------- PNG files
def _has_matplotlib() -> bool:
    try:
        import matplotlib.backends.backend_agg  # noqa: F401
    except ImportError:
        return False
    return True


#: the core's test environment has numpy and numba only: PNG writing needs matplotlib
needs_matplotlib = pytest.mark.skipif(not _has_matplotlib(), reason="matplotlib is not installed")


def read_png(path):
    image = pytest.importorskip("matplotlib.image")
    with open(path, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    return image.imread(path)


@needs_matplotlib
def test_png_holds_the_grid_pixel_for_pixel(tmp_path):
    rng = np.random.default_rng(3)
    x, y = batch(rng, 4, 3, 6, 5), batch(rng, 4, 3, 6, 5)
    path = imaging.save_reconstruction_grid(tmp_path / "sub" / "g.png", x, y, n=3, scale=2, pad=1)
    assert path == str(tmp_path / "sub" / "g.png")
    png = read_png(path)
    grid = imaging.grid_image(x, y, n=3, scale=2, pad=1)
    assert png.shape[:2] == grid.shape[:2]
    np.testing.assert_allclose(png[..., :3], grid, atol=1 / 255 + 1e-7)


@needs_matplotlib
def test_labelled_png_adds_a_left_margin_and_keeps_the_grid(tmp_path):
    rng = np.random.default_rng(4)
    x = batch(rng, 3, 1, 8, 8)
    rows = {"none": batch(rng, 3, 1, 8, 8), "siftfunnel": batch(rng, 3, 1, 8, 8)}
    grid = imaging.grid_image(x, rows, scale=3)
    png = read_png(imaging.save_reconstruction_grid(tmp_path / "l.png", x, rows, scale=3, label_width=40))
    assert png.shape[:2] == (grid.shape[0], grid.shape[1] + 40)
    np.testing.assert_allclose(png[:, 40:, :3], grid, atol=1 / 255 + 1e-7)
    assert np.any(png[:, :40, :3] < 0.5)  # the row names are drawn in the margin
    unlabelled = read_png(imaging.save_reconstruction_grid(tmp_path / "u.png", x, rows, scale=3, labels=False))
    assert unlabelled.shape[:2] == grid.shape[:2]


def test_save_grid_png_checks_before_writing(tmp_path):
    grid = np.ones((2 * 4 + 3 * 2, 10, 3))
    target = tmp_path / "g.png"
    with pytest.raises(ValueError, match="row_labels: 5 rows"):  # 12 px of rows do not split into 5 bands
        imaging.save_grid_png(target, grid, row_labels=["a", "b", "c", "d", "e"], pad=2)
    with pytest.raises(ValueError, match="row_labels: 0 rows"):
        imaging.save_grid_png(target, grid, row_labels=[], pad=2)
    with pytest.raises(TypeError, match="row_labels must be a sequence"):
        imaging.save_grid_png(target, grid, row_labels="ab")
    with pytest.raises(ValueError, match=r"image must have shape \(height, width, 3\)"):
        imaging.save_grid_png(target, grid[..., 0])
    with pytest.raises(ValueError, match=r"image must hold finite values in \[0, 1\]"):
        imaging.save_grid_png(target, grid * 2)
    with pytest.raises(ValueError, match="label_width must be a positive integer"):
        imaging.save_grid_png(target, grid, row_labels=["a", "b"], label_width=0)
    with pytest.raises(TypeError, match="path must be a str"):
        imaging.save_grid_png(3, grid)
    assert list(tmp_path.iterdir()) == []


@needs_matplotlib
def test_interrupted_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    mpl_image = pytest.importorskip("matplotlib.image")
    target = tmp_path / "g.png"
    target.write_bytes(b"previous")

    def failing_imsave(fname, *args, **kwargs):
        with open(fname, "wb") as fh:
            fh.write(b"\x89PNG half")
        raise KeyboardInterrupt

    monkeypatch.setattr(mpl_image, "imsave", failing_imsave)
    with pytest.raises(KeyboardInterrupt):
        imaging.save_grid_png(target, np.ones((4, 4, 3)))
    assert target.read_bytes() == b"previous"
    assert os.listdir(tmp_path) == ["g.png"]


# ---------------------------------------------------------------------------- attack results
@dataclasses.dataclass(frozen=True)
class FirstResult(AttackResultBase):
    attack: str
    mse: np.ndarray
    psnr: np.ndarray
    ssim: np.ndarray
    cosine: np.ndarray
    originals: np.ndarray
    reconstructions: np.ndarray


@dataclasses.dataclass(frozen=True)
class LastResult(AttackResultBase):
    attack: str
    mse: np.ndarray
    psnr: np.ndarray
    ssim: np.ndarray
    originals: np.ndarray
    reconstructions: np.ndarray

    _channels_last = True
    _per_image = ("mse", "psnr", "ssim")


@needs_matplotlib
def test_results_in_either_layout_agree_with_plain_formulas_and_grids(tmp_path):
    rng = np.random.default_rng(5)
    a = rng.random((4, 3, 12, 12))
    b = np.clip(a + 0.1 * rng.standard_normal(a.shape), 0, 1)
    first = FirstResult.from_images("rmle", a, b)
    last = LastResult.from_images("rmle", a.transpose(0, 2, 3, 1), b.transpose(0, 2, 3, 1))
    mse = ((a - b) ** 2).reshape(4, -1).mean(1)
    fa, fb = a.reshape(4, -1), b.reshape(4, -1)
    cos = (fa * fb).sum(1) / (np.linalg.norm(fa, axis=1) * np.linalg.norm(fb, axis=1))
    d = first.to_dict()
    assert list(d) == ["attack", "n", "mse", "psnr", "ssim", "cosine", "mse_std", "psnr_std", "ssim_std"]
    assert d["n"] == 4 and d["mse"] == pytest.approx(mse.mean()) and d["cosine"] == pytest.approx(cos.mean())
    assert d["psnr"] == pytest.approx(np.mean(10 * np.log10(1 / mse))) and d["mse_std"] == pytest.approx(mse.std())
    assert last.to_dict() == pytest.approx({k: v for k, v in d.items() if k != "cosine"})
    assert str(first) == str(last) == (f"rmle: n=4 MSE={mse.mean():.4f} PSNR={d['psnr']:.2f} dB SSIM={d['ssim']:.3f}")
    assert first.originals.dtype == np.float32 and last.originals.shape == (4, 12, 12, 3)
    np.testing.assert_array_equal(read_png(first.save_grid(tmp_path / "f.png", n=2, labels=False)),
                                  read_png(last.save_grid(tmp_path / "l.png", n=2, labels=False)))


def test_exact_reconstruction_reports_infinite_psnr_and_bad_attack_is_named():
    a = np.random.default_rng(6).random((3, 1, 8, 8))
    d = FirstResult.from_images("inverse_network", a, a).to_dict()
    assert d["mse"] == 0 and d["psnr"] == np.inf and d["psnr_std"] == np.inf and d["ssim"] == pytest.approx(1.0)
    with pytest.raises(TypeError, match="attack must be a str"):
        FirstResult.from_images(1, a, a)
