"""Readers for the standard on-disk image formats, into numpy arrays.

Every reader returns ``(x, y)`` with ``x`` float32 in [0, 1] shaped (N, C, H, W)
and ``y`` int64 shaped (N,): class indices 0 .. MAX_CLASSES - 1, checked by
:func:`check_labels`. Nothing here downloads anything.

Formats:
- IDX (the MNIST / Fashion-MNIST container, LeCun et al.), plain or gzip.
- CIFAR-10 / CIFAR-100 "python version" pickles (Krizhevsky 2009), read by an
  unpickler that rebuilds only dicts, lists, strings, numbers and numpy arrays:
  a pickle that names any other callable is refused before it can run.
- ``.npz`` archives with ``x``/``y`` or ``x_train``/``y_train`` (+ ``x_test``/``y_test``).
- An image folder: one sub-folder per class, images inside (read with Pillow).
"""

from __future__ import annotations

import gzip
import math
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm")

# IDX type codes -> numpy big-endian dtypes (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT").
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


#: the largest number of classes a dataset may have (labels 0 .. MAX_CLASSES - 1): a stray huge
#: label would otherwise size one-hot targets and output layers by it
MAX_CLASSES = 100_000


def check_labels(y, where: str) -> np.ndarray:
    """``y`` as int64 class indices, or a ValueError naming ``where``.

    Labels must be a 1-D array of whole numbers in 0 .. MAX_CLASSES - 1
    (floats such as 3.0 are accepted, 3.5 is not).
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{where}: labels must be 1-D (one per image); got shape {y.shape}")
    if y.dtype.kind not in "iuf":
        raise ValueError(f"{where}: labels must be integers; got dtype {y.dtype}")
    if y.size == 0:
        return y.astype(np.int64)
    if y.dtype.kind == "f" and not (np.isfinite(y).all() and (y == np.round(y)).all()):
        raise ValueError(f"{where}: labels must be whole numbers; got values such as {y[y != np.round(y)][:3]}")
    lo, hi = y.min(), y.max()
    if lo < 0:
        raise ValueError(f"{where}: labels must be non-negative class indices; got minimum {lo}")
    if hi >= MAX_CLASSES:
        raise ValueError(f"{where}: label {hi} would mean {int(hi) + 1} classes; at most {MAX_CLASSES} are "
                         f"supported (labels must be class indices 0 .. number of classes - 1)")
    return y.astype(np.int64)


def _latin1_encode(text, encoding="latin1"):
    """``_codecs.encode`` as protocol-2 pickles use it for bytes (latin-1 only: no other codec may run)."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError(f"_codecs.encode with {encoding!r} is not part of a CIFAR batch")
    return text.encode("latin1")


def _numpy_globals() -> dict[tuple[str, str], object]:
    """The callables numpy's own pickles of arrays, dtypes and scalars name, under their old and new modules."""
    rebuild = np.zeros(1).__reduce__()[0]  # multiarray._reconstruct
    scalar = np.int64(0).__reduce__()[0]  # multiarray.scalar
    frombuffer = np.zeros(1).__reduce_ex__(5)[0]  # numeric._frombuffer (protocol 5)
    out: dict[tuple[str, str], object] = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
                                          ("_codecs", "encode"): _latin1_encode}
    for core in ("numpy.core", "numpy._core"):
        out[(f"{core}.multiarray", "_reconstruct")] = rebuild
        out[(f"{core}.multiarray", "scalar")] = scalar
        out[(f"{core}.numeric", "_frombuffer")] = frombuffer
    return out


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles containers, strings, numbers and numpy arrays; any other global is refused.

    ``find_class`` is the only way a pickle reaches code, so allowing just the
    numpy constructors keeps a crafted file from running anything.
    """

    _allowed = _numpy_globals()

    def __init__(self, fh, path: Path):
        super().__init__(fh, encoding="bytes")
        self._path = path

    def find_class(self, module, name):
        found = self._allowed.get((module, name))
        if found is None:
            raise pickle.UnpicklingError(
                f"path: {self._path} is not a CIFAR python batch: it asks to load {module}.{name}, and only "
                "numpy arrays, dicts, lists, strings and numbers are read (nothing from the file is executed)")
        return found


def load_cifar_batch(path: str | os.PathLike) -> dict[str, object]:
    """One CIFAR python batch as a dict with str keys, read by the restricted unpickler.

    Raises a ValueError naming the file for anything that is not a dict of
    such values (including a pickle that would call other code).
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            d = _ArrayUnpickler(fh, path).load()
    except pickle.UnpicklingError as exc:
        raise ValueError(str(exc) if str(exc).startswith("path:") else f"path: {path} is not a readable "
                         f"CIFAR python batch ({exc})") from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, MemoryError) as exc:
        raise ValueError(f"path: {path} is not a readable CIFAR python batch ({type(exc).__name__}: {exc})") from None
    if not isinstance(d, dict):
        raise ValueError(f"path: {path} is not a CIFAR python batch (a dict); it holds a {type(d).__name__}")
    return {k.decode("latin1") if isinstance(k, bytes) else str(k): v for k, v in d.items()}


