"""MINE in PyTorch: an unbounded critic T(x, z) trained on the bounds of ``sift_core.bounds``.

The authors' code squashed its critic's output into (0, 1), which caps every Donsker-Varadhan
estimate below 1 nat. Here the critic's output is a plain linear unit, and every bound (value
and gradient) is a call into :mod:`sift_core.bounds` on torch tensors. The procedure around the
critic (folds, held-out scoring, averaging, early stopping, aggregation) and the defaults are
those of :func:`sift_core.mi.mine`, from :mod:`sift_core.mi.driver`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from sift_core.mi.driver import DEFAULTS, Fold, check_hidden

__all__ = ["MineCritic", "estimate_mi_torch"]


class _Squareplus(nn.Module):
    """(a + sqrt(a^2 + 4)) / 2: a smooth rectifier without transcendentals (Barron 2021)."""

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        return 0.5 * (a + torch.sqrt(a * a + 4.0))


_ACTIVATIONS = {"relu": nn.ReLU, "elu": nn.ELU, "tanh": nn.Tanh, "softplus": nn.Softplus, "squareplus": _Squareplus}


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
    hidden : widths of the hidden layers (at least one); default (32, 32), was (64, 64).
    activation : "relu", "elu", "tanh", "softplus" or "squareplus" (default, was "relu").
    conv : encode 3-D (C, H, W) samples with a small convolutional encoder (default); ``False``
        flattens every sample.
    """

    def __init__(
        self,
        x_shape: tuple[int, ...],
        z_shape: tuple[int, ...],
        *,
        hidden: tuple[int, ...] = DEFAULTS.hidden,
        activation: str = DEFAULTS.activation,
        conv: bool = True,
    ):
        super().__init__()
        hidden = check_hidden(hidden)
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
        self._init_as_core(activation)

    @torch.no_grad()
    def _init_as_core(self, activation: str) -> None:
        """The initialisation of the numpy critic (:class:`sift_core.mi._mlp.MLP`): He normal weights (Glorot
        for tanh), zero biases, the output layer scaled by 0.1.

        The output starts near T = 0: a first e^T gradient of e^(+-5) would inflate Adam's second
        moment and stall training for hundreds of steps. The split first layer draws as one layer
        on concat(e_x, e_z).
        """
        gain = 1.0 if activation == "tanh" else 2.0
        fan_in = self.proj_x.in_features + self.proj_z.in_features
        linears = [m for m in self.head if isinstance(m, nn.Linear)]
        for layer, fan in [(self.proj_x, fan_in), (self.proj_z, fan_in)] + [(m, m.in_features) for m in linears]:
            layer.weight.normal_(0.0, (gain / fan) ** 0.5)
            if layer.bias is not None:
                layer.bias.zero_()
        linears[-1].weight.mul_(0.1)

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


@dataclass
class _State:
    net: MineCritic
    avg: MineCritic
    opt: torch.optim.Optimizer
    x_test: torch.Tensor
    z_test: torch.Tensor
    shifts: list
    chunks: list
    log_ema: Any = None


class _TorchCritic:
    """The :class:`sift_core.mi.driver.Critic` callbacks of a :class:`MineCritic`."""

    def __init__(self, x: torch.Tensor, z: torch.Tensor, *, objective: str, lr: float, ema_rate: float,
                 smile_clip: float, **critic_kw):
        self.x, self.z, self.objective = x, z, objective
        self.lr, self.ema_rate, self.smile_clip, self.critic_kw = lr, ema_rate, smile_clip, critic_kw

    def init(self, fold: Fold) -> _State:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(fold.rng.integers(0, 2**31 - 1)))
            net = MineCritic(self.x.shape[1:], self.z.shape[1:], **self.critic_kw).to(self.x.device)
        avg = copy.deepcopy(net).requires_grad_(False).eval()
        test = torch.as_tensor(fold.test, device=self.x.device)
        return _State(net, avg, torch.optim.Adam(net.parameters(), lr=self.lr), self.x[test], self.z[test],
                      fold.shifts.tolist(), [torch.as_tensor(c, device=self.x.device) for c in fold.chunks])

    def step(self, s: _State, joint: np.ndarray, marginal: np.ndarray, beta: float) -> torch.Tensor:
        idx = torch.as_tensor(joint, device=self.x.device)
        jdx = torch.as_tensor(marginal, device=self.x.device)
        estimate, s.log_ema = _objective(self.objective, s.net, self.x[idx], self.z[idx], self.z[jdx], s.log_ema,
                                         self.ema_rate, self.smile_clip)
        s.opt.zero_grad(set_to_none=True)
        (-estimate).backward()
        s.opt.step()
        with torch.no_grad():
            for p_avg, p in zip(s.avg.parameters(), s.net.parameters()):
                p_avg.lerp_(p, 1.0 - beta)
        return estimate.detach()

    @torch.no_grad()
    def scores(self, s: _State) -> tuple[np.ndarray, np.ndarray]:
        a, b = s.avg.project(s.x_test, s.z_test)
        idx = torch.arange(a.shape[0], device=a.device)
        tj = s.avg.head(a + b).squeeze(-1)
        tm = torch.stack([s.avg.head(a + b[(idx + k) % a.shape[0]]).squeeze(-1) for k in s.shifts])
        return tj.double().cpu().numpy(), tm.double().cpu().numpy()

    @torch.no_grad()
    def score_matrices(self, s: _State) -> list:
        return [s.avg.score_matrix(s.x_test[c], s.z_test[c]).double().cpu().numpy() for c in s.chunks]

    def snapshot(self, s: _State) -> dict:
        return copy.deepcopy(s.avg.state_dict())

    def restore(self, s: _State, snapshot: dict) -> None:
        s.avg.load_state_dict(snapshot)


