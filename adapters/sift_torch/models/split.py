"""A split model: the edge computes the transmitted features z, the cloud the logits."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["SplitModel"]


class SplitModel(nn.Module):
    """``cloud(edge(x))`` with the transmitted features kept.

    ``forward(x)`` returns the logits; ``forward(x, return_features=True)``
    returns ``(logits, z)``, which is what a loss on the features needs and
    what the trainer uses (it also works through DistributedDataParallel).
    ``self.z`` holds the last batch's features *detached* from the graph, for
    inspection only: keeping the attached tensor would hold the whole batch's
    autograd graph (every activation) alive until the next forward pass.

    Modules of the edge or cloud that add a penalty of their own (e.g. the
    variational bottleneck of MID) expose ``regularization()``;
    :meth:`regularization` sums them, so a training step is
    ``loss = criterion(x, z, logits, y) + model.regularization()``.
    """

    def __init__(self, edge: nn.Module, cloud: nn.Module):
        super().__init__()
        for name, m in (("edge", edge), ("cloud", cloud)):
            if not isinstance(m, nn.Module):
                raise TypeError(f"{name} must be a torch.nn.Module; got {type(m).__name__}")
        self.edge = edge
        self.cloud = cloud
        self.z: torch.Tensor | None = None

    def forward(self, x: torch.Tensor, *, return_features: bool = False):
        z = self.edge(x)
        logits = self.cloud(z)
        self.z = z.detach()
        if return_features:
            return logits, z
        return logits

    def regularization(self) -> torch.Tensor | float:
        """Sum of the ``regularization()`` of submodules from the last forward pass (0.0 if none)."""
        total: torch.Tensor | float = 0.0
        for m in self.modules():
            if m is not self and hasattr(m, "regularization") and not isinstance(m, SplitModel):
                total = total + m.regularization()
        return total