def _open_maybe_gzip(path: Path):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (optionally gzip-compressed) into an array of its stored shape.

    Header: two zero bytes, a type code, the number of dimensions ``k``, then ``k``
    big-endian uint32 sizes, then the data in C order.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: IDX file not found: {path}")
    with _open_maybe_gzip(path) as fh:
        raw = fh.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"path: {path} is not an IDX file (bad magic number)")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        raise ValueError(f"path: {path} has unknown IDX type code 0x{code:02x}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"path: {path} is cut short inside its IDX header")
    shape = tuple(int(s) for s in np.frombuffer(raw[4:header], dtype=">u4"))
    data = np.frombuffer(raw[header:], dtype=_IDX_DTYPES[code])
    if data.size != math.prod(shape):
        raise ValueError(f"path: {path} holds {data.size} values but its header says shape {shape}")
    return data.reshape(shape)


def _find(directory: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (directory / name).is_file():
            return directory / name
    # Some distributions use dots instead of dashes (train-images.idx3-ubyte).
    alt = stem.replace("-idx", ".idx")
    for name in (alt, alt + ".gz"):
        if (directory / name).is_file():
            return directory / name
    return None


def _to_float_images(arr: np.ndarray, *, scale: float | None = None) -> np.ndarray:
    """Integers or floats -> float32 in [0, 1], shape (N, C, H, W)."""
    if arr.ndim == 3:
        arr = arr[:, None]
    if arr.ndim != 4:
        raise ValueError(f"images must have 3 or 4 dimensions (N, H, W[, C]); got shape {arr.shape}")
    x = arr.astype(np.float32)
    if scale is None:
        scale = 255.0 if (np.issubdtype(arr.dtype, np.integer) or x.max(initial=0.0) > 1.0) else 1.0
    x /= np.float32(scale)
    if not np.isfinite(x).all():
        raise ValueError("images contain NaN or infinite values")
    return np.clip(x, 0.0, 1.0)


def read_idx_dataset(directory: str | os.PathLike) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read an MNIST-style directory: ``{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``.

    Returns ``{"train": (x, y), "test": (x, y)}`` (``"test"`` only when present).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"path: directory not found: {directory}")
    out = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        img, lab = _find(directory, f"{prefix}-images-idx3-ubyte"), _find(directory, f"{prefix}-labels-idx1-ubyte")
        if img is None or lab is None:
            continue
        x, y = read_idx(img), check_labels(read_idx(lab), f"path: {lab}")
        if len(x) != len(y):
            raise ValueError(f"path: {img.name} has {len(x)} images but {lab.name} has {len(y)} labels")
        out[split] = (_to_float_images(x), y)
    if "train" not in out:
        raise FileNotFoundError(f"path: no train-images-idx3-ubyte[.gz] / train-labels-idx1-ubyte[.gz] in {directory}")
    return out


def read_cifar_dataset(directory: str | os.PathLike) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read the CIFAR-10 (``data_batch_1..5``, ``test_batch``) or CIFAR-100 (``train``, ``test``) pickles.

    Each pickle holds ``b"data"`` (N, 3072) uint8 in channel-major order and
    ``b"labels"`` (CIFAR-10) or ``b"fine_labels"`` (CIFAR-100); it is read by
    :func:`load_cifar_batch`, which never runs code named in the file.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"path: directory not found: {directory}")

    def load(files: list[Path]) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = [], []
        for f in files:
            d = load_cifar_batch(f)
            key = "labels" if "labels" in d else "fine_labels"
            if "data" not in d or key not in d:
                raise ValueError(f"path: {f} lacks the CIFAR keys 'data' and 'labels' / 'fine_labels'; "
                                 f"it has {sorted(d)}")
            data = np.asarray(d["data"])
            if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or data.dtype != np.uint8:
                raise ValueError(f"path: {f}: 'data' must be (N, 3072) uint8; got {data.shape} {data.dtype}")
            y = check_labels(d[key], f"path: {f}")
            if len(y) != len(data):
                raise ValueError(f"path: {f} has {len(data)} images but {len(y)} labels")
            xs.append(data.reshape(-1, 3, 32, 32))
            ys.append(y)
        return _to_float_images(np.concatenate(xs), scale=255.0), np.concatenate(ys)

    batches = sorted(directory.glob("data_batch_*"))
    if batches:
        out = {"train": load(batches)}
        if (directory / "test_batch").is_file():
            out["test"] = load([directory / "test_batch"])
        return out
    if (directory / "train").is_file():
        out = {"train": load([directory / "train"])}
        if (directory / "test").is_file():
            out["test"] = load([directory / "test"])
        return out
    raise FileNotFoundError(f"path: no CIFAR python pickles (data_batch_* or train) in {directory}")


def read_npz_dataset(path: str | os.PathLike) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read an ``.npz`` with ``x``/``y`` or ``x_train``/``y_train`` [+ ``x_test``/``y_test``].

    Images may be (N, H, W), (N, C, H, W) or channels-last (N, H, W, C) with C in {1, 3};
    integer images are scaled by 1/255.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: .npz file not found: {path}")
    try:
        return _read_npz(path)
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        if str(exc).startswith("path:"):
            raise
        # numpy's messages (object arrays, not a zip) do not say which file
        raise ValueError(f"path: {path} is not a readable .npz dataset ({exc})") from None


def _read_npz(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    with np.load(path, allow_pickle=False) as f:
        keys = set(f.files)
        if {"x_train", "y_train"} <= keys:
            pairs = {"train": ("x_train", "y_train")}
            if {"x_test", "y_test"} <= keys:
                pairs["test"] = ("x_test", "y_test")
        elif {"x", "y"} <= keys:
            pairs = {"train": ("x", "y")}
        else:
            raise ValueError(f"path: {path} must contain arrays x, y or x_train, y_train; it has {sorted(keys)}")
        out = {}
        for split, (kx, ky) in pairs.items():
            x, y = np.asarray(f[kx]), np.asarray(f[ky])
            if x.ndim == 4 and x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
                x = np.transpose(x, (0, 3, 1, 2))
            if y.ndim != 1 or len(y) != len(x):
                raise ValueError(f"path: {path}: {ky} must be 1-D with one label per image of {kx}; got {y.shape}")
            try:
                images = _to_float_images(x)
            except ValueError as exc:
                raise ValueError(f"path: {path} [{kx}]: {exc}") from None
            out[split] = (images, check_labels(y, f"path: {path} [{ky}]"))
    return out


def read_image_folder(directory: str | os.PathLike) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read ``directory/<class>/<image>``: classes are the sorted sub-folder names.

    All images must share one size; grayscale stays 1 channel, anything else becomes RGB.
    """
    from PIL import Image

    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"path: directory not found: {directory}")
    classes = sorted(p.name for p in directory.iterdir() if p.is_dir())
    if not classes:
        raise ValueError(f"path: {directory} has no class sub-folders")
    images, labels, shape = [], [], None
    for label, cls in enumerate(classes):
        for f in sorted((directory / cls).iterdir()):
            if f.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            with Image.open(f) as im:
                im = im.convert("L") if im.mode in ("1", "L", "I;16", "I", "F") else im.convert("RGB")
                arr = np.asarray(im)
            if shape is not None and arr.shape != shape:
                raise ValueError(f"path: {f} has shape {arr.shape}, others have {shape}; resize them to one size")
            shape = arr.shape
            images.append(arr)
            labels.append(label)
    if not images:
        raise ValueError(f"path: no images ({', '.join(IMAGE_SUFFIXES)}) under {directory}")
    x = np.stack(images)
    if x.ndim == 4:
        x = np.transpose(x, (0, 3, 1, 2))
    return {"train": (_to_float_images(x, scale=255.0), np.asarray(labels, dtype=np.int64))}
