"""Import Keras with the TensorFlow backend unless the user picked another one."""

from __future__ import annotations

import os

# Must happen before the first ``import keras`` anywhere in the process.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# TensorFlow turns its oneDNN CPU kernels on only for some CPUs (AVX-512 extensions). Without them
# the funnel's small convolutions (the attention gates' 7x7, 2 -> 1 channel) ran 4.6x slower and
# training the demo's SiftFunnel model took 1.8x as long (docs/keras.md, "Speed"). Before
# TensorFlow's first import only; TF_ENABLE_ONEDNN_OPTS=0 keeps them off.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

import keras  # noqa: E402
from keras import ops  # noqa: E402

from sift_core.validation import check_non_negative, check_positive_int  # noqa: E402

PACKAGE = "sift_keras"

__all__ = ["keras", "ops", "PACKAGE", "serializable", "check_positive_int", "check_non_negative", "batch_norm",
           "require_tensorflow"]


def serializable(cls):
    """Register ``cls`` for ``.keras`` saving under the ``sift_keras`` package name."""
    return keras.saving.register_keras_serializable(package=PACKAGE)(cls)


def batch_norm(**kwargs):
    """BatchNormalization with PyTorch's defaults (momentum 0.1 there, 0.9 in Keras's convention; eps 1e-5).

    Keras's default momentum 0.99 leaves the moving statistics far from the
    data after the few hundred steps of a short run, and inference then fails;
    the first batches are averaged exactly (:class:`sift_keras.norm.BatchNormalization`).
    """
    from .norm import BatchNormalization  # the debiased layer; norm imports this module

    return BatchNormalization(momentum=0.9, epsilon=1e-5, **kwargs)


def require_tensorflow(what: str) -> None:
    """Refuse, by name, a TensorFlow-only procedure on another Keras backend (instead of a conversion error)."""
    name = keras.backend.backend()
    if name != "tensorflow":
        raise RuntimeError(f"{what} needs Keras's TensorFlow backend (KERAS_BACKEND=tensorflow); KERAS_BACKEND is "
                           f"{name!r}. The training, the defences and the inverse-network attack run on every backend.")
