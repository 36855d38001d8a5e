"""Attention blocks of the SiftFunnel edge and cloud: SE, triplet attention, CBAM.

All take and return (N, C, H, W) maps of the same shape; each rescales its
input by sigmoid gates, so the output is the input times weights in (0, 1).
"""

from __future__ import annotations

import torch
from torch import nn

from .norm import BatchNorm2d

__all__ = ["SqueezeExcitation", "TripletAttention", "AttentionGate", "ChannelAttention", "SpatialAttention", "CBAM"]


def _hidden(channels: int, reduction: int) -> int:
    if channels < 1:
        raise ValueError(f"channels must be positive; got {channels}")
    if reduction < 1:
        raise ValueError(f"reduction must be positive; got {reduction}")
    return max(1, channels // reduction)


class SqueezeExcitation(nn.Module):
    """Squeeze-and-excitation (Hu et al., CVPR 2018).

    ``y = x * sigmoid(W2 relu(W1 avgpool(x)))`` with a bottleneck of
    ``max(1, channels // reduction)`` units and no biases, as in the authors' code.
    """

    def __init__(self, channels: int, *, reduction: int = 16):
        super().__init__()
        hidden = _hidden(channels, reduction)
        self.fc = nn.Sequential(
            nn.Linear(channels, hidden, bias=False),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, channels, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.fc(x.mean(dim=(2, 3)))
        return x * w[:, :, None, None]


class AttentionGate(nn.Module):
    """One branch of triplet attention: Z-pool (max and mean over dim 1), 7x7 conv, BN, sigmoid."""

    def __init__(self, kernel_size: int = 7):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=(kernel_size - 1) // 2, bias=False)
        self.bn = BatchNorm2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat((x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)), dim=1)
        return x * torch.sigmoid(self.bn(self.conv(pooled)))


class TripletAttention(nn.Module):
    """Triplet attention (Misra et al., WACV 2021).

    Three gates see the tensor rotated so that each pair of (C, H, W) axes
    interacts: (C, W) with H pooled, (H, C) with W pooled, and (H, W) with C
    pooled; the three outputs are averaged.
    """

    def __init__(self, *, kernel_size: int = 7, no_spatial: bool = False):
        super().__init__()
        self.cw = AttentionGate(kernel_size)
        self.hc = AttentionGate(kernel_size)
        self.hw = None if no_spatial else AttentionGate(kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out_cw = self.cw(x.transpose(1, 2)).transpose(1, 2)  # pools over H
        out_hc = self.hc(x.transpose(1, 3)).transpose(1, 3)  # pools over W
        if self.hw is None:
            return 0.5 * (out_cw + out_hc)
        return (out_cw + out_hc + self.hw(x)) / 3.0


class ChannelAttention(nn.Module):
    """CBAM's channel gate: shared MLP on average- and max-pooled descriptors."""

    def __init__(self, channels: int, *, ratio: int = 16):
        super().__init__()
        hidden = _hidden(channels, ratio)
        self.fc1 = nn.Conv2d(channels, hidden, 1, bias=False)
        self.fc2 = nn.Conv2d(hidden, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        avg = x.mean(dim=(2, 3), keepdim=True)
        mx = x.amax(dim=(2, 3), keepdim=True)
        return torch.sigmoid(self.fc2(torch.relu(self.fc1(avg))) + self.fc2(torch.relu(self.fc1(mx))))


class SpatialAttention(nn.Module):
    """CBAM's spatial gate: 7x7 conv over the channel-mean and channel-max maps."""

    def __init__(self, *, kernel_size: int = 7):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=(kernel_size - 1) // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat((x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)), dim=1)
        return torch.sigmoid(self.conv(pooled))


class CBAM(nn.Module):
    """Convolutional block attention module (Woo et al., ECCV 2018): channel then spatial gating."""

    def __init__(self, channels: int, *, ratio: int = 16, kernel_size: int = 7):
        super().__init__()
        self.channel = ChannelAttention(channels, ratio=ratio)
        self.spatial = SpatialAttention(kernel_size=kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * self.channel(x)
        return x * self.spatial(x)
