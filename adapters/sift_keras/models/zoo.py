"""Undefended split baselines: a plain CNN, VGG-16 and ResNet-18, each cut into edge + cloud.

Every model is channels-last and works for 1- or 3-channel inputs of 28x28,
32x32 and 64x64 (and other sizes): pooling in the cloud uses ``"same"``
padding so odd maps such as 7x7 keep shrinking to 1x1 instead of vanishing,
and the classifier is sized when the model is built.  ``width`` /
``base_channels`` scale every layer (64 is the published size; tests use less).

* CNN (the SiftFunnel paper's): edge = 2 conv blocks (64, 128 channels, each
  conv3x3 -> BN -> max-pool -> ReLU), cloud = 2 more (256, 512) and
  ``Dense(5 * num_classes) -> Dropout(0.5) -> Dense(num_classes)``.
* VGG-16 with batch norm (Simonyan and Zisserman 2015): edge = the first two
  stages (64, 64, pool, 128, 128, pool), cloud = the other three and
  ``Dense(512) -> ReLU -> Dropout -> Dense``.
* ResNet-18, CIFAR stem (He et al. 2016): edge = stem + layer1 + layer2
  (128 channels at half resolution), cloud = layer3 + layer4 + global pooling + Dense.
"""

from __future__ import annotations

from .._keras import batch_norm, check_positive_int, keras, ops, serializable
from .blocks import ConvBlock, ResidualBlock, Sequence, check_normalize, input_adapter

__all__ = [
    "PlainCNNEdge", "PlainCNNCloud", "VGG16Edge", "VGG16Cloud", "ResNet18Edge", "ResNet18Cloud", "split_baseline",
]


