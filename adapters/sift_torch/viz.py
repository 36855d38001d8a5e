"""PNG grids of private inputs over their reconstructions (matplotlib, Agg backend).

One row of originals on top, then one row per attack or defence, the same images in the
same columns, so a reader compares a defence's reconstructions with the inputs directly.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["grid_image", "save_reconstruction_grid"]


def _images(x: Any, name: str) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 4 or a.shape[1] not in (1, 3):
        raise ValueError(f"{name} must have shape (N, C, H, W) with C in (1, 3); got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return np.clip(a, 0.0, 1.0)


def _rows(originals: Any, reconstructions: Any) -> tuple[np.ndarray, list[str], list[np.ndarray]]:
    orig = _images(originals, "originals")
    if isinstance(reconstructions, Mapping):
        labels = [str(k) for k in reconstructions]
        rows = [_images(v, f"reconstructions[{k!r}]") for k, v in reconstructions.items()]
    elif isinstance(reconstructions, Sequence) and not hasattr(reconstructions, "shape"):
        labels = [f"row {i + 1}" for i in range(len(reconstructions))]
        rows = [_images(v, f"reconstructions[{i}]") for i, v in enumerate(reconstructions)]
    else:
        labels = ["reconstruction"]
        rows = [_images(reconstructions, "reconstructions")]
    if not rows:
        raise ValueError("reconstructions must hold at least one batch of images")
    for label, r in zip(labels, rows):
        if r.shape[1:] != orig.shape[1:] or r.shape[0] != orig.shape[0]:
            raise ValueError(
                f"reconstructions {label!r} must have the shape of originals {orig.shape}; got {r.shape}"
            )
    return orig, labels, rows


def grid_image(
    originals: Any, reconstructions: Any, *, n: int = 8, scale: int | None = None, pad: int = 2
) -> np.ndarray:
    """The grid as an RGB float array (height, width, 3) in [0, 1], white between cells.

    ``reconstructions``: one (N, C, H, W) batch, a sequence of batches, or a mapping
    ``{label: batch}`` (one row each, in order). ``n`` columns (the first n images);
    ``scale`` an integer nearest-neighbour magnification (default: cells of about 64 px).
    Size: ``rows * H * scale + (rows + 1) * pad`` by ``n * W * scale + (n + 1) * pad``.
    """
    orig, _, rows = _rows(originals, reconstructions)
    return _compose(orig, rows, n=n, scale=scale, pad=pad)


def _compose(orig: np.ndarray, rows: list[np.ndarray], *, n: int, scale: int | None, pad: int) -> np.ndarray:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer; got {n!r}")
    if isinstance(pad, bool) or not isinstance(pad, (int, np.integer)) or pad < 0:
        raise ValueError(f"pad must be a non-negative integer; got {pad!r}")
    _, c, h, w = orig.shape
    if scale is None:
        scale = max(1, int(np.ceil(64 / max(h, w))))
    elif isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale < 1:
        raise ValueError(f"scale must be a positive integer; got {scale!r}")
    n = min(int(n), orig.shape[0])
    ch, cw = h * scale, w * scale
    all_rows = [orig, *rows]
    out = np.ones((len(all_rows) * ch + (len(all_rows) + 1) * pad, n * cw + (n + 1) * pad, 3))
    for r, batch in enumerate(all_rows):
        for j in range(n):
            img = np.transpose(batch[j], (1, 2, 0))  # H, W, C
            if c == 1:
                img = np.repeat(img, 3, axis=2)
            img = np.repeat(np.repeat(img, scale, axis=0), scale, axis=1)
            y0, x0 = pad + r * (ch + pad), pad + j * (cw + pad)
            out[y0 : y0 + ch, x0 : x0 + cw] = img
    return out


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
) -> str:
    """Save originals (top row) over one or more rows of reconstructions as a PNG.

    ``reconstructions`` is one (N, C, H, W) batch, a sequence of batches, or a mapping
    ``{label: batch}`` such as ``{"none": ..., "siftfunnel": ...}`` for a comparison of
    defences. With ``labels`` (default: when a mapping is given) a column of ``label_width``
    pixels (default: sized to the longest label) on the left names each row. Without labels
    the PNG has exactly the size of :func:`grid_image`; with them, ``label_width`` pixels wider. The file is written
    atomically (temporary file then ``os.replace``). Returns the path as a string.
    """
    # The Agg canvas directly: no pyplot, so the user's interactive backend is never touched.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.image import imsave

    orig, row_labels, rows = _rows(originals, reconstructions)
    grid = _compose(orig, rows, n=n, scale=scale, pad=pad)
    if labels is None:
        labels = isinstance(reconstructions, Mapping)
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".png", dir=directory)
    os.close(fd)
    try:
        if not labels:
            imsave(tmp, grid, format="png")
        else:
            height, width = grid.shape[:2]
            dpi = 100
            row_h = (height - pad) / (len(rows) + 1)
            fontsize = max(6.0, min(11.0, 0.35 * row_h * 72 / dpi))
            texts = ["original", *row_labels]
            if label_width is None:
                # About 0.55 em per character of the default sans-serif font, plus a margin.
                label_width = int(max(len(t) for t in texts) * 0.55 * fontsize * dpi / 72) + 12
            if isinstance(label_width, bool) or not isinstance(label_width, (int, np.integer)) or label_width < 1:
                raise ValueError(f"label_width must be a positive integer; got {label_width!r}")
            fig = Figure(figsize=((width + label_width) / dpi, height / dpi), dpi=dpi, facecolor="white")
            FigureCanvasAgg(fig)
            # figimage pastes pixels unscaled, so the grid stays crisp and the size exact.
            fig.figimage(grid, xo=label_width, yo=0, origin="upper")
            for r, text in enumerate(texts):
                y_centre = height - pad / 2 - (r + 0.5) * row_h
                fig.text((label_width - 6) / (width + label_width), y_centre / height, text,
                         ha="right", va="center", fontsize=fontsize)
            fig.savefig(tmp, dpi=dpi, format="png", facecolor="white")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path