def estimate_mi_torch(
    x: Any,
    z: Any,
    *,
    seed: int,
    objective: str = DEFAULTS.objective,
    hidden: tuple[int, ...] = DEFAULTS.hidden,
    activation: str = DEFAULTS.activation,
    conv: bool = True,
    lr: float = DEFAULTS.lr,
    batch_size: int = DEFAULTS.batch_size,
    max_steps: int = DEFAULTS.max_steps,
    ema_rate: float = DEFAULTS.ema_rate,
    smile_clip: float = DEFAULTS.smile_clip,
    folds: int = DEFAULTS.folds,
    test_fraction: float = DEFAULTS.test_fraction,
    eval_every: int = DEFAULTS.eval_every,
    patience: int = DEFAULTS.patience,
    eval_shifts: int = DEFAULTS.eval_shifts,
    n_blocks: int = DEFAULTS.n_blocks,
    averaging: float = DEFAULTS.averaging,
    inputs: str = DEFAULTS.inputs,
    device: torch.device | str | None = None,
    progress: bool = False,
):
    r"""Estimate I(x; z) in nats with a :class:`MineCritic` trained in torch (Belghazi et al. 2018).

    Each step draws ``batch_size`` distinct rows (the joint pairs) and as many z from
    independently drawn rows (product-of-marginals pairs; InfoNCE instead scores the whole
    matrix S[i, j] = T(x_i, z_j) of the batch) and maximises the ``objective`` from
    :mod:`sift_core.bounds` with Adam (``lr``):

    * ``"mine"``: Donsker-Varadhan ``E_P[T] - log E_Q[e^T]`` with the bias-corrected
      moving-average gradient (``bounds.mine_ema``, rate ``ema_rate``);
    * ``"dv"``: the same with the plain minibatch gradient (``bounds.dv``);
    * ``"nwj"``: ``E_P[T] - E_Q[e^{T-1}]`` (``bounds.nwj``);
    * ``"smile"``: DV with the partition scores clipped to +-``smile_clip`` (``bounds.smile``);
    * ``"infonce"``: ``bounds.infonce`` on S, which never exceeds log(batch_size).

    The procedure is that of :func:`sift_core.mi.mine` (:func:`sift_core.mi.driver.fit_folds`):
    the estimate comes only from data the critic did not train on: with ``folds`` = K >= 2, K
    critics are cross-fitted, each scored on its held-out part (``folds=1``: one critic,
    ``test_fraction`` held out). Every ``eval_every`` steps the running average of the
    critic's weights (rate ``averaging``) is scored on the held-out part (the DV bound of the
    aligned pairs against ``eval_shifts`` derangements of z; for ``"infonce"`` the InfoNCE
    bound over chunks of ``batch_size``); a critic stops after ``patience`` evaluations without
    improvement or at ``max_steps`` and its best averaged weights are kept. Each input column
    (each pixel of an image) first goes through the invertible map ``inputs`` (default the
    Gaussian rank transform, :func:`sift_core.mi.driver.transform_columns`).

    The defaults are :data:`sift_core.mi.driver.DEFAULTS`, shared with the numpy and Keras
    estimators. Changed from earlier versions of this function: ``hidden`` (64, 64) -> (32, 32),
    ``activation`` "relu" -> "squareplus", ``lr`` 1e-3 -> 3e-3, ``max_steps`` 2000 -> 4000,
    weight averaging (``averaging`` 0.99; there was none), a small initial output layer,
    held-out blocks drawn at random rather than in row order, and the inputs: the rank
    transform per column instead of standardisation (per column, or by one scalar for images):
    standardisation lets heavy tails saturate the critic (``docs/bench_mi.md``).

    ``x``: (n, ...) and ``z``: (n, ...) arrays or tensors; image-shaped (n, C, H, W) samples
    get a convolutional encoder (``conv=False``: flattened). ``device``: default the device
    of ``x`` if it is a tensor, else the CPU. ``progress``: a tqdm bar per fold.
    Reproducible for a given ``seed``.

    Returns a :class:`sift_core.mi.MIEstimate` (``.value`` in nats, ``.stderr`` over held-out
    blocks -- for ``"infonce"`` over the chunks, infinite when there is only one -- and the
    training and held-out curves).
    """
    from sift_core.mi.driver import fit_folds, prepare_samples

    p = prepare_samples(x, z, seed=seed, objective=objective, inputs=inputs, lr=lr, ema_rate=ema_rate,
                        smile_clip=smile_clip, batch_size=batch_size, max_steps=max_steps, folds=folds,
                        test_fraction=test_fraction, eval_every=eval_every, patience=patience, averaging=averaging,
                        eval_shifts=eval_shifts, n_blocks=n_blocks)
    procedure, n = p.procedure, p.x.shape[0]
    if device is None:
        device = x.device if isinstance(x, torch.Tensor) else "cpu"
    device = torch.device(device)
    MineCritic(p.x.shape[1:], p.z.shape[1:], hidden=hidden, activation=activation, conv=conv)  # validates the layout
    xt, zt = (torch.from_numpy(v).to(device) for v in (p.x, p.z))
    critic = _TorchCritic(xt, zt, objective=objective, lr=p.lr, ema_rate=p.ema_rate, smile_clip=p.smile_clip,
                          hidden=hidden, activation=activation, conv=conv)
    wrap = None
    if progress:
        from tqdm.auto import tqdm

        def wrap(steps, desc):
            return tqdm(steps, desc=desc, leave=False)

    return fit_folds(critic, n, procedure, seed=p.seed, method=f"torch-mine[{objective}]", progress=wrap)
