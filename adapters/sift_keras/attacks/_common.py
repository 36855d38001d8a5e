"""What both attacks share: how to query the target, input checks, validation of options."""

from __future__ import annotations

import warnings

import numpy as np

from sift_core.validation import check_int, check_positive

from .._keras import keras

__all__ = ["observe", "as_images", "check_int", "check_positive", "white_box_edge"]


def check_target(target, name: str = "edge"):
    if not callable(target):
        raise TypeError(f"{name} must be a Keras model/layer (or a SplitModel); got {type(target).__name__}")
    return target


def as_images(x, name: str, image_shape=None) -> np.ndarray:
    """float32 (N, H, W, C) images in [0, 1], checked."""
    a = np.asarray(x, dtype=np.float32)
    if a.ndim != 4:
        raise ValueError(f"{name} must have shape (N, H, W, C); got {a.shape}")
    if image_shape is not None and tuple(a.shape[1:]) != tuple(image_shape):
        raise ValueError(f"{name} must hold images of shape {tuple(image_shape)}; got {a.shape[1:]}")
    if a.shape[0] < 1:
        raise ValueError(f"{name} holds no images")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return a


def observe(target, x: np.ndarray, *, batch_size: int = 256) -> np.ndarray:
    """The features an eavesdropper sees for inputs ``x``, in inference mode, batch by batch.

    A :class:`~sift_keras.trainer.SplitModel` is queried through ``transmit``
    (its defence's noise or dropout included, one draw per query); any other
    Keras model or layer is called with ``training=False``.
    """
    fn = target.transmit if hasattr(target, "transmit") else target
    out = [keras.ops.convert_to_numpy(fn(x[i:i + batch_size], training=False))
           for i in range(0, x.shape[0], batch_size)]
    return np.concatenate(out).astype(np.float32)


def white_box_edge(target):
    """The differentiable edge function a white-box attacker inverts (the SplitModel's edge, before its defence)."""
    return target.edge if hasattr(target, "transmit") and hasattr(target, "edge") else target


def progress_flag(progress: bool, verbose, owner: str) -> bool:
    """``progress`` (sift_torch's name), or the deprecated ``verbose`` when it is given."""
    if verbose is None:
        return bool(progress)
    warnings.warn(f"{owner}: verbose is now progress (the name sift_torch uses)", DeprecationWarning, stacklevel=3)
    return verbose == "auto" or bool(verbose)
