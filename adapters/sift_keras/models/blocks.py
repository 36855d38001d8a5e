"""Building blocks shared by the edge and cloud models (all channels-last)."""

from __future__ import annotations

from .._keras import batch_norm, check_positive_int, keras, ops, serializable

__all__ = ["InputAdapter", "ConvBlock", "ResidualBlock", "Sequence", "deserialize_optional", "serialize_optional"]


def serialize_optional(obj):
    return None if obj is None else keras.saving.serialize_keras_object(obj)


def deserialize_optional(config):
    return None if config is None else keras.saving.deserialize_keras_object(config)


def _per_channel(value, name: str) -> list[float]:
    values = [float(v) for v in (value if isinstance(value, (list, tuple)) else [value])]
    if not values:
        raise ValueError(f"{name} must be a number or a non-empty list of numbers; got {value!r}")
    return values


@serializable
class InputAdapter(keras.layers.Layer):
    """Maps images in [0, 1] to what the first convolution expects: ``sift_torch``'s ``InputAdapter``,
    channels-last.

    Zero-pads the spatial size up to a multiple of ``multiple`` (28x28 becomes 32x32 for networks
    that halve the size four or five times, as the authors did for Fashion-MNIST; the border is
    black in [0, 1] image space) and then standardises ``(x - mean) / std`` per channel. Keeping
    both inside the edge lets every attack and penalty see the raw [0, 1] image.
    """

    def __init__(self, *, multiple: int = 1, mean=0.5, std=0.5, **kwargs):
        super().__init__(**kwargs)
        self.multiple = check_positive_int(multiple, "multiple")
        self.mean = _per_channel(mean, "mean")
        self.std = _per_channel(std, "std")
        if min(self.std) <= 0:
            raise ValueError(f"std must be positive; got {std!r}")

    def padding(self, height: int, width: int) -> tuple[tuple[int, int], tuple[int, int]]:
        """((top, bottom), (left, right)) zero padding for an input of this size (torch's split)."""
        ph, pw = (-height) % self.multiple, (-width) % self.multiple
        return (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2)

    def build(self, input_shape):
        channels = input_shape[-1]
        for name, values in (("mean", self.mean), ("std", self.std)):
            if channels is not None and len(values) not in (1, channels):
                raise ValueError(f"{name} must have 1 or {channels} entries (the input's channels); got {len(values)}")

    def call(self, x):
        h, w = x.shape[1], x.shape[2]
        if h is None or w is None:
            raise ValueError("InputAdapter needs images of known height and width")
        top_bottom, left_right = self.padding(int(h), int(w))
        if any(top_bottom + left_right):
            x = ops.pad(x, ((0, 0), top_bottom, left_right, (0, 0)))
        mean = ops.convert_to_tensor(self.mean, dtype=x.dtype)
        std = ops.convert_to_tensor(self.std, dtype=x.dtype)
        return (x - mean) / std

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        if h is not None:
            h += (-h) % self.multiple
        if w is not None:
            w += (-w) % self.multiple
        return (b, h, w, c)

    def get_config(self):
        return {**super().get_config(), "multiple": self.multiple, "mean": self.mean, "std": self.std}


def check_normalize(normalize) -> list | None:
    """``normalize`` = (mean, std) as a list (its form in a model's config), or None."""
    if normalize is None:
        return None
    if not (isinstance(normalize, (list, tuple)) and len(normalize) == 2):
        raise ValueError(f"normalize must be a pair (mean, std) or None; got {normalize!r}")
    return list(normalize)


def input_adapter(normalize, multiple: int):
    """The edge's first layer for ``normalize`` = (mean, std), or None for raw [0, 1] inputs."""
    normalize = check_normalize(normalize)
    if normalize is None:
        return None
    return InputAdapter(multiple=multiple, mean=normalize[0], std=normalize[1], name="input_adapter")


@serializable
class ConvBlock(keras.layers.Layer):
    """conv kxk -> batch norm -> [max-pool 2] -> ReLU (the SiftFunnel CNN's block order)."""

    def __init__(self, filters: int, kernel_size: int = 3, *, pool: bool = True, pool_padding: str = "valid",
                 **kwargs):
        super().__init__(**kwargs)
        self.filters = check_positive_int(filters, "filters")
        self.kernel_size = check_positive_int(kernel_size, "kernel_size")
        self.pool = bool(pool)
        if pool_padding not in ("valid", "same"):
            raise ValueError(f"pool_padding must be 'valid' or 'same'; got {pool_padding!r}")
        self.pool_padding = pool_padding
        self.conv = keras.layers.Conv2D(self.filters, self.kernel_size, padding="same", name="conv")
        self.bn = batch_norm(name="bn")
        self.maxpool = keras.layers.MaxPooling2D(2, padding=pool_padding) if self.pool else None

    def build(self, input_shape):
        self.conv.build(input_shape)
        self.bn.build(tuple(input_shape[:3]) + (self.filters,))

    def call(self, x, training=None):
        x = self.bn(self.conv(x), training=training)
        if self.maxpool is not None:
            x = self.maxpool(x)
        return ops.relu(x)

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        if self.pool and h is not None:
            h, w = ((h + 1) // 2, (w + 1) // 2) if self.pool_padding == "same" else (h // 2, w // 2)
        return (b, h, w, self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "pool": self.pool, "pool_padding": self.pool_padding}


@serializable
class ResidualBlock(keras.layers.Layer):
    """ResNet basic block: two 3x3 conv-BN with a projection shortcut when the shape changes (He et al. 2016)."""

    def __init__(self, filters: int, *, stride: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.filters = check_positive_int(filters, "filters")
        self.stride = check_positive_int(stride, "stride")
        self.conv1 = keras.layers.Conv2D(self.filters, 3, strides=self.stride, padding="same", use_bias=False)
        self.bn1 = batch_norm()
        self.conv2 = keras.layers.Conv2D(self.filters, 3, padding="same", use_bias=False)
        self.bn2 = batch_norm()
        self.proj = self.proj_bn = None

    def build(self, input_shape):
        if self.stride != 1 or input_shape[-1] != self.filters:
            self.proj = keras.layers.Conv2D(self.filters, 1, strides=self.stride, use_bias=False)
            self.proj_bn = batch_norm()

    def call(self, x, training=None):
        y = ops.relu(self.bn1(self.conv1(x), training=training))
        y = self.bn2(self.conv2(y), training=training)
        shortcut = x if self.proj is None else self.proj_bn(self.proj(x), training=training)
        return ops.relu(y + shortcut)

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        if h is not None:
            h, w = -(-h // self.stride), -(-w // self.stride)
        return (b, h, w, self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "stride": self.stride}


class Sequence(keras.Model):
    """A model that applies ``self.blocks`` in order, passing ``training`` to each.

    Subclasses build ``self.blocks`` in ``__init__`` from their constructor
    arguments and return those arguments from ``get_config``, so the ``.keras``
    format rebuilds them exactly.
    """

    blocks: list

    def call(self, x, training=None):
        for block in self.blocks:
            x = block(x, training=training)
        return x
