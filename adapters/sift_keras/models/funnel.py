"""The SiftFunnel edge (funnel) and the cloud's upsampling module (docs/method.md, "Architecture").

Edge: a shallow conv block (or any existing edge as ``trunk``), SE, triplet
attention, then the *funnel*: 1x1 convolutions narrowing the channels
(C -> 16 -> 12) with 3x3/5x5 convolutions between, then SE and CBAM, then
standardisation and the output activation (as ``sift_torch``).
Cloud: 3x3 convolutions projecting the few channels back up, BN, ReLU, triplet
attention, then the rest of the classifier (the CNN tail, or any existing cloud
as ``tail``).

The authors' funnel ends in a ReLU that died within ~30 batches at their
default learning rate (every transmitted value 0, no gradient, chance
accuracy).  The default ``output_activation="leaky_relu"`` (slope 0.1) cannot
die: its gradient is never zero.  ``"relu"`` reproduces the original.
"""

from __future__ import annotations

from .._keras import batch_norm, check_positive_int, keras, serializable
from ..attention import CBAM, SqueezeExcitation, TripletAttention
from .blocks import ConvBlock, Sequence, check_normalize, deserialize_optional, input_adapter, serialize_optional
from .zoo import PlainCNNCloud

__all__ = ["FunnelHead", "FunnelEdge", "UpsamplingModule", "UpsamplingCloud", "ACTIVATIONS", "make_activation",
           "funnel_split"]


#: output activations a funnel accepts (the names sift_torch uses)
ACTIVATIONS = ("leaky_relu", "relu", "identity", "tanh", "silu")


def make_activation(name: str, *, negative_slope: float = 0.1):
    """The Keras layer for output activation ``name`` (one of :data:`ACTIVATIONS`)."""
    if name == "leaky_relu":
        return keras.layers.LeakyReLU(negative_slope=float(negative_slope))
    if name in ("relu", "tanh", "silu"):
        return keras.layers.Activation(name)
    if name == "identity":
        return keras.layers.Identity()
    raise ValueError(f"output_activation must be one of {ACTIVATIONS}; got {name!r}")


@serializable
class FunnelHead(keras.layers.Layer):
    """The channel funnel (the authors' ``block2_mix``) followed by SE and CBAM.

    conv1x1(C -> ``mid_channels``) -> BN -> ReLU -> [max-pool 2] ->
    conv1x1(-> ``out_channels``) -> conv3x3 -> SiLU -> conv1x1 -> conv3x3 ->
    conv5x5 -> SE(``out_se_reduction``) -> CBAM(``cbam_ratio``) -> standardise ->
    ``output_activation``.  ``output_norm=False`` gives the authors' order
    (``... conv5x5 -> output_activation -> SE -> CBAM``, no standardisation);
    see ``sift_torch.FunnelEdge`` for why the default standardises z.
    """

    def __init__(self, out_channels: int = 12, *, mid_channels: int = 16, pool: bool = False,
                 output_activation: str = "leaky_relu", negative_slope: float = 0.1, out_se_reduction: int = 4,
                 cbam_ratio: int = 6, output_norm: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.out_channels = check_positive_int(out_channels, "out_channels")
        if not isinstance(output_norm, bool):
            raise TypeError(f"output_norm must be a bool; got {type(output_norm).__name__}")
        self.output_norm = output_norm
        self.mid_channels = check_positive_int(mid_channels, "mid_channels")
        self.pool = bool(pool)
        make_activation(output_activation, negative_slope=negative_slope)  # validates the name
        self.output_activation = output_activation
        self.negative_slope = float(negative_slope)
        self.out_se_reduction = check_positive_int(out_se_reduction, "out_se_reduction")
        self.cbam_ratio = check_positive_int(cbam_ratio, "cbam_ratio")

    def build(self, input_shape):
        c = self.out_channels
        conv = lambda f, k: keras.layers.Conv2D(f, k, padding="same")
        self.layers_ = [
            conv(self.mid_channels, 1), batch_norm(), keras.layers.Activation("relu"),
            *([keras.layers.MaxPooling2D(2)] if self.pool else []),
            conv(c, 1), conv(c, 3), keras.layers.Activation("silu"), conv(c, 1), conv(c, 3), conv(c, 5),
        ]
        act = make_activation(self.output_activation, negative_slope=self.negative_slope)
        attention = [SqueezeExcitation(self.out_se_reduction, data_format="channels_last"),
                     CBAM(self.cbam_ratio, data_format="channels_last")]
        # standardised: the cloud is batch-normalised, so without it L1 shrinks z's scale freely
        self.layers_ += [*attention, batch_norm(center=False, scale=False), act] if self.output_norm \
            else [act, *attention]
        shape = tuple(input_shape)
        for layer in self.layers_:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)

    def call(self, x, training=None):
        for layer in self.layers_:
            x = layer(x, training=training)
        return x

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        if self.pool and h is not None:
            h, w = h // 2, w // 2
        return (b, h, w, self.out_channels)

    def get_config(self):
        return {**super().get_config(), "out_channels": self.out_channels, "mid_channels": self.mid_channels,
                "pool": self.pool, "output_activation": self.output_activation,
                "negative_slope": self.negative_slope, "out_se_reduction": self.out_se_reduction,
                "cbam_ratio": self.cbam_ratio, "output_norm": self.output_norm}


