"""SiftFunnelLoss and the machinery every feature-penalty loss shares.

Every formula is a call into :mod:`sift_core` (:func:`sift_core.siftfunnel_terms`
and friends); this module only binds them to ``nn.Module`` losses, gathers
the batch under DDP (see :mod:`sift_torch.distributed`), keeps each term for
logging, and watches for dead transmitted features.

Nothing here reads a value back to the host on a CUDA device except the
dead-feature check, which does so once every ``check_every`` calls.
"""

from __future__ import annotations

import abc
import warnings

import torch
from torch import nn

import sift_core
from sift_core.objective import SIFTFUNNEL_DEFAULTS

from .distributed import PENALTY_BATCHES, gather_batch, is_distributed

__all__ = ["DeadFeaturesWarning", "FeatureLoss", "SiftFunnelLoss", "CrossEntropyLoss", "check_dead_features"]


class DeadFeaturesWarning(UserWarning):
    """The transmitted features were all zero over a batch."""


DEAD_MESSAGE = (
    "every transmitted feature z is 0 over a batch of {n} samples: the cloud sees nothing, the task loss "
    "cannot train the edge and the dCor, R_P and L1 penalties have no gradient, so accuracy will stay at "
    "chance. The edge's output activation has died (typically a ReLU right before transmission at too high a "
    "learning rate). Lower the learning rate (e.g. 2e-3 instead of 1e-2), use fewer ReLUs before "
    "transmission or a LeakyReLU / no activation at the funnel output "
    "(FunnelEdge(output_activation='leaky_relu')), or lower lambda_1."
)


def check_dead_features(z: torch.Tensor, *, stacklevel: int = 2) -> bool:
    """Warn with :class:`DeadFeaturesWarning` and return True if ``z`` is all zero (reads one value back)."""
    dead = bool((z.detach() == 0).all())
    if dead:
        warnings.warn(DEAD_MESSAGE.format(n=z.shape[0]), DeadFeaturesWarning, stacklevel=stacklevel + 1)
    return dead


