"""Building blocks shared by the split models: input adapter, conv blocks, residual blocks."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..norm import BatchNorm2d

__all__ = ["BatchNorm2d", "InputAdapter", "conv_block", "ResidualBlock", "make_activation", "ACTIVATIONS"]

#: output activations a funnel edge accepts (see :class:`~sift_torch.models.FunnelEdge`)
ACTIVATIONS = ("leaky_relu", "relu", "identity", "tanh", "silu")


def make_activation(name: str, *, negative_slope: float = 0.1) -> nn.Module:
    """The activation module called ``name`` (one of :data:`ACTIVATIONS`)."""
    if name == "leaky_relu":
        return nn.LeakyReLU(negative_slope)
    if name == "relu":
        return nn.ReLU()
    if name == "identity":
        return nn.Identity()
    if name == "tanh":
        return nn.Tanh()
    if name == "silu":
        return nn.SiLU()
    raise ValueError(f"activation must be one of {ACTIVATIONS}; got {name!r}")


class InputAdapter(nn.Module):
    """Maps images in [0, 1] to what the first convolution expects.

    Zero-pads the spatial size up to a multiple of ``multiple`` (28x28 becomes
    32x32 for networks that halve the size four or five times, as the
    authors did for Fashion-MNIST) and standardises ``(x - mean) / std`` per
    channel.  Keeping both inside the edge lets every attack and penalty see
    the raw [0, 1] image.
    """

    def __init__(
        self,
        *,
        in_channels: int,
        multiple: int = 1,
        mean: float | Sequence[float] = 0.5,
        std: float | Sequence[float] = 0.5,
    ):
        super().__init__()
        if multiple < 1:
            raise ValueError(f"multiple must be positive; got {multiple}")
        self.in_channels = int(in_channels)
        self.multiple = int(multiple)
        mean_t = torch.as_tensor(mean, dtype=torch.float32).reshape(-1)
        std_t = torch.as_tensor(std, dtype=torch.float32).reshape(-1)
        for name, t in (("mean", mean_t), ("std", std_t)):
            if t.numel() not in (1, in_channels):
                raise ValueError(f"{name} must have 1 or in_channels={in_channels} entries; got {t.numel()}")
        if bool((std_t <= 0).any()):
            raise ValueError(f"std must be positive; got {std}")
        self.register_buffer("mean", mean_t.reshape(1, -1, 1, 1).expand(1, in_channels, 1, 1).clone())
        self.register_buffer("std", std_t.reshape(1, -1, 1, 1).expand(1, in_channels, 1, 1).clone())

    def padding(self, height: int, width: int) -> tuple[int, int, int, int]:
        """(left, right, top, bottom) zero padding for an input of this size."""
        ph = (-height) % self.multiple
        pw = (-width) % self.multiple
        return pw // 2, pw - pw // 2, ph // 2, ph - ph // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected images of shape (N, {self.in_channels}, H, W); got {tuple(x.shape)}")
        pad = self.padding(x.shape[2], x.shape[3])
        if any(pad):
            x = F.pad(x, pad, value=0.0)  # a black border in [0, 1] image space
        return (x - self.mean) / self.std


def conv_block(in_channels: int, out_channels: int, *, pool: bool = True) -> nn.Sequential:
    """conv 3x3 -> BN -> max-pool 2 -> ReLU (the authors' CNN block; pool before ReLU)."""
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, 3, 1, 1), BatchNorm2d(out_channels)]
    if pool:
        layers.append(nn.MaxPool2d(2, 2))
    layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class ResidualBlock(nn.Module):
    """ResNet basic block (He et al. 2016): two 3x3 conv-BN, identity or 1x1 projection shortcut."""

    def __init__(self, in_channels: int, out_channels: int, *, stride: int = 1):
        super().__init__()
        self.left = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False),
            BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False),
            BatchNorm2d(out_channels),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.left(x) + self.shortcut(x))
