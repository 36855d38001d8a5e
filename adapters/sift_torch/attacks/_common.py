"""What both attacks share: a frozen, eval-mode view of the edge, its device, input checks and batching."""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = [
    "edge_device",
    "frozen_edge",
    "as_images",
    "as_features",
    "iter_batches",
    "check_image_shape",
    "query_edge",
]


def edge_device(edge: nn.Module, default: torch.device | str | None = None) -> torch.device:
    """The device of the edge's first parameter (or buffer); ``default`` (else CPU) for a stateless edge."""
    for t in edge.parameters():
        return t.device
    for t in edge.buffers():
        return t.device
    return torch.device(default) if default is not None else torch.device("cpu")


@contextlib.contextmanager
def frozen_edge(edge: nn.Module) -> Iterator[nn.Module]:
    """Put ``edge`` in eval mode with ``requires_grad=False`` on every parameter; restore both on exit.

    Eval mode is what the deployed edge runs in: BatchNorm uses its running statistics (and
    does not update them), dropout and noise layers that act only in training are off. Freezing
    the parameters keeps gradients from accumulating in the target model, while gradients with
    respect to the *input* (which rMLE needs) still flow.
    """
    if not isinstance(edge, nn.Module):
        raise TypeError(f"edge must be a torch.nn.Module; got {type(edge).__name__}")
    modes = [(m, m.training) for m in edge.modules()]
    grads = [(p, p.requires_grad) for p in edge.parameters()]
    edge.eval()
    for p, _ in grads:
        p.requires_grad_(False)
    try:
        yield edge
    finally:
        for m, mode in modes:
            m.training = mode
        for p, flag in grads:
            p.requires_grad_(flag)


def check_image_shape(image_shape: Any, name: str = "image_shape") -> tuple[int, int, int]:
    """Validate a (C, H, W) image shape."""
    try:
        shape = tuple(image_shape)
    except TypeError:
        raise TypeError(f"{name} must be a (channels, height, width) tuple; got {image_shape!r}") from None
    if len(shape) != 3 or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in shape):
        raise ValueError(f"{name} must be three integers (channels, height, width); got {image_shape!r}")
    if min(shape) < 1:
        raise ValueError(f"{name} must be positive; got {image_shape!r}")
    return tuple(int(s) for s in shape)  # type: ignore[return-value]


def _to_tensor(x: Any, name: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        t = x.detach()
    else:
        try:
            arr = np.asarray(x)
        except Exception as exc:  # noqa: BLE001 - report which argument could not be read
            raise TypeError(f"{name} must be a torch tensor or an array; got {type(x).__name__}") from exc
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold real numbers; got dtype {arr.dtype}")
        t = torch.from_numpy(np.ascontiguousarray(arr))
    if t.is_complex() or t.dtype == torch.bool:
        raise TypeError(f"{name} must hold real numbers; got dtype {t.dtype}")
    if not t.is_floating_point():
        t = t.to(torch.float32)
    elif t.dtype == torch.float64:
        t = t.to(torch.float32)
    return t


def as_images(x: Any, name: str, image_shape: tuple[int, int, int] | None = None) -> torch.Tensor:
    """A float32 (N, C, H, W) batch of images in [0, 1] (checked), on its own device."""
    t = _to_tensor(x, name)
    if t.ndim != 4:
        raise ValueError(f"{name} must have shape (N, C, H, W); got {tuple(t.shape)}")
    if t.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    if image_shape is not None and tuple(t.shape[1:]) != tuple(image_shape):
        raise ValueError(f"{name} must have images of shape {tuple(image_shape)}; got {tuple(t.shape[1:])}")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    # Attacks and their metrics work in the data range [0, 1]; normalisation belongs in the edge.
    lo, hi = float(t.min()), float(t.max())
    if lo < -1e-6 or hi > 1 + 1e-6:
        raise ValueError(
            f"{name} must lie in [0, 1] (got values in [{lo:.3g}, {hi:.3g}]); "
            "put any normalisation inside the edge module"
        )
    return t.clamp(0.0, 1.0)


def as_features(z: Any, name: str = "z") -> torch.Tensor:
    """A float32 batch of features (N, ...), finite."""
    t = _to_tensor(z, name)
    if t.ndim < 2:
        raise ValueError(f"{name} must have a sample axis and at least one feature axis; got shape {tuple(t.shape)}")
    if t.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return t


def iter_batches(n: int, batch_size: int) -> Iterable[slice]:
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


@torch.no_grad()
def query_edge(edge: nn.Module, x: torch.Tensor, *, batch_size: int, device: torch.device) -> torch.Tensor:
    """Features of ``x`` from the frozen edge, computed in batches on the edge's device, returned on the CPU.

    ``device`` is used only for an edge without parameters or buffers.
    """
    device = edge_device(edge, default=device)
    out = []
    with frozen_edge(edge):
        for sl in iter_batches(x.shape[0], batch_size):
            z = edge(x[sl].to(device))
            if not isinstance(z, torch.Tensor):
                raise TypeError(f"the edge must return a tensor; got {type(z).__name__}")
            out.append(z.detach().float().cpu())
    return torch.cat(out)
