"""The inverse-network attacker's decoder g: features z -> image, sized from the shapes alone."""

from __future__ import annotations

import math

from .._keras import batch_norm, keras

__all__ = ["build_decoder"]

_ACTIVATIONS = ("relu", "tanh", "leaky_relu")


def _act(name):
    return keras.layers.LeakyReLU(negative_slope=0.2) if name == "leaky_relu" else keras.layers.Activation(name)


def build_decoder(feature_shape, image_shape, *, width: int = 128, min_width: int = 32, activation: str = "relu",
                  name: str = "inversion_decoder"):
    """A functional Keras decoder from one sample's features to an (H, W, C) image in (0, 1).

    The layout of ``sift_torch``'s decoder (channels-last):

    * a feature map (h, w, c): a stride-1 transposed 3x3 convolution to ``width``
      channels; flat features: a Dense layer to a ``width`` x h0 x w0 seed map with
      h0 = ceil(H / 2^k), k = floor(log2(max(H, W) / 4));
    * while the map is smaller than (H, W): a stride-2 transposed 4x4 convolution
      (doubling the size, halving the channels down to ``min_width``), BN, activation;
    * a bilinear resize to exactly (H, W) when the doublings over- or undershoot,
      a 3x3 convolution to C channels and a sigmoid.
    """
    feature_shape = tuple(int(s) for s in feature_shape)
    h_img, w_img, c_img = (int(s) for s in image_shape)
    if not feature_shape or min(feature_shape) < 1:
        raise ValueError(f"feature_shape must be the non-empty shape of one sample's features; got {feature_shape}")
    if min(h_img, w_img, c_img) < 1:
        raise ValueError(f"image_shape must be (H, W, C) with positive sizes; got {image_shape}")
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {_ACTIVATIONS}; got {activation!r}")
    inputs = keras.Input(feature_shape)
    if len(feature_shape) == 3:
        h, w = feature_shape[:2]
        x = keras.layers.Conv2DTranspose(width, 3, padding="same")(inputs)
    else:
        k = max(0, int(math.floor(math.log2(max(h_img, w_img) / 4)))) if max(h_img, w_img) > 4 else 0
        h, w = math.ceil(h_img / 2**k), math.ceil(w_img / 2**k)
        x = keras.layers.Dense(width * h * w)(keras.layers.Flatten()(inputs))
        x = keras.layers.Reshape((h, w, width))(x)
    x = _act(activation)(batch_norm()(x))
    c = width
    while h < h_img or w < w_img:
        c = max(c // 2, min_width)
        x = keras.layers.Conv2DTranspose(c, 4, strides=2, padding="same")(x)
        x = _act(activation)(batch_norm()(x))
        h, w = 2 * h, 2 * w
    if (h, w) != (h_img, w_img):
        x = keras.layers.Resizing(h_img, w_img, interpolation="bilinear", antialias=True)(x)
    outputs = keras.layers.Conv2D(c_img, 3, padding="same", activation="sigmoid")(x)
    return keras.Model(inputs, outputs, name=name)
