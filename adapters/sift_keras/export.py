"""Export the trained edge to a TFLite flatbuffer, and run such a flatbuffer on numpy inputs.

The edge is what runs on the device, so it is what gets exported: the
inference graph (BatchNorm with its moving statistics, no defence noise) is
traced at a fixed input shape, converted with ``tf.lite.TFLiteConverter``
and written atomically.  ``optimize=True`` applies the converter's default
(dynamic-range, 8-bit weight) quantisation, which changes the features by a
few percent; the default keeps float32 weights.
"""

from __future__ import annotations

import os

import numpy as np

from sift_core.files import write_atomically

from ._keras import keras

__all__ = ["export_tflite", "tflite_features"]


def _edge_of(model):
    # a SplitModel exports its edge: the part that runs on the device
    return model.edge if hasattr(model, "transmit") and hasattr(model, "edge") else model


def export_tflite(model, path, *, input_shape, batch_size: int = 1, optimize: bool = False) -> str:
    """Convert ``model`` (an edge, or a SplitModel's edge) to a ``.tflite`` file; returns the path.

    ``input_shape`` is one sample's (H, W, C); the flatbuffer takes batches of
    exactly ``batch_size`` (1: one image per device query).  TensorFlow backend only.
    """
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError("TFLite export needs the TensorFlow backend of Keras")
    import tensorflow as tf

    edge = _edge_of(model)
    input_shape = tuple(int(s) for s in input_shape)
    if len(input_shape) != 3 or min(input_shape) < 1:
        raise ValueError(f"input_shape must be (H, W, C) with positive sizes; got {input_shape}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}")
    fn = tf.function(lambda x: edge(x, training=False))
    concrete = fn.get_concrete_function(tf.TensorSpec((batch_size, *input_shape), tf.float32, name="x"))
    # No trackable object: a Keras 3 model passed as one makes the converter read garbage weights;
    # the concrete function's captured variables are frozen correctly without it.
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete])
    if optimize:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    flatbuffer = converter.convert()
    path = os.fspath(path)
    write_atomically(path, lambda fh: fh.write(flatbuffer), suffix=".tflite")
    return path


def _interpreter_class():
    try:  # the maintained home of the interpreter
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import warnings

        import tensorflow as tf

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # tf.lite.Interpreter's deprecation notice
            return lambda **kw: tf.lite.Interpreter(**kw)
    return Interpreter


def tflite_features(path, x, *, num_threads: int | None = None) -> np.ndarray:
    """Run the exported edge at ``path`` on ``x`` (N, H, W, C) float32; returns the features (N, ...).

    The flatbuffer's batch size is fixed at export, so ``x`` is fed in chunks
    of that size (the last one zero-padded, its padding dropped from the output).
    """
    import warnings

    x = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    if x.ndim != 4:
        raise ValueError(f"x must have shape (N, H, W, C); got {x.shape}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        interpreter = _interpreter_class()(model_path=os.fspath(path), num_threads=num_threads)
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    b = int(inp["shape"][0])
    if tuple(int(s) for s in inp["shape"][1:]) != x.shape[1:]:
        raise ValueError(f"x must hold samples of shape {tuple(int(s) for s in inp['shape'][1:])}; got {x.shape[1:]}")
    chunks = []
    for i in range(0, x.shape[0], b):
        chunk = x[i:i + b]
        n = chunk.shape[0]
        if n < b:
            chunk = np.concatenate([chunk, np.zeros((b - n, *x.shape[1:]), np.float32)])
        interpreter.set_tensor(inp["index"], chunk)
        interpreter.invoke()
        chunks.append(np.array(interpreter.get_tensor(out["index"]))[:n])
    return np.concatenate(chunks)