@serializable
class FunnelEdge(Sequence):
    """SiftFunnel edge model: ``trunk -> SE -> triplet attention -> funnel -> SE -> CBAM``.

    Parameters
    ----------
    trunk : the layers before the funnel: an existing edge model (a Keras
        layer/model mapping (N, H, W, C) images to (N, h, w, C_in)), or ``None``
        for the authors' CNN block (conv3x3 ``base_channels`` -> BN -> max-pool -> ReLU)
        behind an :class:`InputAdapter` (zero padding to a multiple of 16, as the
        authors' 28 -> 32, and standardisation by ``normalize`` = (mean, std); None: raw
        [0, 1] inputs, as models saved before the adapter existed).
    out_channels : transmitted channels (12 in the authors' CNN).
    mid_channels : the funnel's intermediate width (16 in the authors' CNN).
    pool : halve the spatial size inside the funnel; default ``True`` with the
        CNN block (a 28x28 or 32x32 input is sent as 8x8x12) and
        ``False`` with a given trunk (the old cloud then sees its usual size).
    output_activation : "leaky_relu" (default, slope ``negative_slope``), "relu"
        (the authors'), "identity", "tanh", "silu".
    se_reduction, out_se_reduction, cbam_ratio : attention bottlenecks (32, 4, 6).
    output_norm : standardise z (batch norm without affine parameters) before
        the output activation (default, as ``sift_torch``); False: the authors' edge.

    Input and output are channels-last.
    """

    def __init__(self, trunk=None, *, out_channels: int = 12, mid_channels: int = 16, pool: bool | None = None,
                 base_channels: int = 64, output_activation: str = "leaky_relu", negative_slope: float = 0.1,
                 se_reduction: int = 32, out_se_reduction: int = 4, cbam_ratio: int = 6, output_norm: bool = True,
                 normalize=(0.5, 0.5), **kwargs):
        super().__init__(**kwargs)
        normalize = check_normalize(normalize)
        self.normalize = None if trunk is not None else normalize  # a given trunk takes its own inputs
        self.base_channels = check_positive_int(base_channels, "base_channels")
        self.se_reduction = check_positive_int(se_reduction, "se_reduction")
        self._custom_trunk = trunk is not None
        if trunk is not None and not callable(trunk):
            raise TypeError(f"trunk must be a Keras layer or model; got {type(trunk).__name__}")
        self.trunk = ConvBlock(self.base_channels, name="trunk") if trunk is None else trunk
        self.head = FunnelHead(out_channels, mid_channels=mid_channels, pool=(trunk is None) if pool is None else pool,
                               output_activation=output_activation, negative_slope=negative_slope,
                               out_se_reduction=out_se_reduction, cbam_ratio=cbam_ratio, output_norm=output_norm,
                               name="funnel")
        self.out_channels = self.head.out_channels
        adapter = input_adapter(self.normalize, 16)
        self.blocks = ([adapter] if adapter is not None else []) + [
            self.trunk, SqueezeExcitation(self.se_reduction, data_format="channels_last", name="se"),
            TripletAttention(data_format="channels_last", name="triplet"), self.head]

    def get_config(self):
        h = self.head
        return {**super().get_config(), "trunk": serialize_optional(self.trunk if self._custom_trunk else None),
                "out_channels": h.out_channels, "mid_channels": h.mid_channels, "pool": h.pool,
                "base_channels": self.base_channels, "output_activation": h.output_activation,
                "negative_slope": h.negative_slope, "se_reduction": self.se_reduction,
                "out_se_reduction": h.out_se_reduction, "cbam_ratio": h.cbam_ratio, "output_norm": h.output_norm,
                "normalize": self.normalize}

    @classmethod
    def from_config(cls, config):
        config = {"normalize": None, **config}  # saved before the input adapter: raw inputs
        config["trunk"] = deserialize_optional(config.get("trunk"))
        return cls(**config)


