"""Normalisation layers of the models."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["BatchNorm2d"]


class BatchNorm2d(nn.BatchNorm2d):
    """Batch norm whose running statistics are debiased: momentum ``max(momentum, 1 / t)`` at batch t.

    torch's running variance starts at 1 and moves 10% per batch, so a layer
    whose inputs have variance 1e-3 (features behind a few sigmoid gates)
    evaluates wrongly for the first ~70 batches: a short run then scores near
    chance in evaluation mode while training accuracy is high.  Averaging
    the first batches exactly (the cumulative average, like Adam's bias
    correction) removes the initial value's weight; after ``1 / momentum``
    batches this is torch's exponential average.  The state dict is that of
    ``nn.BatchNorm2d``; the batch count is ``num_batches_tracked``.
    """

    def __init__(self, num_features: int, **kwargs):
        super().__init__(num_features, **kwargs)
        self.base_momentum = self.momentum if self.momentum is not None else 0.1
        self._seen = 0  # host copy of num_batches_tracked: reading the buffer would synchronise a GPU

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.track_running_stats:
            self._seen += 1
            self.momentum = max(self.base_momentum, 1.0 / self._seen)
        return super().forward(x)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        key = prefix + "num_batches_tracked"
        if key in state_dict:
            self._seen = int(state_dict[key])