def _scaled(width: int, channels: int) -> int:
    return max(1, channels * width // 64)


def _vgg_stage(filters: int, n: int, name: str) -> list:
    out = []
    for i in range(n):
        out += [keras.layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv{i + 1}"),
                batch_norm(name=f"{name}_bn{i + 1}"),
                keras.layers.Activation("relu")]
    return out + [keras.layers.MaxPooling2D(2, padding="same", name=f"{name}_pool")]


class _Configured(Sequence):
    """A :class:`Sequence` whose config is the dict of its constructor arguments."""

    def __init__(self, **kwargs):
        base = {k: kwargs.pop(k) for k in ("name", "dtype", "trainable") if k in kwargs}
        super().__init__(**base)
        self._args = dict(kwargs)

    def get_config(self):
        return {**super().get_config(), **self._args}


class _Edge(_Configured):
    """An undefended edge: ``normalize`` = (mean, std) puts an :class:`InputAdapter` first (zero padding
    to a multiple of ``PAD_MULTIPLE`` and standardisation, as ``sift_torch``'s edges); None takes
    [0, 1] images as they are (models saved before the adapter existed load that way)."""

    PAD_MULTIPLE = 1

    def __init__(self, *, normalize=(0.5, 0.5), **kwargs):
        normalize = check_normalize(normalize)
        super().__init__(normalize=normalize, **kwargs)
        self._adapter = input_adapter(normalize, self.PAD_MULTIPLE)

    def _with_adapter(self, blocks: list) -> list:
        return ([self._adapter] if self._adapter is not None else []) + blocks

    @classmethod
    def from_config(cls, config):
        return cls(**{"normalize": None, **config})


@serializable
class PlainCNNEdge(_Edge):
    """Edge of the undefended CNN: conv blocks with ``base_channels`` and ``2 * base_channels``
    (inputs padded to a multiple of 16, as the authors' 28 -> 32 for Fashion-MNIST)."""

    PAD_MULTIPLE = 16

    def __init__(self, *, base_channels: int = 64, **kwargs):
        check_positive_int(base_channels, "base_channels")
        super().__init__(base_channels=base_channels, **kwargs)
        self.blocks = self._with_adapter([ConvBlock(base_channels, name="block1"),
                                          ConvBlock(2 * base_channels, name="block2")])


@serializable
class PlainCNNCloud(_Configured):
    """Cloud of the CNN: conv blocks with 4x and 8x ``base_channels`` (same-padded pooling), then the classifier."""

    def __init__(self, num_classes: int, *, base_channels: int = 64, hidden_units: int | None = None,
                 dropout: float = 0.5, **kwargs):
        check_positive_int(num_classes, "num_classes")
        check_positive_int(base_channels, "base_channels")
        hidden = 5 * num_classes if hidden_units is None else check_positive_int(hidden_units, "hidden_units")
        super().__init__(num_classes=num_classes, base_channels=base_channels, hidden_units=hidden_units,
                         dropout=float(dropout), **kwargs)
        self.blocks = [
            ConvBlock(4 * base_channels, pool_padding="same", name="block3"),
            ConvBlock(8 * base_channels, pool_padding="same", name="block4"),
            keras.layers.Flatten(), keras.layers.Dense(hidden, name="fc1"),
            keras.layers.Dropout(float(dropout)), keras.layers.Dense(num_classes, name="logits"),
        ]


@serializable
class VGG16Edge(_Edge):
    """The first two VGG-16-BN stages (2 x ``width``, 2 x ``2 * width`` convs, each stage pooled;
    inputs padded to a multiple of 32)."""

    PAD_MULTIPLE = 32

    def __init__(self, *, width: int = 64, **kwargs):
        check_positive_int(width, "width")
        super().__init__(width=width, **kwargs)
        self.blocks = self._with_adapter(_vgg_stage(_scaled(width, 64), 2, "s1")
                                         + _vgg_stage(_scaled(width, 128), 2, "s2"))


@serializable
class VGG16Cloud(_Configured):
    """The last three VGG-16-BN stages (256, 512, 512 scaled by ``width / 64``) and the classifier."""

    def __init__(self, num_classes: int, *, width: int = 64, dropout: float = 0.5, **kwargs):
        check_positive_int(num_classes, "num_classes")
        check_positive_int(width, "width")
        super().__init__(num_classes=num_classes, width=width, dropout=float(dropout), **kwargs)
        w = lambda c: _scaled(width, c)
        self.blocks = (_vgg_stage(w(256), 3, "s3") + _vgg_stage(w(512), 3, "s4") + _vgg_stage(w(512), 3, "s5")
                       + [keras.layers.Flatten(), keras.layers.Dense(w(512), activation="relu", name="fc1"),
                          keras.layers.Dropout(float(dropout)), keras.layers.Dense(num_classes, name="logits")])


@serializable
class ResNet18Edge(_Edge):
    """ResNet-18 stem (conv3x3, BN, ReLU), layer1 (2 blocks) and layer2 (2 blocks, stride 2)."""

    def __init__(self, *, width: int = 64, **kwargs):
        check_positive_int(width, "width")
        super().__init__(width=width, **kwargs)
        w = lambda c: _scaled(width, c)
        self.blocks = self._with_adapter([
            keras.layers.Conv2D(w(64), 3, padding="same", use_bias=False, name="stem_conv"),
            batch_norm(name="stem_bn"), keras.layers.Activation("relu"),
            ResidualBlock(w(64)), ResidualBlock(w(64)), ResidualBlock(w(128), stride=2), ResidualBlock(w(128))])


@serializable
class ResNet18Cloud(_Configured):
    """ResNet-18 layer3 and layer4 (stride 2 each), global average pooling and the classifier."""

    def __init__(self, num_classes: int, *, width: int = 64, **kwargs):
        check_positive_int(num_classes, "num_classes")
        check_positive_int(width, "width")
        super().__init__(num_classes=num_classes, width=width, **kwargs)
        w = lambda c: _scaled(width, c)
        self.blocks = [ResidualBlock(w(256), stride=2), ResidualBlock(w(256)),
                       ResidualBlock(w(512), stride=2), ResidualBlock(w(512)),
                       keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(num_classes, name="logits")]


_SPLITS = {"cnn": (PlainCNNEdge, PlainCNNCloud, "base_channels"), "vgg16": (VGG16Edge, VGG16Cloud, "width"),
           "resnet18": (ResNet18Edge, ResNet18Cloud, "width")}


def split_baseline(arch: str, num_classes: int, *, input_shape=None, width: int = 64, normalize=(0.5, 0.5)):
    """``(edge, cloud)`` of the undefended ``arch`` in {"cnn", "vgg16", "resnet18"}.

    ``width`` scales the channels (64 = published).  ``normalize`` = (mean, std) of the edge's
    :class:`InputAdapter` (None: no adapter).  With ``input_shape`` (H, W, C) both models are
    built, so their weights exist at once.
    """
    if arch not in _SPLITS:
        raise ValueError(f"arch must be one of {tuple(_SPLITS)}; got {arch!r}")
    edge_cls, cloud_cls, key = _SPLITS[arch]
    edge = edge_cls(**{key: width}, normalize=normalize, name=f"{arch}_edge")
    cloud = cloud_cls(num_classes, **{key: width}, name=f"{arch}_cloud")
    if input_shape is not None:
        z = edge(ops.zeros((1, *input_shape)))
        cloud(z)
    return edge, cloud
