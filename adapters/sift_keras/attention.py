"""Attention blocks of the SiftFunnel edge and cloud: SE, triplet attention, CBAM.

All three are channels-last by default (``data_format=None`` follows
``keras.config.image_data_format()``); a channels-first input is transposed to
channels-last inside the layer, so the convolutions always run in the layout
every Keras backend supports on CPU.

References: Hu et al., "Squeeze-and-Excitation Networks", CVPR 2018;
Misra et al., "Rotate to Attend: Convolutional Triplet Attention Module", WACV 2021;
Woo et al., "CBAM: Convolutional Block Attention Module", ECCV 2018.
"""

from __future__ import annotations

from ._keras import batch_norm, check_positive_int, keras, ops, serializable

__all__ = ["SqueezeExcitation", "TripletAttention", "CBAM", "AttentionGate"]


def _data_format(value):
    value = keras.config.image_data_format() if value is None else value
    if value not in ("channels_last", "channels_first"):
        raise ValueError(f"data_format must be 'channels_last', 'channels_first' or None; got {value!r}")
    return value


def _check_rank4(shape, name):
    if len(shape) != 4:
        raise ValueError(f"{name} expects a 4-D feature map (batch, H, W, C); got shape {tuple(shape)}")


class _ChannelsLastLayer(keras.layers.Layer):
    """Base: ``_call_nhwc`` sees channels-last tensors whatever ``data_format`` is."""

    def __init__(self, *, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _data_format(data_format)

    def _nhwc_shape(self, input_shape):
        _check_rank4(input_shape, type(self).__name__)
        if self.data_format == "channels_first":
            b, c, h, w = input_shape
            return (b, h, w, c)
        return tuple(input_shape)

    def call(self, x, training=None):
        if self.data_format == "channels_first":
            y = self._call_nhwc(ops.transpose(x, (0, 2, 3, 1)), training)
            return ops.transpose(y, (0, 3, 1, 2))
        return self._call_nhwc(x, training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


@serializable
class SqueezeExcitation(_ChannelsLastLayer):
    """Squeeze-and-excitation: ``x * sigmoid(W2 relu(W1 mean_hw(x)))`` per channel.

    ``W1`` maps C to ``max(1, C // reduction)`` units and ``W2`` back to C, both
    without bias (as in the SiftFunnel edge).
    """

    def __init__(self, reduction: int = 16, *, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.reduction = check_positive_int(reduction, "reduction")

    def build(self, input_shape):
        c = self._nhwc_shape(input_shape)[-1]
        self.squeeze = keras.layers.Dense(max(1, c // self.reduction), use_bias=False, activation="relu", name="fc1")
        self.excite = keras.layers.Dense(c, use_bias=False, activation="sigmoid", name="fc2")
        self.squeeze.build((None, c))
        self.excite.build((None, self.squeeze.units))

    def _call_nhwc(self, x, training):
        w = self.excite(self.squeeze(ops.mean(x, axis=(1, 2))))
        return x * ops.expand_dims(ops.expand_dims(w, 1), 1)

    def get_config(self):
        return {**super().get_config(), "reduction": self.reduction}


@serializable
class AttentionGate(keras.layers.Layer):
    """One branch of triplet attention on a channels-last map: pool the last axis to
    [max, mean] (Z-pool), convolve 7x7 to one map, batch-normalise, sigmoid, rescale."""

    def __init__(self, kernel_size: int = 7, **kwargs):
        super().__init__(**kwargs)
        self.kernel_size = check_positive_int(kernel_size, "kernel_size")
        self.conv = keras.layers.Conv2D(1, self.kernel_size, padding="same", use_bias=False, name="conv")
        self.bn = batch_norm(name="bn")

    def build(self, input_shape):
        _check_rank4(input_shape, "AttentionGate")
        self.conv.build(tuple(input_shape[:3]) + (2,))
        self.bn.build(tuple(input_shape[:3]) + (1,))

    def call(self, x, training=None):
        pooled = ops.concatenate([ops.max(x, axis=-1, keepdims=True), ops.mean(x, axis=-1, keepdims=True)], axis=-1)
        return x * ops.sigmoid(self.bn(self.conv(pooled), training=training))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size}


@serializable
class TripletAttention(_ChannelsLastLayer):
    """Triplet attention: the mean of three :class:`AttentionGate` branches that
    attend over the (H, W), (W, C) and (H, C) planes, each after pooling the third
    axis.  ``no_spatial=True`` drops the (H, W) branch."""

    def __init__(self, kernel_size: int = 7, *, no_spatial: bool = False, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.kernel_size = check_positive_int(kernel_size, "kernel_size")
        self.no_spatial = bool(no_spatial)
        self.gate_cw = AttentionGate(self.kernel_size, name="gate_cw")
        self.gate_hc = AttentionGate(self.kernel_size, name="gate_hc")
        self.gate_hw = None if self.no_spatial else AttentionGate(self.kernel_size, name="gate_hw")

    def build(self, input_shape):
        b, h, w, c = self._nhwc_shape(input_shape)
        self.gate_cw.build((b, w, c, h))
        self.gate_hc.build((b, h, c, w))
        if self.gate_hw is not None:
            self.gate_hw.build((b, h, w, c))

    def _call_nhwc(self, x, training):
        # (B, H, W, C) -> (B, W, C, H): the gate pools H and attends over (W, C)
        cw = ops.transpose(self.gate_cw(ops.transpose(x, (0, 2, 3, 1)), training=training), (0, 3, 1, 2))
        # (B, H, W, C) -> (B, H, C, W): pools W, attends over (H, C)
        hc = ops.transpose(self.gate_hc(ops.transpose(x, (0, 1, 3, 2)), training=training), (0, 1, 3, 2))
        if self.gate_hw is None:
            return 0.5 * (cw + hc)
        return (cw + hc + self.gate_hw(x, training=training)) / 3.0

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size, "no_spatial": self.no_spatial}


@serializable
class CBAM(_ChannelsLastLayer):
    """Convolutional block attention: channel attention then spatial attention.

    Channel: ``sigmoid(MLP(avgpool(x)) + MLP(maxpool(x)))`` with a shared bias-free
    MLP C -> max(1, C // ratio) -> C.  Spatial: ``sigmoid(conv7x7([mean_c(x), max_c(x)]))``.
    """

    def __init__(self, ratio: int = 16, kernel_size: int = 7, *, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.ratio = check_positive_int(ratio, "ratio")
        self.kernel_size = check_positive_int(kernel_size, "kernel_size")
        self.spatial = keras.layers.Conv2D(1, self.kernel_size, padding="same", use_bias=False, name="spatial")

    def build(self, input_shape):
        b, h, w, c = self._nhwc_shape(input_shape)
        self.fc1 = keras.layers.Dense(max(1, c // self.ratio), use_bias=False, activation="relu", name="fc1")
        self.fc2 = keras.layers.Dense(c, use_bias=False, name="fc2")
        self.fc1.build((None, c))
        self.fc2.build((None, self.fc1.units))
        self.spatial.build((b, h, w, 2))

    def _call_nhwc(self, x, training):
        mlp = lambda v: self.fc2(self.fc1(v))
        ca = ops.sigmoid(mlp(ops.mean(x, axis=(1, 2))) + mlp(ops.max(x, axis=(1, 2))))
        x = x * ops.expand_dims(ops.expand_dims(ca, 1), 1)
        pooled = ops.concatenate([ops.mean(x, axis=-1, keepdims=True), ops.max(x, axis=-1, keepdims=True)], axis=-1)
        return x * ops.sigmoid(self.spatial(pooled))

    def get_config(self):
        return {**super().get_config(), "ratio": self.ratio, "kernel_size": self.kernel_size}
