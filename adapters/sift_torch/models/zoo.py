"""Split classifiers for 1- or 3-channel images of 28x28, 32x32 and 64x64: CNN, VGG-16, ResNet-18.

Each architecture comes undefended (the edge is the first two stages, as in
the authors' evaluation) or with the SiftFunnel edge and upsampling cloud.
:func:`build_split` builds one and applies a defence from
:mod:`sift_torch.defences`.

Split points and transmitted features (``w`` is ``width``, 64 by default;
``s`` the padded image side):

=========  =====================================  ======================  ==============
arch       undefended edge                        z (undefended)          z (funnel)
=========  =====================================  ======================  ==============
cnn        2 x (conv3x3-BN-maxpool-ReLU)          2w x s/4 x s/4          12 x s/4 x s/4
vgg16      VGG-16-BN blocks 1-2 (4 convs, 2 pools) 2w x s/4 x s/4          4 x s/4 x s/4
resnet18   conv3x3 stem + layer1 + layer2         2w x s/2 x s/2          6 x s/2 x s/2
=========  =====================================  ======================  ==============

The funnel CNN follows the authors exactly (a one-block trunk and a pooling
funnel: 9,202 edge parameters for 1-channel input against 74,880); for VGG
and ResNet the funnel is appended to the undefended edge (the generic
"wrap an existing edge" recipe) and the cloud projects back to 2w channels.
Inputs are images in [0, 1]; padding (28 -> 32 for cnn and vgg16) and
standardisation happen inside the edge (:class:`~sift_torch.models.InputAdapter`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..norm import BatchNorm2d
from .blocks import InputAdapter, ResidualBlock, conv_block
from .funnel import FunnelEdge, UpsamplingCloud
from .split import SplitModel

__all__ = ["build_split", "split_parts", "ARCHS", "FUNNEL_CHANNELS"]

ARCHS = ("cnn", "vgg16", "resnet18")
#: transmitted channels of the funnel edge per architecture (the authors' choices)
FUNNEL_CHANNELS = {"cnn": 12, "vgg16": 4, "resnet18": 6}
#: the spatial size must be a multiple of this (inputs are zero-padded up to it)
_MULTIPLE = {"cnn": 16, "vgg16": 32, "resnet18": 1}


def _pos_int(value: Any, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return value


def _side(image_size: Any) -> tuple[int, int]:
    if isinstance(image_size, int) and not isinstance(image_size, bool):
        h = w = image_size
    elif isinstance(image_size, Sequence) and len(image_size) == 2:
        h, w = image_size
    else:
        raise ValueError(f"image_size must be an int or (height, width); got {image_size!r}")
    return _pos_int(h, "image_size", 8), _pos_int(w, "image_size", 8)


def _padded(n: int, multiple: int) -> int:
    return n + (-n) % multiple


def _cnn(in_ch, hw, k, w, fc, funnel, fkw):
    adapter = InputAdapter(in_channels=in_ch, multiple=16, **fkw.pop("normalize"))
    h, wd = (_padded(s, 16) // 16 for s in hw)
    tail = nn.Sequential(
        conv_block(fc, 4 * w), conv_block(4 * w, 8 * w), nn.Flatten(),
        nn.Linear(8 * w * h * wd, 5 * k), nn.Dropout(0.5), nn.Linear(5 * k, k),
    )
    if not funnel:
        return nn.Sequential(adapter, conv_block(in_ch, w), conv_block(w, fc)), tail, fc
    trunk = nn.Sequential(adapter, conv_block(in_ch, w))
    edge = FunnelEdge(trunk, in_channels=w, mid_channels=max(1, w // 4), pool=True,
                      se_reduction=32, out_se_reduction=4, cbam_ratio=6, **fkw)
    return edge, UpsamplingCloud(edge.out_channels, fc, tail), edge.out_channels


def _vgg_stage(in_ch: int, out_ch: int, convs: int) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for _ in range(convs):
        layers += [nn.Conv2d(in_ch, out_ch, 3, 1, 1), BatchNorm2d(out_ch), nn.ReLU(inplace=True)]
        in_ch = out_ch
    return layers + [nn.MaxPool2d(2, 2)]


def _vgg16(in_ch, hw, k, w, fc, funnel, fkw):
    adapter = InputAdapter(in_channels=in_ch, multiple=32, **fkw.pop("normalize"))
    edge = nn.Sequential(adapter, *_vgg_stage(in_ch, w, 2), *_vgg_stage(w, fc, 2))
    h, wd = (_padded(s, 32) // 32 for s in hw)
    tail = nn.Sequential(
        *_vgg_stage(fc, 4 * w, 3), *_vgg_stage(4 * w, 8 * w, 3), *_vgg_stage(8 * w, 8 * w, 3), nn.Flatten(),
        nn.Linear(8 * w * h * wd, 8 * w), nn.ReLU(inplace=True), nn.Dropout(0.5),
        nn.Linear(8 * w, 8 * w), nn.ReLU(inplace=True), nn.Dropout(0.5), nn.Linear(8 * w, k),
    )
    if not funnel:
        return edge, tail, fc
    fedge = FunnelEdge(edge, in_channels=fc, mid_channels=max(1, fc // 4), pool=False,
                       se_reduction=32, out_se_reduction=4, cbam_ratio=4, **fkw)
    return fedge, UpsamplingCloud(fedge.out_channels, fc, tail), fedge.out_channels


def _resnet18(in_ch, hw, k, w, fc, funnel, fkw):
    adapter = InputAdapter(in_channels=in_ch, multiple=1, **fkw.pop("normalize"))
    edge = nn.Sequential(
        adapter, nn.Conv2d(in_ch, w, 3, 1, 1, bias=False), BatchNorm2d(w), nn.ReLU(inplace=True),
        ResidualBlock(w, w), ResidualBlock(w, w), ResidualBlock(w, fc, stride=2), ResidualBlock(fc, fc),
    )
    tail = nn.Sequential(
        ResidualBlock(fc, 4 * w, stride=2), ResidualBlock(4 * w, 4 * w),
        ResidualBlock(4 * w, 8 * w, stride=2), ResidualBlock(8 * w, 8 * w),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8 * w, k),
    )
    if not funnel:
        return edge, tail, fc
    fedge = FunnelEdge(edge, in_channels=fc, mid_channels=max(1, fc // 4), pool=False,
                       se_reduction=32, out_se_reduction=2, cbam_ratio=3, **fkw)
    return fedge, UpsamplingCloud(fedge.out_channels, fc, tail), fedge.out_channels


_BUILDERS = {"cnn": _cnn, "vgg16": _vgg16, "resnet18": _resnet18}


def split_parts(
    arch: str = "cnn",
    *,
    in_channels: int = 1,
    image_size: int | tuple[int, int] = 32,
    num_classes: int = 10,
    funnel: bool = False,
    width: int = 64,
    feature_channels: int | None = None,
    funnel_channels: int | None = None,
    output_activation: str = "leaky_relu",
    output_norm: bool = True,
    normalize: tuple[float, float] = (0.5, 0.5),
) -> tuple[nn.Module, nn.Module, int]:
    """``(edge, cloud, channels)`` of an architecture, without a defence applied.

    ``channels`` is the channel count of the edge's output z: the funnel's
    transmitted channels, or ``feature_channels`` (default ``2 * width``)
    without the funnel.  See :func:`build_split` for the arguments.
    """
    if arch not in _BUILDERS:
        raise ValueError(f"arch must be one of {ARCHS}; got {arch!r}")
    in_channels = _pos_int(in_channels, "in_channels")
    hw = _side(image_size)
    num_classes = _pos_int(num_classes, "num_classes", 2)
    width = _pos_int(width, "width")
    fc = _pos_int(2 * width if feature_channels is None else feature_channels, "feature_channels")
    out = FUNNEL_CHANNELS[arch] if funnel_channels is None else _pos_int(funnel_channels, "funnel_channels")
    if not (isinstance(normalize, Sequence) and len(normalize) == 2):
        raise ValueError(f"normalize must be a pair (mean, std); got {normalize!r}")
    fkw = {"normalize": {"mean": normalize[0], "std": normalize[1]}}
    if funnel:
        fkw.update(out_channels=out, output_activation=output_activation, output_norm=bool(output_norm))
    return _BUILDERS[arch](in_channels, hw, num_classes, width, fc, bool(funnel), fkw)


def build_split(
    arch: str = "cnn",
    *,
    defence: Any = None,
    in_channels: int = 1,
    image_size: int | tuple[int, int] = 32,
    num_classes: int = 10,
    funnel: bool | None = None,
    width: int = 64,
    feature_channels: int | None = None,
    funnel_channels: int | None = None,
    output_activation: str = "leaky_relu",
    output_norm: bool = True,
    normalize: tuple[float, float] = (0.5, 0.5),
    seed: int | None = None,
) -> SplitModel:
    """Build a split classifier and apply a defence to it.

    Parameters
    ----------
    arch : "cnn", "vgg16" or "resnet18".
    defence : None/"none", a registered name ("noise", "dropout", "nopeek",
        "mid", "bido", "siftfunnel") or a :class:`~sift_torch.defences.Defence`.
    in_channels, image_size, num_classes : the data (1 or 3 channels; 28, 32,
        64 or any side >= 8; at least 2 classes).
    funnel : use the SiftFunnel edge and upsampling cloud; defaults to
        whether the defence needs it (only "siftfunnel" does).
    width : base channel count (64 as in the papers; smaller for quick runs).
    feature_channels : channels of the undefended split's features (2 * width).
    funnel_channels : transmitted channels of the funnel edge (12 / 4 / 6 for
        cnn / vgg16 / resnet18).
    output_activation, output_norm : the funnel's output stage (default:
        standardise, then LeakyReLU; ``output_norm=False, output_activation="relu"``
        is the authors' edge; see :class:`~sift_torch.models.FunnelEdge`).
    normalize : (mean, std) applied inside the edge to the [0, 1] input.
    seed : initialise the weights from this seed (the global RNG is left untouched).

    Returns a :class:`SplitModel` whose edge maps (N, C, H, W) images in [0, 1] to z.
    """
    from ..defences import make_defence  # defences import the models

    d = make_defence(defence)
    use_funnel = d.uses_funnel if funnel is None else bool(funnel)
    kwargs = dict(
        in_channels=in_channels, image_size=image_size, num_classes=num_classes, funnel=use_funnel,
        width=width, feature_channels=feature_channels, funnel_channels=funnel_channels,
        output_activation=output_activation, output_norm=output_norm, normalize=normalize,
    )
    if seed is None:
        edge, cloud, channels = split_parts(arch, **kwargs)
        return d.protect(edge, cloud, channels=channels)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        edge, cloud, channels = split_parts(arch, **kwargs)
        return d.protect(edge, cloud, channels=channels)
