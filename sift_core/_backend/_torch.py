"""PyTorch operations; the framework module is passed in, never imported here."""

from __future__ import annotations

import numpy as np

from ._numpy import Ops
from ._unwrap import unwrap


class TorchOps(Ops):
    name = "torch"

    def __init__(self, torch):
        self.t = torch

    @property
    def eager(self):  # noqa: D401 - property
        return True

    def _acc_dtype(self, x):
        # float64 is not available on Apple's MPS devices.
        return self.t.float32 if x.device.type == "mps" else self.t.float64

    def asfloat(self, x):
        t = self.t
        x = unwrap(x)
        if not isinstance(x, t.Tensor):
            x = t.as_tensor(x)
        if x.is_complex():
            raise TypeError("complex tensors are not supported")
        if not x.is_floating_point():
            x = x.to(self._acc_dtype(x))
        elif x.dtype in (t.float16, t.bfloat16):
            x = x.float()
        return x

    def to_acc(self, x):
        return x.to(self._acc_dtype(x))

    def cast_like(self, x, like):
        return x.to(like.dtype)

    def shape(self, x):
        return tuple(x.shape)

    def is_finite_all(self, x):
        # A device tensor would force a host synchronisation: check on CPU only.
        if x.device.type != "cpu":
            return True
        return bool(self.t.isfinite(x).all())

    def sqrt(self, x):
        return self.t.sqrt(x)

    def exp(self, x):
        return self.t.exp(x)

    def expm1(self, x):
        return self.t.expm1(x)

    def log(self, x):
        return self.t.log(x)

    def abs(self, x):
        return self.t.abs(x)

    def maximum(self, x, y):
        if not isinstance(y, self.t.Tensor):
            return self.t.clamp(x, min=y)
        return self.t.maximum(x, y)

    def minimum(self, x, y):
        if not isinstance(y, self.t.Tensor):
            return self.t.clamp(x, max=y)
        return self.t.minimum(x, y)

    def clip(self, x, lo, hi):
        return self.t.clamp(x, lo, hi)

    def where(self, cond, a, b):
        return self.t.where(cond, a, b)

    def softplus(self, x):
        return self.t.nn.functional.softplus(x)

    def sum(self, x, axis=None, keepdims=False):
        if axis is None:
            return self.t.sum(x)
        return self.t.sum(x, dim=axis, keepdim=keepdims)

    def mean(self, x, axis=None, keepdims=False):
        if axis is None:
            return self.t.mean(x)
        return self.t.mean(x, dim=axis, keepdim=keepdims)

    def logsumexp(self, x, axis=None):
        if axis is None:
            return self.t.logsumexp(x.reshape(-1), dim=0)
        return self.t.logsumexp(x, dim=axis)

    def matmul(self, a, b):
        return a @ b

    def transpose(self, x, axes=None):
        if axes is None:
            return x.permute(*reversed(range(x.ndim)))
        return x.permute(*axes)

    def reshape(self, x, shape):
        return x.reshape(shape)

    def diag_part(self, x):
        return self.t.diagonal(x, dim1=-2, dim2=-1)

    def eye_like(self, n, like):
        return self.t.eye(n, dtype=like.dtype, device=like.device)

    def zero_diagonal(self, x):
        n = x.shape[-1]
        return x * (1.0 - self.t.eye(n, dtype=x.dtype, device=x.device))

    def stop_gradient(self, x):
        return x.detach()

    def median(self, x):
        # torch.median returns the lower of the two middle values; use quantile
        # semantics of numpy (mean of the two middle values) for parity.
        v = x.detach().reshape(-1)
        return self.t.quantile(v.to(self._acc_dtype(v)), 0.5).to(x.dtype) if v.numel() <= 16_000_000 \
            else v.median()

    def num_rows(self, x):
        return int(x.shape[0])

    def column_median(self, x):
        return x.detach().median(dim=0, keepdim=True).values

    def dim(self, x, axis):
        return int(x.shape[axis])

    def flatten_from(self, x, axis):
        return x.flatten(axis)

    def scalar(self, value, like):
        # a fill kernel: as_tensor would copy from host memory and synchronise a GPU stream
        return self.t.full((), value, dtype=like.dtype, device=like.device)

    def log_softmax(self, x, axis=-1):
        return self.t.log_softmax(x, dim=axis)

    def one_hot(self, labels, num_classes, like):
        labels = self.t.as_tensor(labels, device=like.device).long()
        return self.t.nn.functional.one_hot(labels, num_classes).to(like.dtype)

    def separable_filter2d(self, x, kernel, channels_last=False):
        fn = self.t.nn.functional
        if channels_last:
            x = x.permute(0, 3, 1, 2)
        c = x.shape[1]
        k = self.t.as_tensor(np.asarray(kernel), dtype=x.dtype, device=x.device)
        kk = k.numel()
        # depthwise (groups=C) 1-D passes: the same window for every channel
        x = fn.conv2d(x, k.reshape(1, 1, kk, 1).expand(c, 1, kk, 1), groups=c)
        x = fn.conv2d(x, k.reshape(1, 1, 1, kk).expand(c, 1, 1, kk), groups=c)
        return x.permute(0, 2, 3, 1) if channels_last else x
