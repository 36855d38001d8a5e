"""Cost of an edge model: parameters, FLOPs and the size of what it transmits.

FLOPs are counted with forward hooks on the layers that dominate the cost,
per input sample:

* ``Conv2d`` / ``ConvTranspose2d``: ``MACs = out_elements * (C_in / groups) * k_h * k_w``,
  plus one addition per output for a bias;
* ``Linear``: ``MACs = out_elements * in_features`` (+ bias);
* ``BatchNorm``: one multiply and one add per element (the affine form at inference).

``flops = 2 * MACs`` for the matrix products (multiply + add) and 2 per
element for BN.  Activations, pooling and the attention gates' elementwise
products are not counted (O(elements), a small fraction of the convolutions
here); the convention matches thop/ptflops' conv+linear counts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

__all__ = ["EdgeProfile", "profile_edge", "count_parameters", "count_flops"]


@dataclass(frozen=True)
class EdgeProfile:
    """What running an edge model costs and what it sends, for one input sample."""

    input_shape: tuple[int, ...]
    feature_shape: tuple[int, ...]
    params: int
    trainable_params: int
    macs: int
    flops: int

    @property
    def feature_size(self) -> int:
        """Number of transmitted values per sample."""
        n = 1
        for s in self.feature_shape:
            n *= s
        return n

    @property
    def input_size(self) -> int:
        n = 1
        for s in self.input_shape:
            n *= s
        return n

    @property
    def compression(self) -> float:
        """feature_size / input_size (below 1: fewer values sent than the raw input)."""
        return self.feature_size / self.input_size

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(feature_size=self.feature_size, input_size=self.input_size, compression=self.compression)
        d["input_shape"] = list(self.input_shape)
        d["feature_shape"] = list(self.feature_shape)
        return d


def count_parameters(module: nn.Module, *, trainable_only: bool = False) -> int:
    """Number of parameters (shared ones once)."""
    seen = {}
    for p in module.parameters():
        if trainable_only and not p.requires_grad:
            continue
        seen[id(p)] = p.numel()
    return sum(seen.values())


def _layer_macs(module: nn.Module, inp: torch.Tensor, out: torch.Tensor) -> tuple[int, int]:
    """(MACs, extra FLOPs) of one layer call."""
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
                           nn.ConvTranspose3d)):
        k = 1
        for s in module.kernel_size:
            k *= s
        if isinstance(module, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
            # every input element is scattered through the kernel to C_out / groups outputs
            macs = inp.numel() * (module.out_channels // module.groups) * k
        else:
            macs = out.numel() * (module.in_channels // module.groups) * k
        return macs, out.numel() if module.bias is not None else 0
    if isinstance(module, nn.Linear):
        return out.numel() * module.in_features, out.numel() if module.bias is not None else 0
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return 0, 2 * out.numel()
    return 0, 0


def count_flops(module: nn.Module, example: torch.Tensor) -> tuple[int, int, torch.Tensor]:
    """(MACs, FLOPs, output) of ``module(example)`` counted with forward hooks (see the module docstring)."""
    totals = [0, 0]

    def hook(mod, inputs, output):
        if not isinstance(output, torch.Tensor) or not inputs or not isinstance(inputs[0], torch.Tensor):
            return
        macs, extra = _layer_macs(mod, inputs[0], output)
        totals[0] += macs
        totals[1] += 2 * macs + extra

    handles = [m.register_forward_hook(hook) for m in module.modules() if not list(m.children())]
    try:
        with torch.no_grad():
            out = module(example)
    finally:
        for h in handles:
            h.remove()
    return totals[0], totals[1], out


def profile_edge(edge: nn.Module, input_shape: tuple[int, ...]) -> EdgeProfile:
    """Parameters, per-sample MACs/FLOPs and transmitted feature shape of ``edge``.

    ``input_shape`` is (C, H, W) (or (1, C, H, W)).  The edge runs once on a
    zero image in evaluation mode (its mode is restored afterwards) on the
    device of its parameters.
    """
    if not isinstance(edge, nn.Module):
        raise TypeError(f"edge must be a torch.nn.Module; got {type(edge).__name__}")
    shape = tuple(int(s) for s in input_shape)
    if len(shape) == 4:
        if shape[0] != 1:
            raise ValueError(f"input_shape must describe one sample, (C, H, W) or (1, C, H, W); got {input_shape}")
        shape = shape[1:]
    if len(shape) < 1 or any(s < 1 for s in shape):
        raise ValueError(f"input_shape must be (C, H, W) with positive sizes; got {input_shape}")
    param = next(iter(edge.parameters()), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    was_training = edge.training
    edge.eval()
    try:
        macs, flops, out = count_flops(edge, torch.zeros((1, *shape), device=device, dtype=dtype))
    finally:
        edge.train(was_training)
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"edge must return a tensor; got {type(out).__name__}")
    return EdgeProfile(
        input_shape=shape,
        feature_shape=tuple(out.shape[1:]),
        params=count_parameters(edge),
        trainable_params=count_parameters(edge, trainable_only=True),
        macs=int(macs),
        flops=int(flops),
    )
