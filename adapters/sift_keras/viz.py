"""PNG grids of private inputs over their reconstructions, for channels-last (N, H, W, C) batches.

One row of originals on top, then one row per attack or defence, the same images in the same
columns; C in {1, 3}. The grid itself is :mod:`sift_core.imaging` with ``channels_last=True``
(TensorFlow tensors and numpy arrays both convert with ``numpy.asarray`` there).
"""

from __future__ import annotations

import os

import numpy as np

from sift_core import imaging

__all__ = ["grid_image", "save_reconstruction_grid"]


def grid_image(originals, reconstructions, *, n: int = 8, scale: int | None = None, pad: int = 2) -> np.ndarray:
    """The grid as an RGB float array in [0, 1], white between cells.

    ``reconstructions``: one (N, H, W, C) batch, a sequence of batches or a mapping ``{label: batch}``.
    Size: ``rows * H * scale + (rows + 1) * pad`` by ``n * W * scale + (n + 1) * pad``
    (``scale`` defaults to cells of about 64 pixels; ``n`` is capped at N).
    See :func:`sift_core.imaging.grid_image`.
    """
    return imaging.grid_image(originals, reconstructions, n=n, scale=scale, pad=pad, channels_last=True)


def save_reconstruction_grid(path: str | os.PathLike, originals, reconstructions, *, n: int = 8,
                             scale: int | None = None, pad: int = 2, labels: bool | None = None,
                             label_width: int | None = None) -> str:
    """Save originals (top row) over reconstructions as a PNG, atomically; returns the path.

    ``reconstructions``: one (N, H, W, C) batch, a sequence of batches or a mapping
    ``{label: batch}`` (one row each). With ``labels`` (default: for a mapping) the rows are
    named in a margin of ``label_width`` pixels on the left.
    See :func:`sift_core.imaging.save_reconstruction_grid`.
    """
    return imaging.save_reconstruction_grid(path, originals, reconstructions, n=n, scale=scale, pad=pad,
                                            labels=labels, label_width=label_width, channels_last=True)
