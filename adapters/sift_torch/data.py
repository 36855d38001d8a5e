"""Datasets, the resumable distributed sampler and the progress bar used by the trainer."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, DistributedSampler, TensorDataset

__all__ = ["as_dataset", "ResumableSampler", "progress", "NoProgress"]


def as_dataset(data: Any, name: str = "data") -> Dataset:
    """A Dataset from a Dataset or a pair ``(x, y)`` of arrays/tensors (x float in [0, 1], y int labels)."""
    if isinstance(data, Dataset):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2:
        x = torch.as_tensor(np.asarray(data[0]) if not isinstance(data[0], torch.Tensor) else data[0])
        y = torch.as_tensor(np.asarray(data[1]) if not isinstance(data[1], torch.Tensor) else data[1])
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"{name}: x and y must have the same number of samples; got {x.shape[0]} and {y.shape[0]}")
        if not x.is_floating_point():
            raise TypeError(f"{name}: x must be floating point images in [0, 1]; got {x.dtype}")
        if y.is_floating_point() or y.ndim != 1:
            raise TypeError(f"{name}: y must be a 1-D integer label array; got {y.dtype} with shape {tuple(y.shape)}")
        return TensorDataset(x.float(), y.long())
    raise TypeError(f"{name} must be a torch Dataset or a pair (x, y); got {type(data).__name__}")


class ResumableSampler(DistributedSampler):
    """DistributedSampler that can start part-way through an epoch (for mid-epoch resume)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.start = 0

    def __iter__(self):
        return iter(list(super().__iter__())[self.start:])

    def __len__(self) -> int:
        return max(0, self.num_samples - self.start)


def progress(iterable, *, total, initial, desc, disable):
    if disable:
        return NoProgress(iterable)
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, initial=initial, desc=desc, leave=False)


class NoProgress:
    """Iterable without a progress bar (same interface as the tqdm object for the trainer)."""

    def __init__(self, iterable):
        self.iterable = iterable

    def __iter__(self):
        return iter(self.iterable)

    def set_postfix(self, **kwargs):
        pass