class FeatureLoss(nn.Module, abc.ABC):
    """Base class of the losses ``criterion(x, z, logits, labels)``.

    Subclasses implement :meth:`compute_terms` (a dict of sift_core terms with
    ``"total"``); :meth:`forward` returns the total and keeps every term,
    detached, in ``self.terms`` (plus ``"nonzero"``, the fraction of non-zero
    transmitted entries, the authors' "effective information volume").

    ``penalty_batch``: "global" computes dependence penalties on the batch
    gathered from every DDP process, "local" on this process's batch (see
    :mod:`sift_torch.distributed`).  ``check_dead``: warn when z is all zero
    over a batch; on CPU every batch is checked, on other devices the flag
    accumulates on the device and is read every ``check_every`` calls.
    """

    def __init__(self, *, penalty_batch: str = "global", check_dead: bool = True, check_every: int = 50):
        super().__init__()
        if penalty_batch not in PENALTY_BATCHES:
            raise ValueError(f"penalty_batch must be one of {PENALTY_BATCHES}; got {penalty_batch!r}")
        if isinstance(check_every, bool) or not isinstance(check_every, int) or check_every < 1:
            raise ValueError(f"check_every must be a positive integer; got {check_every!r}")
        self.penalty_batch = penalty_batch
        self.check_dead = bool(check_dead)
        self.check_every = check_every
        self.terms: dict[str, torch.Tensor] = {}
        self._calls = 0
        self._dead_flag: torch.Tensor | None = None

    # ---- subclasses -------------------------------------------------------
    @abc.abstractmethod
    def compute_terms(self, x, z, logits, labels, dependence_batch) -> dict:
        """The loss terms (a dict with at least ``"total"``) of one batch."""

    # ---- shared -----------------------------------------------------------
    def dependence_batch(self, x: torch.Tensor, z: torch.Tensor, labels: torch.Tensor | None = None):
        """``(x_all, z_all[, labels_all])`` when penalties use the gathered batch under DDP, else None."""
        if self.penalty_batch == "local" or not is_distributed():
            return None
        out = [gather_batch(x.flatten(1), differentiable=False), gather_batch(z, differentiable=True)]
        if labels is not None:
            out.append(gather_batch(labels, differentiable=False))
        return tuple(out)

    def forward(self, x: torch.Tensor, z: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The loss for a batch: inputs ``x`` (N, ...), features ``z`` (N, ...), ``logits`` (N, K), ``labels`` (N,)."""
        for name, t in (("x", x), ("z", z), ("logits", logits), ("labels", labels)):
            if not isinstance(t, torch.Tensor):
                raise TypeError(f"{name} must be a torch.Tensor; got {type(t).__name__}")
        if not (x.shape[0] == z.shape[0] == logits.shape[0] == labels.shape[0]):
            raise ValueError(
                f"x, z, logits and labels must have the same number of samples; got "
                f"{x.shape[0]}, {z.shape[0]}, {logits.shape[0]} and {labels.shape[0]}"
            )
        if self.check_dead:
            self._watch(z)
        terms = self.compute_terms(x, z, logits, labels, self.dependence_batch(x, z, self._gather_labels(labels)))
        self.terms = {k: v.detach() for k, v in terms.items()}
        self.terms["nonzero"] = (z.detach() != 0).float().mean()
        return terms["total"]

    def _gather_labels(self, labels):
        return None

    def _watch(self, z: torch.Tensor) -> None:
        if z.device.type == "cpu":
            check_dead_features(z, stacklevel=3)
            return
        dead = (z.detach() == 0).all()
        self._dead_flag = dead if self._dead_flag is None else (self._dead_flag | dead)
        self._calls += 1
        if self._calls % self.check_every == 0:
            self.flush_checks()

    def flush_checks(self) -> bool:
        """Read the device-side dead-feature flag now; warn and return True if a batch was dead."""
        flag, self._dead_flag = self._dead_flag, None
        if flag is not None and bool(flag):
            warnings.warn(DEAD_MESSAGE.format(n="at least one"), DeadFeaturesWarning, stacklevel=2)
            return True
        return False


class SiftFunnelLoss(FeatureLoss):
    r"""The SiftFunnel training objective (Liu et al., arXiv 2501.00824), via :func:`sift_core.siftfunnel_terms`.

    .. math::
        L = \alpha\,\mathrm{KL}(y_\epsilon \| p) + \beta\,\mathrm{dCor}^2_V(x, z)
            + \lambda_1\,\mathrm{mean}|z| + \gamma\,R_P(z)

    ``y_eps`` puts ``1 - epsilon`` on the true class and ``epsilon / (K - 1)`` on
    the others; dCor^2 is the squared V-statistic distance correlation of the
    flattened input and features (``unbiased=True``: the bias-corrected one);
    R_P is the mean squared Pearson correlation between channels (diagonal
    excluded unless ``include_diagonal``).  Defaults are the authors'.

    ``loss = criterion(x, z, logits, labels)``; afterwards ``criterion.terms``
    holds ``task``, ``dcor``, ``l1``, ``redundancy``, ``total`` and ``nonzero``
    as detached tensors (no host synchronisation).

    ``teacher`` (a trained model mapping the same inputs to logits, e.g. the
    undefended split model) with ``distill > 0`` adds ``distill *
    T^2 KL(softmax(t/T) || softmax(logits/T))`` (:func:`sift_core.distillation_kl`,
    term ``distill``); the teacher runs in evaluation mode without gradients
    and is not part of the criterion's parameters or state.
    """

    def __init__(
        self,
        *,
        alpha: float = SIFTFUNNEL_DEFAULTS["alpha"],
        beta: float = SIFTFUNNEL_DEFAULTS["beta"],
        lambda_1: float = SIFTFUNNEL_DEFAULTS["lambda_1"],
        gamma: float = SIFTFUNNEL_DEFAULTS["gamma"],
        epsilon: float = SIFTFUNNEL_DEFAULTS["epsilon"],
        unbiased: bool = False,
        include_diagonal: bool = False,
        penalty_batch: str = "global",
        check_dead: bool = True,
        check_every: int = 50,
        teacher: nn.Module | None = None,
        distill: float = 0.0,
        temperature: float = 4.0,
    ):
        super().__init__(penalty_batch=penalty_batch, check_dead=check_dead, check_every=check_every)
        self.settings = dict(alpha=alpha, beta=beta, lambda_1=lambda_1, gamma=gamma, epsilon=epsilon,
                             unbiased=bool(unbiased), include_diagonal=bool(include_diagonal))
        if teacher is not None and not isinstance(teacher, nn.Module):
            raise TypeError(f"teacher must be a torch.nn.Module; got {type(teacher).__name__}")
        self.settings.update(distill=distill, temperature=temperature)
        # a tuple keeps the teacher out of this module's parameters, state dict and .to()
        self._teacher = (teacher.eval(),) if teacher is not None and distill else ()
        # validate now (a scalar batch through the core) rather than at the first step
        sift_core.siftfunnel_terms(
            torch.zeros(4, 1), torch.arange(8.0).reshape(4, 2, 1, 1), torch.zeros(4, 2), torch.tensor([0, 1, 0, 1]),
            teacher_logits=torch.zeros(4, 2), **self.settings,
        )
        if distill and teacher is None:
            raise ValueError("teacher: required when distill > 0 (a trained model giving logits for the inputs)")

    def compute_terms(self, x, z, logits, labels, dependence_batch):
        teacher_logits = None
        if self._teacher:
            teacher = self._teacher[0]
            if teacher.training:  # put back in training mode by its owner since
                teacher.eval()
            if next(teacher.parameters(), x).device != x.device:  # once, not a walk over its parameters per step
                teacher.to(x.device)
            with torch.no_grad():
                teacher_logits = teacher(x).detach()
        return sift_core.siftfunnel_terms(
            x.flatten(1), z, logits, labels, dependence_batch=dependence_batch, teacher_logits=teacher_logits,
            **self.settings
        )

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.settings.items()) + f", penalty_batch={self.penalty_batch!r}"


class CrossEntropyLoss(FeatureLoss):
    """Plain cross-entropy through :func:`sift_core.label_smoothed_cross_entropy` (optionally smoothed).

    Terms: ``task`` and ``total``.  Used by the undefended model and the
    defences that act on the architecture only (noise, dropout, MID).
    """

    def __init__(self, *, epsilon: float = 0.0, check_dead: bool = True, check_every: int = 50):
        super().__init__(penalty_batch="local", check_dead=check_dead, check_every=check_every)
        self.epsilon = epsilon
        sift_core.label_smoothed_cross_entropy(torch.zeros(2, 2), torch.tensor([0, 1]), epsilon=epsilon)

    def compute_terms(self, x, z, logits, labels, dependence_batch):
        task = sift_core.label_smoothed_cross_entropy(logits, labels, epsilon=self.epsilon)
        return {"task": task, "total": task}
