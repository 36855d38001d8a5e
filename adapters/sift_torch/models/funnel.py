"""The SiftFunnel edge (attention + channel funnel) and the cloud's upsampling module.

Architecture from the authors' code (docs/method.md, "Architecture"), generalised so
that any existing edge can be wrapped: ``FunnelEdge(trunk)`` appends
attention and a 1x1 channel funnel to ``trunk``, and ``UpsamplingCloud``
projects the few transmitted channels back up before the original cloud.
"""

from __future__ import annotations

import torch
from torch import nn

from ..attention import CBAM, SqueezeExcitation, TripletAttention
from ..norm import BatchNorm2d
from .blocks import ACTIVATIONS, make_activation

__all__ = ["FunnelEdge", "UpsamplingCloud", "funnel_head"]


def funnel_head(
    in_channels: int,
    out_channels: int,
    *,
    mid_channels: int = 16,
    pool: bool = False,
    output_activation: str = "leaky_relu",
    negative_slope: float = 0.1,
) -> nn.Sequential:
    """The channel funnel: 1x1 ``in -> mid``, BN, ReLU, [max-pool], 1x1 ``mid -> out``,
    3x3, SiLU, 1x1, 3x3, 5x5, output activation (the authors' ``block2_mix``).

    The authors end with a ReLU; at their default learning rate it died (every
    feature 0, docs/method.md).  The default here is a LeakyReLU, which
    keeps a gradient for negative pre-activations so the features cannot all
    die; ``output_activation="relu"`` restores the original.
    """
    for name, v in (("in_channels", in_channels), ("out_channels", out_channels), ("mid_channels", mid_channels)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name} must be a positive integer; got {v!r}")
    if output_activation not in ACTIVATIONS:
        raise ValueError(f"output_activation must be one of {ACTIVATIONS}; got {output_activation!r}")
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, mid_channels, 1),
        BatchNorm2d(mid_channels),
        nn.ReLU(inplace=True),
    ]
    if pool:
        layers.append(nn.MaxPool2d(2, 2))
    layers += [
        nn.Conv2d(mid_channels, out_channels, 1),
        nn.Conv2d(out_channels, out_channels, 3, 1, 1),
        nn.SiLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 1),
        nn.Conv2d(out_channels, out_channels, 3, 1, 1),
        nn.Conv2d(out_channels, out_channels, 5, 1, 2),
        make_activation(output_activation, negative_slope=negative_slope),
    ]
    return nn.Sequential(*layers)


class FunnelEdge(nn.Module):
    """SiftFunnel edge model: ``trunk -> SE -> triplet -> funnel -> SE -> CBAM -> standardise -> activation``.

    The output stage (``output_norm=True``, the default) is this library's
    change to the authors' edge, which ends ``... 5x5 conv -> ReLU -> SE -> CBAM``.
    Everything the cloud does after the transmission is batch-normalised, so
    the cloud cannot tell ``z`` from ``c * z``: the L1 term ``mean|z|`` then has a
    free direction, and Adam (which rescales even a tiny gradient to a full
    step) shrinks the features' scale geometrically.  The cloud's batch-norm
    running statistics lag behind, so evaluation accuracy drops to chance,
    and with a ReLU the features end at exactly 0 (the collapse of
    docs/method.md).  Standardising each transmitted channel (batch
    norm without affine parameters) fixes the scale, so ``mean|z|`` measures
    what it is meant to (how concentrated, how sparse, the features are), and
    the activation after it can never see only negative inputs.

    Parameters
    ----------
    trunk : the layers before the funnel (an existing edge model, or the
        first conv block of the authors' CNN); maps images to (N, in_channels, H, W).
    in_channels : channels of the trunk's output.
    out_channels : transmitted channels C_out (12 in the authors' CNN).
    mid_channels : the funnel's intermediate width (16 in the authors' CNN).
    pool : halve the spatial size inside the funnel (the authors' CNN does, so
        that its one-block trunk reaches the two-block split's resolution).
    output_activation : "leaky_relu" (default), "relu" (authors), "identity", "tanh", "silu".
    output_norm : standardise z before the output activation (default); False
        gives the authors' order (the activation ends the funnel, before SE and CBAM).
    se_reduction, out_se_reduction, cbam_ratio : attention bottlenecks
        (authors' CNN: 32, 4, 6).

    ``forward(x)`` returns the transmitted features z (N, out_channels, H', W').
    """

    def __init__(
        self,
        trunk: nn.Module,
        *,
        in_channels: int,
        out_channels: int = 12,
        mid_channels: int = 16,
        pool: bool = False,
        output_activation: str = "leaky_relu",
        negative_slope: float = 0.1,
        se_reduction: int = 32,
        out_se_reduction: int = 4,
        cbam_ratio: int = 6,
        output_norm: bool = True,
    ):
        super().__init__()
        if not isinstance(trunk, nn.Module):
            raise TypeError(f"trunk must be a torch.nn.Module; got {type(trunk).__name__}")
        self.trunk = trunk
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.se_in = SqueezeExcitation(in_channels, reduction=se_reduction)
        self.triplet = TripletAttention()
        # with output_norm the funnel's last activation moves behind the standardisation
        self.funnel = funnel_head(
            in_channels, out_channels, mid_channels=mid_channels, pool=pool,
            output_activation="identity" if output_norm else output_activation, negative_slope=negative_slope,
        )
        self.se_out = SqueezeExcitation(out_channels, reduction=out_se_reduction)
        self.cbam = CBAM(out_channels, ratio=cbam_ratio)
        self.out_norm = BatchNorm2d(out_channels, affine=False) if output_norm else nn.Identity()
        self.out_act = make_activation(output_activation, negative_slope=negative_slope) if output_norm \
            else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.triplet(self.se_in(self.trunk(x)))
        return self.out_act(self.out_norm(self.cbam(self.se_out(self.funnel(h)))))


class UpsamplingCloud(nn.Module):
    """Cloud model of SiftFunnel: channel up-projection, then the rest of the classifier.

    ``conv 3x3 in -> out`` and ``conv 3x3 out -> out`` (no biases), BN, ReLU and
    triplet attention (the authors' ``Up`` + ``triplet_cloud``; channels only,
    the spatial size is kept), followed by ``tail`` (which maps
    (N, out_channels, H, W) to logits).
    """

    def __init__(self, in_channels: int, out_channels: int, tail: nn.Module):
        super().__init__()
        if not isinstance(tail, nn.Module):
            raise TypeError(f"tail must be a torch.nn.Module; got {type(tail).__name__}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.up = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, 1, 1, bias=False),
            nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False),
            BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            TripletAttention(),
        )
        self.tail = tail

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.tail(self.up(z))