@serializable
class UpsamplingModule(keras.layers.Layer):
    """Cloud entry: conv3x3 -> conv3x3 (both to ``channels``, no bias) -> BN -> ReLU -> triplet attention.

    Projects the few transmitted channels back up (channels only, no spatial upsampling).
    """

    def __init__(self, channels: int, **kwargs):
        super().__init__(**kwargs)
        self.channels = check_positive_int(channels, "channels")
        self.conv1 = keras.layers.Conv2D(self.channels, 3, padding="same", use_bias=False, name="conv1")
        self.conv2 = keras.layers.Conv2D(self.channels, 3, padding="same", use_bias=False, name="conv2")
        self.bn = batch_norm(name="bn")
        self.triplet = TripletAttention(data_format="channels_last", name="triplet")

    def build(self, input_shape):
        out = tuple(input_shape[:3]) + (self.channels,)
        self.conv1.build(input_shape)
        self.conv2.build(out)
        self.bn.build(out)
        self.triplet.build(out)

    def call(self, x, training=None):
        x = keras.ops.relu(self.bn(self.conv2(self.conv1(x)), training=training))
        return self.triplet(x, training=training)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:3]) + (self.channels,)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}


@serializable
class UpsamplingCloud(Sequence):
    """SiftFunnel cloud model: :class:`UpsamplingModule` to ``out_channels``, then ``tail``.

    ``tail`` maps (N, h, w, ``out_channels``) to logits: an existing cloud model,
    or ``None`` for the CNN's tail (:class:`PlainCNNCloud` with ``num_classes``
    and ``base_channels``; ``out_channels`` then defaults to ``2 * base_channels``,
    the channel count of the undefended CNN's split).
    """

    def __init__(self, out_channels: int | None = None, tail=None, *, num_classes: int | None = None,
                 base_channels: int = 64, dropout: float = 0.5, **kwargs):
        super().__init__(**kwargs)
        self.base_channels = check_positive_int(base_channels, "base_channels")
        self.dropout = float(dropout)
        self.num_classes = num_classes
        self._custom_tail = tail is not None
        if tail is None:
            if num_classes is None:
                raise ValueError("num_classes is required when tail is None")
            check_positive_int(num_classes, "num_classes")
            tail = PlainCNNCloud(num_classes, base_channels=self.base_channels, dropout=self.dropout, name="tail")
            out_channels = 2 * self.base_channels if out_channels is None else out_channels
        elif not callable(tail):
            raise TypeError(f"tail must be a Keras layer or model; got {type(tail).__name__}")
        elif out_channels is None:
            raise ValueError("out_channels (the channel count the tail expects) is required with tail=")
        self.out_channels = check_positive_int(out_channels, "out_channels")
        self.up = UpsamplingModule(self.out_channels, name="upsampling")
        self.tail = tail
        self.blocks = [self.up, self.tail]

    def get_config(self):
        return {**super().get_config(), "out_channels": self.out_channels,
                "tail": serialize_optional(self.tail if self._custom_tail else None), "num_classes": self.num_classes,
                "base_channels": self.base_channels, "dropout": self.dropout}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["tail"] = deserialize_optional(config.get("tail"))
        return cls(**config)


def funnel_split(num_classes: int, *, out_channels: int = 12, base_channels: int = 64, input_shape=None,
                 **edge_kwargs):
    """``(FunnelEdge, UpsamplingCloud)`` of the authors' SiftFunnel CNN.

    ``edge_kwargs`` go to :class:`FunnelEdge` (``output_activation``, ...).  With
    ``input_shape`` (H, W, C) both models are built at once.
    """
    edge = FunnelEdge(out_channels=out_channels, base_channels=base_channels, name="funnel_edge", **edge_kwargs)
    cloud = UpsamplingCloud(num_classes=num_classes, base_channels=base_channels, name="upsampling_cloud")
    if input_shape is not None:
        cloud(edge(keras.ops.zeros((1, *input_shape))))
    return edge, cloud
