"""The attacker's image prior: a small DCGAN trained on its auxiliary data.

:func:`build_generator` / :func:`build_discriminator` size the networks from the image shape
alone (28-64 pixels, 1 or 3 channels); :func:`train_generator` trains them with the
non-saturating GAN loss of Goodfellow et al. (2014) and the DCGAN recipe of Radford, Metz and
Chintala (2016): transposed convolutions with BatchNorm and ReLU in the generator, strided
convolutions with LeakyReLU(0.2) in the discriminator, Adam lr 2e-4, betas (0.5, 0.999).
On 2 CPU cores it trains on 2,000 images of 28x28 in a few minutes.
"""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..checkpoint import UNREADABLE, load_checkpoint, save_checkpoint
from ._common import as_images, check_image_shape, iter_batches
from .decoder import _Resize

__all__ = ["Generator", "build_discriminator", "build_generator", "train_generator"]


def _doublings(h: int, w: int) -> int:
    side = max(h, w)
    return max(0, int(math.floor(math.log2(side / 4)))) if side > 4 else 0


class Generator(nn.Module):
    """``G(w)``: latent codes (N, latent_dim) ~ N(0, I) to images (N, C, H, W) in (0, 1).

    A linear layer to a ``width`` x h0 x w0 map (h0 = ceil(H / 2^k), k doublings to go), then
    per doubling a stride-2 transposed 4x4 convolution halving the channels (not below 16)
    with BatchNorm and ReLU, a resize to exactly (H, W) when needed, a 3x3 convolution to the
    image channels and a sigmoid.
    """

    def __init__(self, image_shape: tuple[int, int, int], *, latent_dim: int = 64, width: int = 128):
        super().__init__()
        c_img, h_img, w_img = check_image_shape(image_shape)
        self.image_shape = (c_img, h_img, w_img)
        self.latent_dim = int(latent_dim)
        k = _doublings(h_img, w_img)
        h, w = math.ceil(h_img / 2**k), math.ceil(w_img / 2**k)
        self.seed_shape = (width, h, w)
        self.stem = nn.Sequential(nn.Linear(latent_dim, width * h * w), nn.BatchNorm1d(width * h * w), nn.ReLU())
        layers: list[nn.Module] = []
        c = width
        for _ in range(k):
            c_next = max(c // 2, 16)
            layers += [nn.ConvTranspose2d(c, c_next, 4, stride=2, padding=1), nn.BatchNorm2d(c_next), nn.ReLU()]
            c = c_next
        layers += [_Resize((h_img, w_img)), nn.Conv2d(c, c_img, 3, padding=1), nn.Sigmoid()]
        self.body = nn.Sequential(*layers)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return self.body(self.stem(w).view(w.shape[0], *self.seed_shape))


def build_generator(image_shape: tuple[int, int, int], *, latent_dim: int = 64, width: int = 128) -> Generator:
    """A :class:`Generator` for images of ``image_shape`` (C, H, W)."""
    for name, value in (("latent_dim", latent_dim), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer; got {value!r}")
    return Generator(image_shape, latent_dim=latent_dim, width=width)


def build_discriminator(image_shape: tuple[int, int, int], *, width: int = 64) -> nn.Module:
    """DCGAN discriminator: stride-2 4x4 convolutions (doubling channels, BatchNorm after the
    first) with LeakyReLU(0.2) down to at most 4x4, then a linear layer to one logit."""
    c, h, w = check_image_shape(image_shape)
    layers: list[nn.Module] = []
    ch, first = width, True
    while h > 4 or w > 4:
        layers += [nn.Conv2d(c, ch, 4, stride=2, padding=1)]
        if not first:
            layers.append(nn.BatchNorm2d(ch))
        layers.append(nn.LeakyReLU(0.2))
        c, ch, first = ch, ch * 2, False
        h, w = h // 2, w // 2  # a 4x4 stride-2 convolution with padding 1 halves (rounding down)
    layers += [nn.Flatten(), nn.Linear(c * h * w, 1)]
    return nn.Sequential(*layers)


def train_generator(
    aux_x: Any,
    *,
    latent_dim: int = 64,
    width: int = 128,
    epochs: int = 60,
    batch_size: int = 64,
    lr: float = 2e-4,
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: bool = True,
    checkpoint: str | os.PathLike | None = None,
) -> tuple[Generator, list[dict[str, float]]]:
    """Train a DCGAN on ``aux_x`` (N, C, H, W) in [0, 1]; returns the generator (eval mode) and,
    per epoch, the mean discriminator and generator losses.

    Losses: D minimises ``softplus(-D(x)) + softplus(D(G(w)))`` (real -> 1, fake -> 0), G the
    non-saturating ``softplus(-D(G(w)))``. With fewer than ``batch_size`` images every step sees
    the whole set (at least 8 images). Raises FloatingPointError when a loss turns NaN.

    ``checkpoint``: a file that receives, atomically after every epoch, both networks, both
    optimisers, the random generator and the history. When it exists, training continues from it
    (loaded with ``weights_only``) and ends exactly where an uninterrupted run would; asking for
    more epochs than it holds continues it. A checkpoint of other data or settings, or of more
    epochs than ``epochs``, is refused with a ValueError naming ``checkpoint``. The file is left in
    place: delete it once the generator is saved elsewhere.
    """
    x = as_images(aux_x, "aux_x")
    if x.shape[0] < 8:
        raise ValueError(f"aux_x needs at least 8 images to train the generator; got {x.shape[0]}")
    batch_size = min(batch_size, x.shape[0])  # a small auxiliary set trains on whole-set batches
    device = torch.device(device)
    image_shape = tuple(int(s) for s in x.shape[1:])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        gen = build_generator(image_shape, latent_dim=latent_dim, width=width).to(device)
        disc = build_discriminator(image_shape, width=max(16, width // 2)).to(device)
    opt_g = torch.optim.Adam(gen.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=lr, betas=(0.5, 0.999))
    rng = torch.Generator().manual_seed(seed)
    history: list[dict[str, float]] = []
    start = 0
    settings: dict[str, Any] = {}
    if checkpoint is not None:
        # what must match for a continued run to equal an uninterrupted one (the epoch count need not)
        settings = {"data_sha256": hashlib.sha256(x.detach().cpu().numpy().tobytes()).hexdigest(),
                    "image_shape": list(image_shape),
                    "latent_dim": int(latent_dim), "width": int(width), "batch_size": int(batch_size),
                    "lr": float(lr), "seed": int(seed)}
        if Path(checkpoint).is_file():
            try:
                state = load_checkpoint(checkpoint, map_location=device)
            except UNREADABLE as exc:
                raise ValueError(f"checkpoint: {checkpoint} is not a readable generator checkpoint ({exc})") from None
            if state.get("settings") != settings:
                raise ValueError(f"checkpoint: {checkpoint} was written by a generator training on other data or "
                                 "settings; delete it or pass another path")
            if int(state["epoch"]) > epochs:
                raise ValueError(f"checkpoint: {checkpoint} holds {state['epoch']} epochs, more than epochs={epochs}")
            gen.load_state_dict(state["generator"])
            disc.load_state_dict(state["discriminator"])
            opt_g.load_state_dict(state["opt_g"])
            opt_d.load_state_dict(state["opt_d"])
            rng.set_state(state["rng"])
            history = [dict(h) for h in state["history"]]
            start = int(state["epoch"])
    epochs_iter: Any = range(start, epochs)
    if progress:
        from tqdm.auto import tqdm

        epochs_iter = tqdm(epochs_iter, desc="generator (DCGAN)", leave=False, initial=start, total=epochs)
    for _ in epochs_iter:
        gen.train()
        disc.train()
        order = torch.randperm(x.shape[0], generator=rng)
        sums, count = [0.0, 0.0], 0
        for sl in iter_batches(x.shape[0], batch_size):
            idx = order[sl]
            if idx.numel() < batch_size:  # equal batches: BatchNorm sees the same batch size throughout
                continue
            real = x[idx].to(device)
            noise = torch.randn((idx.numel(), latent_dim), generator=rng).to(device)
            fake = gen(noise)
            d_loss = F.softplus(-disc(real)).mean() + F.softplus(disc(fake.detach())).mean()
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            g_loss = F.softplus(-disc(fake)).mean()
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
            sums[0] += float(d_loss.detach())
            sums[1] += float(g_loss.detach())
            count += 1
        record = {"d_loss": sums[0] / max(count, 1), "g_loss": sums[1] / max(count, 1)}
        if not all(math.isfinite(v) for v in record.values()):
            raise FloatingPointError(f"the GAN diverged (losses {record}); lower lr")
        history.append(record)
        if checkpoint is not None:
            save_checkpoint({"settings": settings, "epoch": len(history), "generator": gen.state_dict(),
                             "discriminator": disc.state_dict(), "opt_g": opt_g.state_dict(),
                             "opt_d": opt_d.state_dict(), "rng": rng.get_state(), "history": history}, checkpoint)
        if hasattr(epochs_iter, "set_postfix"):
            epochs_iter.set_postfix(d=f"{record['d_loss']:.3f}", g=f"{record['g_loss']:.3f}")
    gen.eval()
    return gen, history
