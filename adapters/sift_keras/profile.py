"""Size and cost of an edge model: parameters, FLOPs and the transmitted feature size.

The names are sift_torch's (``profile_edge``, ``EdgeProfile``, ``count_parameters``); the FLOPs
come from TensorFlow's graph profiler where sift_torch counts them with forward hooks.
"""

from __future__ import annotations

import dataclasses
import math
import warnings

from ._keras import keras

__all__ = ["EdgeProfile", "profile_edge", "count_parameters", "EdgeReport", "edge_report"]


@dataclasses.dataclass(frozen=True)
class EdgeProfile:
    """What running an edge model costs and what it sends, for one input sample.

    ``flops`` counts floating-point operations of one forward pass (a multiply-add is 2), as
    TensorFlow's graph profiler counts them on the frozen inference graph; ``None`` on Keras
    backends other than TensorFlow.
    """

    input_shape: tuple[int, ...]
    feature_shape: tuple[int, ...]
    params: int
    trainable_params: int
    flops: int | None

    @property
    def feature_size(self) -> int:
        """Values transmitted per sample."""
        return int(math.prod(self.feature_shape))

    @property
    def input_size(self) -> int:
        return int(math.prod(self.input_shape))

    @property
    def compression(self) -> float:
        """feature_size / input_size (below 1: fewer values sent than the raw input)."""
        return self.feature_size / self.input_size

    def to_dict(self) -> dict:
        return {"input_shape": list(self.input_shape), "feature_shape": list(self.feature_shape),
                "params": self.params, "trainable_params": self.trainable_params, "flops": self.flops,
                "feature_size": self.feature_size, "input_size": self.input_size, "compression": self.compression}


def count_parameters(model, *, trainable_only: bool = False) -> int:
    """Number of parameters of a built Keras model or layer (only trainable ones if asked)."""
    weights = model.trainable_weights if trainable_only else model.weights
    return int(sum(math.prod(int(d) for d in w.shape) for w in weights))


def profile_edge(edge, input_shape) -> EdgeProfile:
    """Parameters, FLOPs and feature shape of ``edge`` for one (H, W, C) input of ``input_shape``."""
    input_shape = tuple(int(s) for s in input_shape)
    if len(input_shape) != 3 or min(input_shape) < 1:
        raise ValueError(f"input_shape must be (H, W, C) with positive sizes; got {input_shape}")
    z = edge(keras.ops.zeros((1, *input_shape)), training=False)
    feature_shape = tuple(int(s) for s in z.shape[1:])
    return EdgeProfile(input_shape=input_shape, feature_shape=feature_shape, params=count_parameters(edge),
                       trainable_params=count_parameters(edge, trainable_only=True),
                       flops=_tf_flops(edge, input_shape))


#: the name before sift_torch's was adopted (kept so that existing code runs)
EdgeReport = EdgeProfile


def edge_report(edge, input_shape) -> EdgeProfile:
    """Deprecated name of :func:`profile_edge` (sift_torch's name)."""
    warnings.warn("sift_keras.edge_report is now profile_edge (the name sift_torch uses)", DeprecationWarning,
                  stacklevel=2)
    return profile_edge(edge, input_shape)


def _tf_flops(edge, input_shape) -> int | None:
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
    from tensorflow.python.profiler import model_analyzer, option_builder

    fn = tf.function(lambda t: edge(t, training=False)).get_concrete_function(tf.TensorSpec((1, *input_shape)))
    graph = convert_variables_to_constants_v2(fn).graph
    opts = option_builder.ProfileOptionBuilder.float_operation()
    opts["output"] = "none"
    return int(model_analyzer.profile(graph, options=opts).total_float_ops)
