"""PNG grids of private inputs over their reconstructions (matplotlib's Agg canvas, no pyplot).

One row of originals on top, then one row per attack or defence, the same
images in the same columns.  Images are channels-last (N, H, W, C), C in {1, 3}.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping

import numpy as np

__all__ = ["grid_image", "save_reconstruction_grid"]


def _images(x, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 4 or a.shape[-1] not in (1, 3):
        raise ValueError(f"{name} must have shape (N, H, W, C) with C in (1, 3); got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return np.clip(a, 0.0, 1.0)


def _rows(originals, reconstructions):
    orig = _images(originals, "originals")
    if isinstance(reconstructions, Mapping):
        labels = [str(k) for k in reconstructions]
        rows = [_images(v, f"reconstructions[{k!r}]") for k, v in reconstructions.items()]
    else:
        labels, rows = ["reconstruction"], [_images(reconstructions, "reconstructions")]
    if not rows:
        raise ValueError("reconstructions must hold at least one batch of images")
    for label, r in zip(labels, rows):
        if r.shape != orig.shape:
            raise ValueError(f"reconstructions {label!r} must have the shape of originals {orig.shape}; got {r.shape}")
    return orig, labels, rows


def grid_image(originals, reconstructions, *, n: int = 8, scale: int | None = None, pad: int = 2) -> np.ndarray:
    """The grid as an RGB float array in [0, 1], white between cells.

    Size: ``rows * H * scale + (rows + 1) * pad`` by ``n * W * scale + (n + 1) * pad``
    (``scale`` defaults to cells of about 64 pixels; ``n`` is capped at N).
    """
    orig, _, rows = _rows(originals, reconstructions)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer; got {n!r}")
    if isinstance(pad, bool) or not isinstance(pad, (int, np.integer)) or pad < 0:
        raise ValueError(f"pad must be a non-negative integer; got {pad!r}")
    _, h, w, c = orig.shape
    if scale is None:
        scale = max(1, int(np.ceil(64 / max(h, w))))
    elif isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale < 1:
        raise ValueError(f"scale must be a positive integer; got {scale!r}")
    n = min(int(n), orig.shape[0])
    ch, cw = h * scale, w * scale
    batches = [orig, *rows]
    out = np.ones((len(batches) * ch + (len(batches) + 1) * pad, n * cw + (n + 1) * pad, 3))
    for r, batch in enumerate(batches):
        for j in range(n):
            img = batch[j] if c == 3 else np.repeat(batch[j], 3, axis=2)
            img = np.repeat(np.repeat(img, scale, axis=0), scale, axis=1)
            y0, x0 = pad + r * (ch + pad), pad + j * (cw + pad)
            out[y0:y0 + ch, x0:x0 + cw] = img
    return out


def save_reconstruction_grid(path, originals, reconstructions, *, n: int = 8, scale: int | None = None,
                             pad: int = 2, labels: bool | None = None) -> str:
    """Save originals (top row) over reconstructions as a PNG, atomically; returns the path.

    ``reconstructions``: one (N, H, W, C) batch or a mapping ``{label: batch}``
    (one row each).  With ``labels`` (default: for a mapping) the rows are named
    in a margin on the left.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.image import imsave

    orig, row_labels, rows = _rows(originals, reconstructions)
    grid = grid_image(orig, dict(zip(row_labels, rows)), n=n, scale=scale, pad=pad)
    labels = isinstance(reconstructions, Mapping) if labels is None else bool(labels)
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
            texts = ["original", *row_labels]
            row_h = (height - pad) / len(texts)
            fontsize = max(6.0, min(11.0, 0.35 * row_h * 0.72))
            margin = int(max(len(t) for t in texts) * 0.55 * fontsize / 0.72) + 12
            fig = Figure(figsize=((width + margin) / 100, height / 100), dpi=100, facecolor="white")
            FigureCanvasAgg(fig)
            fig.figimage(grid, xo=margin, yo=0, origin="upper")
            for r, text in enumerate(texts):
                y = height - pad / 2 - (r + 0.5) * row_h
                fig.text((margin - 6) / (width + margin), y / height, text, ha="right", va="center",
                         fontsize=fontsize)
            fig.savefig(tmp, dpi=100, format="png", facecolor="white")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path
