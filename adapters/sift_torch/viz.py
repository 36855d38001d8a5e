"""PNG grids of private inputs over their reconstructions, for (N, C, H, W) tensors or arrays.

One row of originals on top, then one row per attack or defence, the same images in the
same columns, so a reader compares a defence's reconstructions with the inputs directly.
The grid itself is :mod:`sift_core.imaging`; this module only moves tensors to numpy.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from sift_core import imaging

__all__ = ["grid_image", "save_reconstruction_grid"]


def _numpy(x: Any) -> Any:
    """A tensor (any device, with or without grad) as a numpy array; anything else unchanged."""
    if hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    return x


def _batches(reconstructions: Any) -> Any:
    """The same structure (one batch, a sequence or a mapping of batches) with numpy batches."""
    if isinstance(reconstructions, Mapping):
        return {k: _numpy(v) for k, v in reconstructions.items()}
    if isinstance(reconstructions, Sequence) and not isinstance(reconstructions, (str, bytes)):
        return [_numpy(v) for v in reconstructions]
    return _numpy(reconstructions)


def grid_image(
    originals: Any, reconstructions: Any, *, n: int = 8, scale: int | None = None, pad: int = 2
) -> np.ndarray:
    """The grid as an RGB float array (height, width, 3) in [0, 1], white between cells.

    ``reconstructions``: one (N, C, H, W) batch, a sequence of batches, or a mapping
    ``{label: batch}`` (one row each, in order). ``n`` columns (the first n images);
    ``scale`` an integer nearest-neighbour magnification (default: cells of about 64 px).
    Size: ``rows * H * scale + (rows + 1) * pad`` by ``n * W * scale + (n + 1) * pad``.
    See :func:`sift_core.imaging.grid_image`.
    """
    return imaging.grid_image(_numpy(originals), _batches(reconstructions), n=n, scale=scale, pad=pad)


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
    the PNG has exactly the size of :func:`grid_image`; with them, ``label_width`` pixels wider.
    The file is written atomically (temporary file then ``os.replace``). Returns the path as a
    string. See :func:`sift_core.imaging.save_reconstruction_grid`.
    """
    return imaging.save_reconstruction_grid(
        path, _numpy(originals), _batches(reconstructions), n=n, scale=scale, pad=pad, labels=labels,
        label_width=label_width,
    )
