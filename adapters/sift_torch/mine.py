"""MINE in PyTorch: an unbounded critic T(x, z) trained on the bounds of ``sift_core.bounds``.

The authors' code squashed its critic's output into (0, 1), which caps every Donsker-Varadhan
estimate below 1 nat. Here the critic's output is a plain linear unit, and every bound (value
and gradient) is a call into :mod:`sift_core.bounds` on torch tensors, so the numpy estimator
:func:`sift_core.mi.mine` and this one share one definition of each bound.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["MineCritic", "estimate_mi_torch"]

OBJECTIVES = ("mine", "dv", "nwj", "smile", "infonce")
_ACTIVATIONS = {"relu": nn.ReLU, "elu": nn.ELU, "tanh": nn.Tanh, "softplus": nn.Softplus}


def _conv_encoder(shape: tuple[int, int, int]) -> nn.Module:
    """Two stride-2 3x3 convolutions (16, 32 channels), flattened: a small image encoder."""
    return nn.Sequential(
        nn.Conv2d(shape[0], 16, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
        nn.Flatten(),
    )


class MineCritic(nn.Module):
    r"""Critic T(x, z) -> R with an unbounded (linear) output, for MINE and its companion bounds.

    ``T(x, z) = head(W_x e_x(x) + W_z e_z(z) + b)`` where ``e_x``, ``e_z`` flatten the sample
    (or, with ``conv``, run a small convolutional encoder on (C, H, W) samples first) and
    ``head`` is an MLP (``hidden`` units, ``activation``) ending in one linear unit. It equals
    an MLP on concat(e_x, e_z); splitting the first layer lets :meth:`score_matrix` score all
    n^2 pairs (x_i, z_j) with n + n encoder passes.

    Parameters
    ----------
    x_shape, z_shape : the per-sample shapes of x and z.
    hidden : widths of the hidden layers (at least one).
    activation : "relu", "elu", "tanh" or "softplus".
    conv : encode 3-D (C, H, W) samples with a small convolutional encoder (default); ``False``
        flattens every sample.
    """

    def __init__(
        self,
        x_shape: tuple[int, ...],
        z_shape: tuple[int, ...],
        *,
        hidden: tuple[int, ...] = (64, 64),
        activation: str = "relu",
        conv: bool = True,
    ):
        super().__init__()
        if isinstance(hidden, int):
            hidden = (hidden,)
        hidden = tuple(hidden)
        if not hidden or any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in hidden):
            raise ValueError(f"hidden must be one or more positive integers; got {hidden!r}")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {tuple(_ACTIVATIONS)}; got {activation!r}")
        encoders, dims = [], []
        for name, shape in (("x_shape", x_shape), ("z_shape", z_shape)):
            shape = tuple(int(s) for s in shape)
            if len(shape) == 0 or min(shape) < 1:
                raise ValueError(f"{name} must be a non-empty per-sample shape; got {shape}")
            use_conv = bool(conv) and len(shape) == 3
            enc = _conv_encoder(shape) if use_conv else nn.Flatten()
            with torch.no_grad():
                dims.append(int(enc(torch.zeros(1, *shape)).shape[1]))
            encoders.append(enc)
        self.x_shape, self.z_shape = tuple(x_shape), tuple(z_shape)
        self.enc_x, self.enc_z = encoders
        self.proj_x = nn.Linear(dims[0], hidden[0])
        self.proj_z = nn.Linear(dims[1], hidden[0], bias=False)
        act = _ACTIVATIONS[activation]
        layers: list[nn.Module] = [act()]
        for a, b in zip(hidden[:-1], hidden[1:]):
            layers += [nn.Linear(a, b), act()]
        layers.append(nn.Linear(hidden[-1], 1))  # unbounded: no sigmoid, no tanh
        self.head = nn.Sequential(*layers)

    def project(self, x: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """First-layer contributions (n, h) of x and of z; T on pair (i, j) is head(a_i + b_j)."""
        return self.proj_x(self.enc_x(x)), self.proj_z(self.enc_z(z))

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """T(x_i, z_i) for aligned rows: shape (n,)."""
        a, b = self.project(x, z)
        return self.head(a + b).squeeze(-1)

    def score_matrix(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """S[i, j] = T(x_i, z_j), shape (n, n): joint pairs on the diagonal, marginal ones off it."""
        a, b = self.project(x, z)
        return self.head(a[:, None, :] + b[None, :, :]).squeeze(-1)


def _standardise(t: torch.Tensor, per_column: bool) -> torch.Tensor:
    """Zero mean, unit spread (per flattened column, or one scalar for images); constant parts stay 0."""
    if per_column:
        flat = t.reshape(t.shape[0], -1)
        sd = flat.std(0)
        sd = torch.where(sd > 0, sd, torch.ones_like(sd))
        return ((flat - flat.mean(0)) / sd).reshape(t.shape)
    sd = t.std()
    return (t - t.mean()) / (sd if sd > 0 else 1.0)


def _as_samples(v: Any, name: str) -> torch.Tensor:
    if isinstance(v, torch.Tensor):
        t = v.detach().cpu()
    else:
        arr = np.asarray(v)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold real numbers; got dtype {arr.dtype}")
        t = torch.from_numpy(np.ascontiguousarray(arr))
    if t.is_complex() or t.dtype == torch.bool:
        raise TypeError(f"{name} must hold real numbers; got dtype {t.dtype}")
    t = t.to(torch.float32)
    if t.ndim == 1:
        t = t[:, None]
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return t


class _HeldOut:
    """Fixed held-out pairs: the aligned ones and ``shifts`` derangements z_{i+s} (as sift_core.mi.mine)."""

    def __init__(self, x: torch.Tensor, z: torch.Tensor, shifts: int, n_blocks: int, block_size: int):
        n = x.shape[0]
        self.x, self.z, self.n = x, z, n
        self.steps = np.unique(np.linspace(1, n - 1, num=min(shifts, n - 1)).astype(int)).tolist()
        self.blocks = [torch.as_tensor(b) for b in np.array_split(np.arange(n), n_blocks)]
        self.chunks = [torch.as_tensor(b) for b in np.array_split(np.arange(n), max(1, n // block_size))]

    @torch.no_grad()
    def values(self, net: MineCritic, objective: str) -> tuple[float, np.ndarray]:
        """The held-out estimate and its per-block values."""
        from sift_core import bounds

        if objective == "infonce":
            # InfoNCE needs whole score matrices: one per chunk of about a training batch.
            per = np.array([float(bounds.infonce(net.score_matrix(self.x[c], self.z[c]))) for c in self.chunks])
            return float(per.mean()), per
        a, b = net.project(self.x, self.z)
        tj = net.head(a + b).squeeze(-1)
        idx = torch.arange(self.n, device=a.device)
        tm = torch.stack([net.head(a + b[(idx + s) % self.n]).squeeze(-1) for s in self.steps])
        # The Donsker-Varadhan value for every objective, as sift_core.mi.mine reports it.
        per = np.array([float(bounds.dv(tj[blk], tm[:, blk])) for blk in self.blocks])
        return float(bounds.dv(tj, tm)), per


def _objective(objective: str, net: MineCritic, x, z, z_marg, log_ema, ema_rate: float, smile_clip: float):
    """The bound to maximise on one minibatch, from sift_core.bounds; (estimate, new EMA state).

    InfoNCE scores the whole (b, b) matrix T(x_i, z_j). The other bounds score b joint pairs and
    b pairs (x_i, z'_i) with z' from independently drawn rows: b^2 pairs would cost b times more
    for a marginal term whose variance is dominated by the critic, not by the number of pairs.
    """
    from sift_core import bounds

    if objective == "infonce":
        return bounds.infonce(net.score_matrix(x, z)), None
    a, b = net.project(x, z)
    t_joint = net.head(a + b).squeeze(-1)
    t_marg = net.head(a + net.proj_z(net.enc_z(z_marg))).squeeze(-1)
    if objective == "mine":
        return bounds.mine_ema(t_joint, t_marg, log_ema, rate=ema_rate)
    if objective == "dv":
        return bounds.dv(t_joint, t_marg), None
    if objective == "nwj":
        return bounds.nwj(t_joint, t_marg), None
    return bounds.smile(t_joint, t_marg, clip=smile_clip), None


def estimate_mi_torch(
    x: Any,
    z: Any,
    *,
    seed: int,
    objective: str = "mine",
    hidden: tuple[int, ...] = (64, 64),
    activation: str = "relu",
    conv: bool = True,
    lr: float = 1e-3,
    batch_size: int = 128,
    max_steps: int = 2000,
    ema_rate: float = 0.01,
    smile_clip: float = 5.0,
    folds: int = 2,
    test_fraction: float = 0.2,
    eval_every: int = 100,
    patience: int = 5,
    eval_shifts: int = 8,
    n_blocks: int = 10,
    device: torch.device | str | None = None,
    progress: bool = False,
):
    r"""Estimate I(x; z) in nats with a :class:`MineCritic` trained in torch (Belghazi et al. 2018).

    Each step draws ``batch_size`` distinct rows (the joint pairs) and as many z from
    independently drawn rows (product-of-marginals pairs; InfoNCE instead scores the whole
    matrix S[i, j] = T(x_i, z_j) of the batch) and maximises the ``objective`` from
    :mod:`sift_core.bounds` with Adam:

    * ``"mine"``: Donsker-Varadhan ``E_P[T] - log E_Q[e^T]`` with the bias-corrected
      moving-average gradient (``bounds.mine_ema``, rate ``ema_rate``);
    * ``"dv"``: the same with the plain minibatch gradient (``bounds.dv``);
    * ``"nwj"``: ``E_P[T] - E_Q[e^{T-1}]`` (``bounds.nwj``);
    * ``"smile"``: DV with the partition scores clipped to +-``smile_clip`` (``bounds.smile``);
    * ``"infonce"``: ``bounds.infonce`` on S, which never exceeds log(batch_size).

    As in :func:`sift_core.mi.mine`, the estimate comes only from data the critic did not
    train on: with ``folds`` = K >= 2, K critics are cross-fitted, each scored on its held-out
    part (``folds=1``: one critic, ``test_fraction`` held out). Every ``eval_every`` steps the
    held-out value is computed (the DV bound of the aligned pairs against ``eval_shifts``
    derangements of z; for ``"infonce"`` the InfoNCE bound over chunks of ``batch_size``);
    a critic stops after ``patience`` evaluations without improvement or at ``max_steps`` and
    its best state is kept. ``x`` and ``z`` are standardised first (per column; one scalar
    for images fed to a conv encoder).

    ``x``: (n, ...) and ``z``: (n, ...) arrays or tensors; image-shaped (n, C, H, W) samples
    get a convolutional encoder (``conv=False``: flattened). ``device``: default the device
    of ``x`` if it is a tensor, else the CPU. Reproducible for a given ``seed``.

    Returns a :class:`sift_core.mi.MIEstimate` (``.value`` in nats, ``.stderr`` over held-out
    blocks -- for ``"infonce"`` over the chunks, infinite when there is only one -- and the
    training and held-out curves).
    """
    from sift_core._validation import check_choice, check_int, check_positive
    from sift_core.mi import MIEstimate

    check_choice(objective, "objective", OBJECTIVES)
    seed = check_int(seed, "seed", minimum=0)
    check_positive(lr, "lr")
    check_positive(ema_rate, "ema_rate")
    if ema_rate > 1:
        raise ValueError(f"ema_rate must lie in (0, 1]; got {ema_rate!r}")
    check_positive(smile_clip, "smile_clip")
    batch_size = check_int(batch_size, "batch_size", minimum=2)
    max_steps = check_int(max_steps, "max_steps", minimum=1)
    folds = check_int(folds, "folds", minimum=1)
    eval_every = check_int(eval_every, "eval_every", minimum=1)
    patience = check_int(patience, "patience", minimum=1)
    eval_shifts = check_int(eval_shifts, "eval_shifts", minimum=1)
    n_blocks = check_int(n_blocks, "n_blocks", minimum=2)
    check_positive(test_fraction, "test_fraction")
    if not test_fraction < 1:
        raise ValueError(f"test_fraction must lie in (0, 1); got {test_fraction!r}")
    if device is None:
        device = x.device if isinstance(x, torch.Tensor) else "cpu"
    device = torch.device(device)

    xt, zt = _as_samples(x, "x"), _as_samples(z, "z")
    if xt.shape[0] != zt.shape[0]:
        raise ValueError(f"x and z must have the same number of samples; got {xt.shape[0]} and {zt.shape[0]}")
    n = xt.shape[0]
    n_test = n // folds if folds > 1 else int(round(test_fraction * n))
    if n_test < 2 * n_blocks or n - n_test < 2:
        raise ValueError(
            f"x has too few samples ({n}) for held-out parts of {n_test} samples in {n_blocks} blocks "
            f"(folds={folds}, test_fraction={test_fraction:g}); use more samples or fewer n_blocks"
        )
    # Probe the critic's layout once (also validates hidden / activation / conv).
    probe = MineCritic(xt.shape[1:], zt.shape[1:], hidden=hidden, activation=activation, conv=conv)
    conv_x = not isinstance(probe.enc_x, nn.Flatten)
    conv_z = not isinstance(probe.enc_z, nn.Flatten)
    xt, zt = _standardise(xt, per_column=not conv_x).to(device), _standardise(zt, per_column=not conv_z).to(device)

    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    parts = np.array_split(perm, folds) if folds > 1 else [perm[:n_test]]
    results = []
    for k, test in enumerate(parts):
        mask = np.ones(n, dtype=bool)
        mask[test] = False
        train_idx = torch.as_tensor(np.flatnonzero(mask), device=device)
        test_idx = torch.as_tensor(np.sort(test), device=device)
        held = _HeldOut(xt[test_idx], zt[test_idx], eval_shifts, n_blocks, batch_size)
        fold_seed = int(rng.integers(0, 2**31 - 1))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(fold_seed)
            net = MineCritic(xt.shape[1:], zt.shape[1:], hidden=hidden, activation=activation, conv=conv).to(device)
        generator = torch.Generator().manual_seed(fold_seed)
        results.append(
            _train(net, xt[train_idx], zt[train_idx], held, generator, objective=objective, lr=lr,
                   batch_size=batch_size, max_steps=max_steps, ema_rate=ema_rate, smile_clip=smile_clip,
                   eval_every=eval_every, patience=patience, progress=progress, desc=f"MINE fold {k + 1}/{len(parts)}")
        )
    sizes = np.array([len(p) for p in parts], dtype=float)
    values = np.array([r["value"] for r in results])
    blocks = np.concatenate([r["blocks"] for r in results])
    return MIEstimate(
        value=float(np.sum(sizes * values) / sizes.sum()),
        stderr=float(blocks.std(ddof=1) / math.sqrt(len(blocks))) if len(blocks) > 1 else float("inf"),
        method=f"torch-mine[{objective}]",
        fold_values=tuple(float(v) for v in values),
        train_curves=tuple(r["train_curve"] for r in results),
        eval_steps=tuple(r["eval_steps"] for r in results),
        eval_curves=tuple(r["eval_curve"] for r in results),
        best_steps=tuple(r["best_step"] for r in results),
        n_samples=n,
    )


def _train(net, x, z, held, generator, *, objective, lr, batch_size, max_steps, ema_rate, smile_clip,
           eval_every, patience, progress, desc) -> dict:
    """Train one critic with early stopping on ``held``; its held-out value, blocks and curves."""
    n_train = x.shape[0]
    b = min(batch_size, n_train)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    log_ema = None
    curve = torch.zeros(max_steps, device=x.device)
    eval_steps: list[int] = []
    eval_curve: list[float] = []
    best_value, best_state, best_step, stale = -math.inf, copy.deepcopy(net.state_dict()), 0, 0
    steps = range(1, max_steps + 1)
    if progress:
        from tqdm.auto import tqdm

        steps = tqdm(steps, desc=desc, leave=False)
    step = 0
    for step in steps:
        # Distinct rows, so every off-diagonal pair of a score matrix is a product-of-marginals pair.
        idx = torch.randperm(n_train, generator=generator)[:b].to(x.device)
        jdx = torch.randint(0, n_train, (b,), generator=generator).to(x.device)  # z from the marginal
        estimate, log_ema = _objective(objective, net, x[idx], z[idx], z[jdx], log_ema, ema_rate, smile_clip)
        opt.zero_grad(set_to_none=True)
        (-estimate).backward()
        opt.step()
        curve[step - 1] = estimate.detach()
        if step % eval_every == 0 or step == max_steps:
            net.eval()
            value, _ = held.values(net, objective)
            net.train()
            eval_steps.append(step)
            eval_curve.append(value)
            if value > best_value:
                best_value, best_state, best_step, stale = value, copy.deepcopy(net.state_dict()), step, 0
            else:
                stale += 1
                if stale >= patience:
                    break
    net.load_state_dict(best_state)
    net.eval()
    value, blocks = held.values(net, objective)
    return {
        "value": value,
        "blocks": blocks,
        "train_curve": curve[:step].double().cpu().numpy(),
        "eval_steps": np.asarray(eval_steps),
        "eval_curve": np.asarray(eval_curve),
        "best_step": best_step,
    }
