"""Export the trained edge to ONNX, and run such a file on numpy inputs with onnxruntime.

The edge is what runs on the device, so it is what gets exported: the module
is traced in inference mode (BatchNorm with its running statistics; a defence
that acts at inference, such as Gaussian noise on ``z``, is exported with its
random ops) at one sample's ``input_shape``, with a dynamic batch axis, and the
file is written atomically (a temporary file in the same folder, then renamed),
so an interrupted export never leaves a truncated model behind.

Needs the ``onnx`` extra (``pip install "siftfunnel[torch,onnx]"``) to run the
exported file; the export itself uses torch's TorchScript-based exporter, which
needs nothing beyond torch.
"""

from __future__ import annotations

import inspect
import logging
import os
import warnings

import numpy as np
import torch
from torch import nn

from sift_core.files import temp_file_beside

__all__ = ["export_onnx", "onnx_features"]

logger = logging.getLogger(__name__)

#: ONNX opset written by default: supported by onnxruntime >= 1.14 and by torch >= 2.1's exporter
DEFAULT_OPSET = 17


def _edge_of(model: nn.Module) -> nn.Module:
    # a SplitModel exports its edge: the part that runs on the device
    edge = getattr(model, "edge", None)
    return edge if isinstance(edge, nn.Module) and hasattr(model, "cloud") else model


def _check_shape(input_shape) -> tuple[int, ...]:
    try:
        shape = tuple(int(s) for s in input_shape)
        exact = all(int(s) == s and not isinstance(s, bool) for s in input_shape)
    except (TypeError, ValueError):
        raise TypeError(f"input_shape must be a sequence of positive integers, e.g. (1, 28, 28); "
                        f"got {input_shape!r}") from None
    if not shape or not exact or min(shape) < 1:
        raise ValueError(f"input_shape must be one sample's shape of positive integers, e.g. (1, 28, 28); "
                         f"got {input_shape!r}")
    return shape


def export_onnx(edge: nn.Module, path, *, input_shape, opset: int = DEFAULT_OPSET) -> str:
    """Write ``edge`` (an edge module, or a SplitModel's edge) to the ONNX file ``path``; returns the path.

    Parameters
    ----------
    edge : the module that runs on the device; a :class:`~sift_torch.SplitModel` exports its ``edge``.
    path : where to write the ``.onnx`` file (folders are created; an existing file is replaced atomically).
    input_shape : one sample's shape, e.g. ``(C, H, W)``; the file takes batches ``(N, *input_shape)`` of
        any ``N`` (input ``"x"``, output ``"z"``, both float32).
    opset : ONNX opset version.

    The module is traced in ``eval()`` mode and left in the mode it was in. Its outputs in onnxruntime
    match torch's to float32 rounding (tests/torch_adapter/test_export_onnx.py measures the gap).
    """
    if not isinstance(edge, nn.Module):
        raise TypeError(f"edge must be a torch.nn.Module; got {type(edge).__name__}")
    if isinstance(opset, bool) or not isinstance(opset, int) or opset < 7:
        raise ValueError(f"opset must be an integer >= 7; got {opset!r}")
    shape = _check_shape(input_shape)
    try:
        path = os.fspath(path)
    except TypeError:
        raise TypeError(f"path must be a file path; got {type(path).__name__}") from None
    module = _edge_of(edge)
    param = next(module.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    # batch 2, not 1: a size-1 batch can be specialised away by the tracer (squeezes, broadcasts)
    example = torch.zeros((2, *shape), dtype=torch.float32, device=device)

    fd, tmp = temp_file_beside(path, suffix=".onnx")
    os.close(fd)
    kwargs = {}
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False  # the TorchScript exporter: no onnxscript dependency, a dynamic batch axis
    was_training = module.training
    module.eval()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            # the exporter's notice that a newer exporter exists, and the tracer's notes on the input checks
            # (shape checks turn into constants, which is right for a fixed per-sample shape)
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            torch.onnx.export(module, (example,), tmp, input_names=["x"], output_names=["z"],
                              dynamic_axes={"x": {0: "batch"}, "z": {0: "batch"}}, opset_version=opset,
                              do_constant_folding=True, **kwargs)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    finally:
        module.train(was_training)
    logger.info("exported %s to %s (%d bytes, opset %d, input (N, %s))", type(module).__name__, path,
                os.path.getsize(path), opset, ", ".join(map(str, shape)))
    return path


def onnx_features(path, x, *, num_threads: int | None = None) -> np.ndarray:
    """Run the exported edge at ``path`` on ``x`` (N, *input_shape) with onnxruntime's CPU provider.

    Returns the features ``z`` (N, ...) as float32 numpy. Needs onnxruntime (the ``onnx`` extra).
    """
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise ImportError('onnx_features needs onnxruntime: pip install "siftfunnel[onnx]"') from exc
    x = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    options = ort.SessionOptions()
    if num_threads is not None:
        if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1:
            raise ValueError(f"num_threads must be a positive integer; got {num_threads!r}")
        options.intra_op_num_threads = num_threads
    if not os.path.isfile(path):
        raise FileNotFoundError(f"path: no ONNX file at {os.fspath(path)!r}")
    try:
        session = ort.InferenceSession(os.fspath(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's own exception classes (InvalidProtobuf, Fail, ...) are not public
        raise ValueError(f"path: {os.fspath(path)!r} is not a loadable ONNX model ({exc})") from exc
    expected = session.get_inputs()[0].shape[1:]
    if x.ndim != len(expected) + 1 or any(isinstance(e, int) and e != s for e, s in zip(expected, x.shape[1:])):
        raise ValueError(f"x must have shape (N, {', '.join(map(str, expected))}); got {x.shape}")
    return session.run(None, {session.get_inputs()[0].name: x})[0]
