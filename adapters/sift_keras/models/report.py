"""Size and cost of an edge model: parameters, FLOPs and the transmitted feature size."""

from __future__ import annotations

import dataclasses
import math

from .._keras import keras

__all__ = ["EdgeReport", "edge_report"]


@dataclasses.dataclass(frozen=True)
class EdgeReport:
    """What an edge model costs on the device and sends to the cloud.

    ``flops`` counts floating-point operations of one forward pass of one
    sample (a multiply-add is 2), as TensorFlow's graph profiler counts them
    on the frozen inference graph; ``None`` on backends other than TensorFlow.
    """

    params: int
    flops: int | None
    feature_shape: tuple[int, ...]

    @property
    def feature_size(self) -> int:
        """Values transmitted per sample."""
        return int(math.prod(self.feature_shape))

    def to_dict(self) -> dict:
        return {"params": self.params, "flops": self.flops, "feature_shape": list(self.feature_shape),
                "feature_size": self.feature_size}


def edge_report(edge, input_shape) -> EdgeReport:
    """Parameters, FLOPs and feature shape of ``edge`` for one (H, W, C) input of ``input_shape``."""
    input_shape = tuple(int(s) for s in input_shape)
    if len(input_shape) != 3 or min(input_shape) < 1:
        raise ValueError(f"input_shape must be (H, W, C) with positive sizes; got {input_shape}")
    z = edge(keras.ops.zeros((1, *input_shape)), training=False)
    feature_shape = tuple(int(s) for s in z.shape[1:])
    return EdgeReport(params=int(edge.count_params()), flops=_tf_flops(edge, input_shape),
                      feature_shape=feature_shape)


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
