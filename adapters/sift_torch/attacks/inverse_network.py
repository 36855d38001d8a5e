"""Black-box, training-based model inversion: learn a decoder from the edge's features back to inputs."""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import nn

from sift_core.inversion import Plateau
from sift_core.validation import check_int as _check_int
from sift_core.validation import check_positive as _check_positive

from ._common import as_features, as_images, check_image_shape, edge_device, iter_batches, query_edge
from .decoder import build_decoder
from .results import AttackResult

__all__ = ["InverseNetworkAttack"]


class InverseNetworkAttack:
    """Inverse-network attack (He, Zhang & Lee 2019, "Model inversion attacks against
    collaborative inference"; decoder after Dosovitskiy & Brox 2016), trained to convergence.

    The attacker can query the deployed edge ``f`` (black box, eval mode, no gradients) on
    auxiliary data ``x_aux`` from the input distribution, disjoint from the target model's
    training data, and trains a decoder ``g`` to minimise

        (1 / N) * sum_i ||g(f(x_aux_i)) - x_aux_i||^2 / d        (mean squared error)

    with Adam. A fraction ``val_fraction`` of the auxiliary data is held out: after every
    epoch the decoder's BatchNorm statistics are recomputed (see
    :func:`_recalibrate_batchnorm`) and its eval-mode MSE on the held-out part is measured;
    the learning rate halves on a plateau of ``patience // 2`` epochs (twice at most) and
    training stops after ``patience`` epochs without improvement
    (:class:`sift_core.inversion.Plateau`), keeping the best epoch's weights. ``epochs`` is
    only the most it may take. It then reconstructs private inputs from their observed
    features, ``x_hat = g(z)``. The decoder
    (:class:`~sift_torch.attacks.decoder.InversionDecoder`) is sized from the edge's output
    shape and ``image_shape`` on the first call to :meth:`fit`, or pass your own ``decoder``.

    Parameters
    ----------
    edge : nn.Module
        Maps images (N, C, H, W) in [0, 1] to features of any shape (N, ...). It is always
        called in eval mode with its parameters frozen; its training flags and
        ``requires_grad`` are restored afterwards. Stochastic edges (noise on z in eval mode)
        are queried as deployed, one draw per query.
    image_shape : (C, H, W)
        Shape of one input image.
    epochs : the most epochs to train (early stopping usually ends sooner).
    patience : epochs without a held-out improvement before stopping (0 < patience).
    val_fraction : share of ``aux_x`` held out for early stopping, in [0, 0.5); 0 trains
        for exactly ``epochs`` on all of it.
    batch_size : mini-batch size of the decoder; only full batches train (a new order every
        epoch), as a short last batch steps from noisy BatchNorm statistics.
    lr, betas, weight_decay : Adam settings; defaults are those of the paper's code
        (lr 0.01, betas (0.5, 0.999)), which train this decoder well (docs/attacks.md).
    width, min_width, activation : decoder size and activation (see ``InversionDecoder``).
    decoder : nn.Module, optional
        A decoder of your own mapping features to images in [0, 1]; replaces the built one.
    seed : int
        Seeds the decoder's initialisation, the held-out split and the mini-batch order.
    device : torch device, optional
        Where the decoder trains; default: the edge's device (CPU for a stateless edge). The
        edge itself is always queried on its own device.
    progress : bool
        Show a tqdm progress bar during training.
    """

    name = "inverse_network"

    def __init__(
        self,
        edge: nn.Module,
        *,
        image_shape: tuple[int, int, int],
        epochs: int = 200,
        patience: int = 10,
        val_fraction: float = 0.1,
        batch_size: int = 64,
        lr: float = 0.01,
        betas: tuple[float, float] = (0.5, 0.999),
        weight_decay: float = 0.0,
        width: int = 128,
        min_width: int = 32,
        activation: str = "relu",
        decoder: nn.Module | None = None,
        seed: int = 0,
        device: torch.device | str | None = None,
        progress: bool = True,
    ):
        if not isinstance(edge, nn.Module):
            raise TypeError(f"edge must be a torch.nn.Module; got {type(edge).__name__}")
        if decoder is not None and not isinstance(decoder, nn.Module):
            raise TypeError(f"decoder must be a torch.nn.Module or None; got {type(decoder).__name__}")
        self.edge = edge
        self.image_shape = check_image_shape(image_shape)
        self.epochs = _check_int(epochs, "epochs", 1)
        self.patience = _check_int(patience, "patience", 1)
        self.val_fraction = _check_positive(val_fraction, "val_fraction", allow_zero=True)
        if self.val_fraction >= 0.5:
            raise ValueError(f"val_fraction must be in [0, 0.5); got {val_fraction!r}")
        self.batch_size = _check_int(batch_size, "batch_size", 2)
        self.lr = _check_positive(lr, "lr")
        if not (isinstance(betas, (tuple, list)) and len(betas) == 2 and all(0 <= float(b) < 1 for b in betas)):
            raise ValueError(f"betas must be two numbers in [0, 1); got {betas!r}")
        self.betas = (float(betas[0]), float(betas[1]))
        self.weight_decay = _check_positive(weight_decay, "weight_decay", allow_zero=True)
        self.width = _check_int(width, "width", 1)
        self.min_width = _check_int(min_width, "min_width", 1)
        self.activation = activation
        self.seed = _check_int(seed, "seed", 0)
        self.device = torch.device(device) if device is not None else edge_device(edge)
        self.progress = bool(progress)
        self.decoder: nn.Module | None = decoder.to(self.device) if decoder is not None else None
        #: mean training MSE of each epoch
        self.history: list[float] = []
        #: held-out MSE (eval mode) of each epoch; empty with ``val_fraction=0``
        self.val_history: list[float] = []
        #: index (into ``val_history``) of the epoch whose weights were kept
        self.best_epoch: int | None = None
        #: True when training ended on a plateau rather than at ``epochs``
        self.converged = False

    # ------------------------------------------------------------------ training
    def fit(self, aux_x: Any) -> InverseNetworkAttack:
        """Query the edge on ``aux_x`` (N, C, H, W) in [0, 1] and train the decoder on (z, x) pairs.

        Trains until the held-out MSE stops improving (or for ``epochs``) and keeps the best
        epoch's weights; calling ``fit`` again continues from them. Returns ``self``.
        Raises FloatingPointError when the training loss turns NaN or infinite before any
        usable epoch (a diverged attack is reported, never scored).
        """
        x = as_images(aux_x, "aux_x", self.image_shape)
        if x.shape[0] < 2:
            raise ValueError(f"aux_x needs at least 2 images to train the decoder; got {x.shape[0]}")
        z = query_edge(self.edge, x, batch_size=max(self.batch_size, 256), device=self.device)
        generator = torch.Generator().manual_seed(self.seed)
        if self.decoder is None:
            # Initialisation from the seed alone, without touching the global RNG's stream.
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed)
                self.decoder = build_decoder(
                    tuple(z.shape[1:]),
                    self.image_shape,
                    width=self.width,
                    min_width=self.min_width,
                    activation=self.activation,
                ).to(self.device)
        decoder = self.decoder
        n = x.shape[0]
        n_val = int(round(self.val_fraction * n))
        if n_val < 1 or n - n_val < 2:
            n_val = 0
        split = torch.randperm(n, generator=generator)
        val_idx, train_idx = split[:n_val], split[n_val:]
        x_tr, z_tr, x_val, z_val = x[train_idx], z[train_idx], x[val_idx], z[val_idx]
        # BatchNorm statistics for the per-epoch check: from (up to) 512 training features (the kept
        # weights get exact statistics over all of them at the end)
        z_cal = z_tr[: max(512, self.batch_size)]
        optimiser = torch.optim.Adam(decoder.parameters(), lr=self.lr, betas=self.betas, weight_decay=self.weight_decay)
        plateau = Plateau(patience=self.patience, min_delta=1e-3, reductions=2,
                          reduce_patience=max(1, self.patience // 2))
        best_state = None
        self.converged = False
        # Only full batches train (the order is reshuffled every epoch, so no sample is left out for
        # long): a short last batch (8 of 1,800 images at batch 64) gets a full Adam step from noisy
        # BatchNorm statistics, which made the held-out MSE jump for whole epochs and stopped the
        # demo's decoder after 16 epochs at SSIM 0.750; without it: 27 epochs, 0.779 (docs/attacks.md).
        full = min(self.batch_size, x_tr.shape[0])
        bar = _progress(range(self.epochs), self.progress, "inverse network")
        for _ in bar:
            decoder.train()
            order = torch.randperm(x_tr.shape[0], generator=generator)
            total, count = 0.0, 0
            for sl in iter_batches(x_tr.shape[0], self.batch_size):
                idx = order[sl]
                if idx.numel() < full:  # the short last batch (see full above)
                    continue
                xb, zb = x_tr[idx].to(self.device), z_tr[idx].to(self.device)
                loss = torch.mean((decoder(zb) - xb) ** 2)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                total += float(loss.detach()) * idx.numel()
                count += idx.numel()
            self.history.append(total / max(count, 1))
            if not math.isfinite(self.history[-1]) and best_state is None:
                raise FloatingPointError(f"the decoder's training loss is {self.history[-1]} (diverged); "
                                         "lower lr")
            if not n_val:
                continue
            _recalibrate_batchnorm(decoder, z_cal, batch_size=self.batch_size, device=self.device)
            val = _mse(decoder, z_val, x_val, batch_size=max(self.batch_size, 256), device=self.device)
            self.val_history.append(val)
            if plateau.update(val):
                best_state = copy.deepcopy(decoder.state_dict())
                self.best_epoch = len(self.val_history) - 1
            if plateau.reduce:
                for group in optimiser.param_groups:
                    group["lr"] *= 0.5
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(mse=f"{self.history[-1]:.4f}", val=f"{val:.4f}")
            if plateau.stop:
                self.converged = True
                break
        if hasattr(bar, "close"):
            bar.close()
        if best_state is not None:
            decoder.load_state_dict(best_state)
        # exact statistics over all the attacker's features with the kept weights
        _recalibrate_batchnorm(decoder, z, batch_size=self.batch_size, device=self.device)
        decoder.eval()
        return self

    # ------------------------------------------------------------------ attack
    @torch.no_grad()
    def reconstruct(self, z: Any, *, batch_size: int | None = None) -> torch.Tensor:
        """Reconstructions ``g(z)`` (N, C, H, W) in [0, 1] of observed features ``z``, on the CPU."""
        if self.decoder is None:
            raise RuntimeError("the decoder is not trained yet: call fit(aux_x) first")
        z = as_features(z, "z")
        bs = _check_int(batch_size, "batch_size", 1) if batch_size is not None else max(self.batch_size, 256)
        self.decoder.eval()
        out = [self.decoder(z[sl].to(self.device)).float().cpu() for sl in iter_batches(z.shape[0], bs)]
        return torch.cat(out)

    def evaluate(self, private_x: Any, *, batch_size: int | None = None) -> AttackResult:
        """Attack held-out ``private_x``: query the edge, reconstruct, and measure MSE / PSNR / SSIM per image."""
        x = as_images(private_x, "private_x", self.image_shape)
        bs = _check_int(batch_size, "batch_size", 1) if batch_size is not None else max(self.batch_size, 256)
        z = query_edge(self.edge, x, batch_size=bs, device=self.device)
        x_hat = self.reconstruct(z, batch_size=bs)
        return AttackResult.from_images(self.name, x.cpu(), x_hat)


@torch.no_grad()
def _recalibrate_batchnorm(decoder: nn.Module, z: torch.Tensor, *, batch_size: int, device: torch.device) -> None:
    """Recompute every BatchNorm's running statistics as exact averages over the auxiliary features.

    The running averages (momentum 0.1) trail weights that moved during training; after a short
    run they can be far from the final network's statistics, and the eval-mode decoder then
    reconstructs much worse than its training loss says. One pass with the final weights and
    a cumulative average (momentum None) removes that lag.
    """
    norms = [m for m in decoder.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    decoder.train()
    try:
        for sl in iter_batches(z.shape[0], batch_size):
            if sl.stop - sl.start >= 2:
                decoder(z[sl].to(device))
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum


@torch.no_grad()
def _mse(decoder: nn.Module, z: torch.Tensor, x: torch.Tensor, *, batch_size: int, device: torch.device) -> float:
    """Eval-mode mean squared error of ``decoder(z)`` against ``x`` (all pixels, all images)."""
    decoder.eval()
    total = 0.0
    for sl in iter_batches(z.shape[0], batch_size):
        total += float(torch.sum((decoder(z[sl].to(device)).float() - x[sl].to(device)) ** 2))
    return total / x.numel()


def _progress(iterable, enabled: bool, desc: str):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, leave=False)
