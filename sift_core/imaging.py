"""Reconstruction grids: private inputs over their reconstructions, as an RGB array or a PNG.

One row of originals on top, then one row per attack or defence, the same images in the same
columns, so a reader compares reconstructions with the inputs directly. Cells are magnified by
nearest-neighbour repetition (pixel-exact, no interpolation) and separated by white padding.

Composing a grid needs numpy only; matplotlib is imported when a PNG is written, and then only
its Agg canvas (never pyplot), so a user's interactive backend is left alone.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from .files import temp_file_beside

__all__ = ["grid_image", "save_grid_png", "save_reconstruction_grid"]

# The default magnification gives cells of about this many pixels on their longer side.
CELL_PIXELS = 64
_DPI = 100


def _int_option(value: Any, name: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        kind = "positive" if minimum == 1 else "non-negative"
        raise ValueError(f"{name} must be a {kind} integer; got {value!r}")
    return int(value)


def _images(x: Any, name: str, channels_last: bool) -> np.ndarray:
    """A batch as float64 in its own layout, validated and clipped to [0, 1]."""
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be an array of images; got {type(x).__name__}") from err
    layout = "(N, H, W, C)" if channels_last else "(N, C, H, W)"
    if a.ndim != 4 or a.shape[-1 if channels_last else 1] not in (1, 3):
        raise ValueError(f"{name} must have shape {layout} with C in (1, 3); got {a.shape}")
    if a.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one image; got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return np.clip(a, 0.0, 1.0)


def _rows(originals: Any, reconstructions: Any, channels_last: bool) -> tuple[np.ndarray, list[str], list[np.ndarray]]:
    """Originals, row labels and reconstruction batches, all checked to share one shape."""
    if not isinstance(channels_last, bool):
        raise TypeError(f"channels_last must be a bool; got {type(channels_last).__name__}")
    orig = _images(originals, "originals", channels_last)
    if isinstance(reconstructions, Mapping):
        labels = [str(k) for k in reconstructions]
        rows = [_images(v, f"reconstructions[{k!r}]", channels_last) for k, v in reconstructions.items()]
    elif isinstance(reconstructions, Sequence) and not isinstance(reconstructions, (str, bytes)) \
            and not hasattr(reconstructions, "shape"):
        labels = [f"row {i + 1}" for i in range(len(reconstructions))]
        rows = [_images(v, f"reconstructions[{i}]", channels_last) for i, v in enumerate(reconstructions)]
    else:
        labels = ["reconstruction"]
        rows = [_images(reconstructions, "reconstructions", channels_last)]
    if not rows:
        raise ValueError("reconstructions must hold at least one batch of images")
    for label, r in zip(labels, rows):
        if r.shape != orig.shape:
            raise ValueError(
                f"reconstructions {label!r} must have the shape of originals {orig.shape}; got {r.shape}"
            )
    return orig, labels, rows


def _compose(batches: list[np.ndarray], *, n: Any, scale: Any, pad: Any, channels_last: bool) -> np.ndarray:
    n = _int_option(n, "n", minimum=1)
    pad = _int_option(pad, "pad", minimum=0)
    if not channels_last:
        batches = [np.transpose(b, (0, 2, 3, 1)) for b in batches]
    h, w = batches[0].shape[1:3]
    if scale is None:
        scale = max(1, int(np.ceil(CELL_PIXELS / max(h, w))))
    scale = _int_option(scale, "scale", minimum=1)
    n = min(n, batches[0].shape[0])
    ch, cw = h * scale, w * scale
    out = np.ones((len(batches) * ch + (len(batches) + 1) * pad, n * cw + (n + 1) * pad, 3))
    for r, batch in enumerate(batches):
        cells = batch[:n]
        if cells.shape[-1] == 1:
            cells = np.repeat(cells, 3, axis=-1)
        cells = np.repeat(np.repeat(cells, scale, axis=1), scale, axis=2)
        y0 = pad + r * (ch + pad)
        for j, cell in enumerate(cells):
            x0 = pad + j * (cw + pad)
            out[y0 : y0 + ch, x0 : x0 + cw] = cell
    return out


def grid_image(
    originals: Any,
    reconstructions: Any,
    *,
    n: int = 8,
    scale: int | None = None,
    pad: int = 2,
    channels_last: bool = False,
) -> np.ndarray:
    """The grid as an RGB float array (height, width, 3) in [0, 1], white between cells.

    ``originals``: a batch (N, C, H, W), or (N, H, W, C) with ``channels_last``, C in {1, 3}
    (grey images are repeated over RGB), values clipped to [0, 1]. ``reconstructions``: one
    batch of that shape, a sequence of batches, or a mapping ``{label: batch}``, one row each
    in order under the row of originals. The first ``n`` images (at most N) fill the columns;
    ``scale`` is an integer nearest-neighbour magnification (default ``ceil(64 / max(H, W))``,
    cells of about 64 px). With R = 1 + the number of reconstruction rows the size is

        height = R * H * scale + (R + 1) * pad,   width = n * W * scale + (n + 1) * pad,

    and the cell of row r, column j starts at ``(pad + r * (H * scale + pad), pad + j * (W * scale + pad))``.
    """
    orig, _, rows = _rows(originals, reconstructions, channels_last)
    return _compose([orig, *rows], n=n, scale=scale, pad=pad, channels_last=channels_last)


@contextlib.contextmanager
def _atomic_target(path: Any, suffix: str) -> Iterator[str]:
    """A temporary file beside ``path`` that replaces it only when the block completes, so an
    interrupted write never leaves a truncated file (and an earlier file stays intact)."""
    try:
        path = os.fspath(path)
    except TypeError as err:
        raise TypeError(f"path must be a str or os.PathLike; got {type(path).__name__}") from err
    fd, tmp = temp_file_beside(path, suffix=suffix)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _check_grid(image: Any) -> np.ndarray:
    try:
        grid = np.asarray(image, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"image must be an RGB array; got {type(image).__name__}") from err
    if grid.ndim != 3 or grid.shape[2] != 3 or min(grid.shape[:2]) < 1:
        raise ValueError(f"image must have shape (height, width, 3); got {grid.shape}")
    if not np.all(np.isfinite(grid)) or grid.min() < 0.0 or grid.max() > 1.0:
        raise ValueError("image must hold finite values in [0, 1]")
    return grid


def save_grid_png(
    path: str | os.PathLike,
    image: Any,
    *,
    row_labels: Sequence[str] | None = None,
    pad: int = 2,
    label_width: int | None = None,
) -> str:
    """Write an RGB grid (from :func:`grid_image`) as a PNG, atomically; returns the path as a string.

    Without ``row_labels`` the PNG has exactly the size of ``image``. With them (one name per
    row, top first; the rows are ``len(row_labels)`` equal bands of ``image`` laid out with
    ``pad``) a white column of ``label_width`` pixels (default: sized to the longest name) on
    the left names each row, and the PNG is that much wider; the grid's pixels are unchanged.
    The file is written to a temporary file then moved into place with ``os.replace``.
    """
    grid = _check_grid(image)
    pad = _int_option(pad, "pad", minimum=0)
    height, width = grid.shape[:2]
    texts: list[str] = []
    if row_labels is not None:
        if isinstance(row_labels, (str, bytes)) or not isinstance(row_labels, Sequence):
            raise TypeError(f"row_labels must be a sequence of names; got {type(row_labels).__name__}")
        texts = [str(t) for t in row_labels]
        band = (height - pad) / len(texts) if texts else 0.0
        if not texts or band != int(band) or band <= pad:
            raise ValueError(
                f"row_labels: {len(texts)} rows with pad {pad} do not fit an image of height {height}"
            )
    if label_width is not None:
        label_width = _int_option(label_width, "label_width", minimum=1)
    try:
        os.fspath(path)
    except TypeError as err:
        raise TypeError(f"path must be a str or os.PathLike; got {type(path).__name__}") from err
    # Imported here so that sift_core imports without matplotlib.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.image import imsave

    with _atomic_target(path, ".png") as tmp:
        if not texts:
            imsave(tmp, grid, format="png")
        else:
            row_h = (height - pad) / len(texts)
            fontsize = max(6.0, min(11.0, 0.35 * row_h * 72 / _DPI))
            if label_width is None:
                # About 0.55 em per character of the default sans-serif font, plus a margin.
                label_width = int(max(len(t) for t in texts) * 0.55 * fontsize * _DPI / 72) + 12
            total = width + label_width
            fig = Figure(figsize=(total / _DPI, height / _DPI), dpi=_DPI, facecolor="white")
            FigureCanvasAgg(fig)
            # figimage pastes pixels unscaled, so the grid stays crisp and the size exact.
            fig.figimage(grid, xo=label_width, yo=0, origin="upper")
            for r, text in enumerate(texts):
                y_centre = height - pad / 2 - (r + 0.5) * row_h
                fig.text((label_width - 6) / total, y_centre / height, text, ha="right", va="center",
                         fontsize=fontsize)
            fig.savefig(tmp, dpi=_DPI, format="png", facecolor="white")
    return os.fspath(path)


def save_reconstruction_grid(
    path: str | os.PathLike,
    originals: Any,
    reconstructions: Any,
    *,
    n: int = 8,
    scale: int | None = None,
    pad: int = 2,
    labels: bool | None = None,
    label_width: int | None = None,
    channels_last: bool = False,
) -> str:
    """Save originals (top row) over one or more rows of reconstructions as a PNG; returns the path.

    The grid is :func:`grid_image` (same arguments). With ``labels`` (default: when
    ``reconstructions`` is a mapping, whose keys name the rows) a column of ``label_width``
    pixels on the left names each row, the top one ``"original"``; see :func:`save_grid_png`.
    Every input is checked before anything is written.
    """
    orig, row_labels, rows = _rows(originals, reconstructions, channels_last)
    grid = _compose([orig, *rows], n=n, scale=scale, pad=pad, channels_last=channels_last)
    if labels is None:
        labels = isinstance(reconstructions, Mapping)
    names = ["original", *row_labels] if labels else None
    return save_grid_png(path, grid, row_labels=names, pad=pad, label_width=label_width)
