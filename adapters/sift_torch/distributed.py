"""torch.distributed helpers: set-up under ``torchrun`` and batch gathering for the penalties.

Which batch the dependence penalties see
----------------------------------------
Under DistributedDataParallel every process holds a local batch of ``b``
samples and the global batch has ``W * b``.  A per-sample average (the task
loss, mean|z|, R_P) averaged over processes *is* the global statistic, and
DDP's gradient averaging makes the update identical to one process on the
global batch.  Distance correlation and HSIC are not per-sample averages:
they compare every pair of samples, and dCor on ``b`` samples is a different,
noisier (and, for the V-statistic, more biased) statistic than on ``W * b``.

The losses here therefore compute dCor/HSIC on the **gathered** batch by
default (``penalty_batch="global"``): ``x`` (and labels) are all-gathered
without gradient, ``z`` with an all-gather whose backward sums the gradients
from every process (an all-reduce) and keeps this process's slice.  Each process then
computes the same global penalty; its gradient reaches each process's own
``z`` slice ``W`` times (once per process), and DDP's division by ``W`` makes
the parameter update exactly that of one process on the global batch.  The
cost is one all-gather of x and z per step and an O((W b)^2) penalty on
every process.  ``penalty_batch="local"`` computes the penalties on the
local batch (no communication; the optimised statistic is then the average
of per-process dCor values, a different objective).

Batch norm keeps per-process statistics under DDP (SyncBatchNorm needs CUDA),
so a model with BN in training mode gives losses that differ from the
single-process run by that much; a model without BN matches it to rounding.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

__all__ = ["is_distributed", "world", "setup_distributed", "gather_batch", "PENALTY_BATCHES"]

PENALTY_BATCHES = ("global", "local")


def is_distributed() -> bool:
    """True inside an initialised process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world() -> tuple[int, int]:
    """(rank, world size); (0, 1) outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def setup_distributed(*, backend: str | None = None, device: str | torch.device | None = None) -> bool:
    """Initialise the default process group from ``torchrun``'s environment.

    Does nothing (returns False) when ``WORLD_SIZE`` is absent or 1, or when a
    group already exists.  The backend defaults to NCCL for CUDA devices and
    gloo otherwise; for CUDA the process's device becomes ``LOCAL_RANK``.
    """
    if not dist.is_available() or dist.is_initialized():
        return False
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    dev = torch.device(device) if device is not None else None
    cuda = (dev is not None and dev.type == "cuda") or (dev is None and torch.cuda.is_available())
    if backend is None:
        backend = "nccl" if cuda else "gloo"
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend)
    return True


def gather_batch(t: torch.Tensor, *, differentiable: bool) -> torch.Tensor:
    """Concatenate every process's ``t`` along dim 0 (rank order); ``t`` itself outside DDP.

    All processes must pass tensors of the same shape (the trainer drops the
    last incomplete batch).  With ``differentiable=True`` the gradient flows
    back to each process's own slice.
    """
    if not is_distributed():
        return t
    if differentiable:
        return _GatherWithGrad.apply(t)
    parts = [torch.empty_like(t) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, t.detach().contiguous())
    return torch.cat(parts, dim=0)


class _GatherWithGrad(torch.autograd.Function):
    """All-gather along dim 0 whose backward sums every process's gradient and keeps this process's slice.

    (The same as ``torch.distributed.nn.functional.all_gather``, with only
    all_gather and all_reduce, which every backend implements.)
    """

    @staticmethod
    def forward(ctx, t: torch.Tensor) -> torch.Tensor:
        ctx.rank, ctx.n = dist.get_rank(), t.shape[0]
        parts = [torch.empty_like(t) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, t.contiguous())
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)  # every process's loss depends on every slice
        return grad[ctx.rank * ctx.n: (ctx.rank + 1) * ctx.n]
