"""Defences of the transmitted features behind one interface.

A :class:`Defence` does two things: ``protect(edge, cloud)`` returns the
:class:`~sift_torch.models.SplitModel` to train (adding layers to the edge
where the defence lives in the architecture), and ``criterion()`` returns the
loss ``criterion(x, z, logits, labels)``.  Layers that add their own penalty
(the MID bottleneck) expose ``regularization()``, summed by
``SplitModel.regularization()``.  The edge of the protected model produces
what is transmitted, so attacks on ``model.edge`` see the defended features.

==========  ===========================================================  =================================
kind        what it does                                                 settings (defaults)
==========  ===========================================================  =================================
none        undefended                                                   --
noise       z + N(0, sigma^2), also at inference                         sigma=0.8
dropout     dropout on z (inverted scaling), also at inference           rate=0.8
nopeek      CE + w dCor(x, z) (Vepakomma et al. 2020)                    weight=0.5
mid         variational bottleneck on z, + w KL(q(z|x) || N(0, I))       weight=0.01, reduction="mean"
            (MID, Wang et al. 2021)
bido        CE + w_x HSIC(x, z) - w_y HSIC(z, y) (Peng et al. 2022)       weight_x=0.05, weight_y=0.5
siftfunnel  funnel edge + upsampling cloud + SiftFunnelLoss              the loss's and funnel's settings
==========  ===========================================================  =================================
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

import sift_core

from .losses import CrossEntropyLoss, FeatureLoss, SiftFunnelLoss
from .models.funnel import FunnelEdge, UpsamplingCloud
from .models.split import SplitModel

__all__ = [
    "Defence",
    "NoDefence",
    "NoiseDefence",
    "DropoutDefence",
    "NoPeekDefence",
    "MIDDefence",
    "BiDODefence",
    "SiftFunnelDefence",
    "GaussianNoise",
    "FeatureDropout",
    "VariationalBottleneck",
    "NoPeekLoss",
    "BiDOLoss",
    "DEFENCES",
    "make_defence",
    "register_defence",
]


# --------------------------------------------------------------------------- layers


def _rate(value: Any, name: str, *, upper: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a real number; got {type(value).__name__}")
    if not value >= 0 or (upper is not None and not value < upper) or value != value:
        bound = f"[0, {upper})" if upper is not None else "[0, inf)"
        raise ValueError(f"{name} must be in {bound}; got {value!r}")
    return float(value)


class GaussianNoise(nn.Module):
    """Adds ``N(0, sigma^2)`` noise to the features, in training and (by default) at inference."""

    def __init__(self, sigma: float = 0.8, *, at_inference: bool = True):
        super().__init__()
        self.sigma = _rate(sigma, "sigma")
        self.at_inference = at_inference

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.sigma == 0 or not (self.training or self.at_inference):
            return z
        return z + self.sigma * torch.randn_like(z)

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}, at_inference={self.at_inference}"


class FeatureDropout(nn.Module):
    """Zeroes each feature with probability ``rate`` (kept ones scaled by 1/(1 - rate)), also at inference."""

    def __init__(self, rate: float = 0.8, *, at_inference: bool = True):
        super().__init__()
        self.rate = _rate(rate, "rate", upper=1.0)
        self.at_inference = at_inference

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return F.dropout(z, self.rate, training=self.training or self.at_inference)

    def extra_repr(self) -> str:
        return f"rate={self.rate}, at_inference={self.at_inference}"


class VariationalBottleneck(nn.Module):
    """Stochastic features ``z = mu + sigma * eps`` (MID's variational information bottleneck).

    A 1x1 convolution maps the edge's features to a mean and a log-variance per
    feature; training samples ``z``, evaluation transmits the mean.
    ``regularization()`` returns ``weight * KL(N(mu, sigma^2) || N(0, I))`` of the
    last forward pass (:func:`sift_core.gaussian_kl`), which the trainer adds to the
    cross-entropy: the total of :func:`sift_core.mid_terms`, split between the
    criterion and the layer that holds mu and sigma.
    """

    def __init__(self, channels: int, *, weight: float = 0.01, reduction: str = "mean"):
        super().__init__()
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
            raise ValueError(f"channels must be a positive integer; got {channels!r}")
        self.weight = _rate(weight, "weight")
        if reduction not in ("mean", "batchmean"):
            raise ValueError(f"reduction must be 'mean' or 'batchmean'; got {reduction!r}")
        self.reduction = reduction
        self.stats = nn.Conv2d(channels, 2 * channels, 1)
        self._kl: torch.Tensor | None = None

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        mean, logvar = self.stats(h).chunk(2, dim=1)
        logvar = logvar.clamp(-10.0, 10.0)  # keeps exp(logvar) finite early in training
        self._kl = sift_core.gaussian_kl(mean.flatten(1), logvar.flatten(1), reduction=self.reduction)
        if not self.training:
            return mean
        return mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)

    def regularization(self) -> torch.Tensor | float:
        if self._kl is None:
            return 0.0
        return self.weight * self._kl


# --------------------------------------------------------------------------- losses


class NoPeekLoss(FeatureLoss):
    """NoPeek loss ``CE + weight * dCor(x, z)`` via :func:`sift_core.nopeek_terms` (terms: task, dcor, total)."""

    def __init__(self, *, weight: float = 0.5, penalty_batch: str = "global", check_dead: bool = True):
        super().__init__(penalty_batch=penalty_batch, check_dead=check_dead)
        self.weight = _rate(weight, "weight")

    def compute_terms(self, x, z, logits, labels, dependence_batch):
        return sift_core.nopeek_terms(x.flatten(1), z, logits, labels, weight=self.weight,
                                      dependence_batch=dependence_batch)


class BiDOLoss(FeatureLoss):
    """BiDO-HSIC loss ``CE + w_x HSIC(x, z) - w_y HSIC(z, y)`` via :func:`sift_core.bido_terms`."""

    def __init__(self, *, weight_x: float = 0.05, weight_y: float = 0.5, penalty_batch: str = "global",
                 check_dead: bool = True):
        super().__init__(penalty_batch=penalty_batch, check_dead=check_dead)
        self.weight_x = _rate(weight_x, "weight_x")
        self.weight_y = _rate(weight_y, "weight_y")

    def _gather_labels(self, labels):
        return labels

    def compute_terms(self, x, z, logits, labels, dependence_batch):
        return sift_core.bido_terms(x.flatten(1), z, logits, labels, weight_x=self.weight_x,
                                    weight_y=self.weight_y, dependence_batch=dependence_batch)


# --------------------------------------------------------------------------- defences


class Defence:
    """Interface: ``protect(edge, cloud, *, channels)`` -> SplitModel, ``criterion()`` -> loss module."""

    #: the registry key (:func:`register_defence`); the same word as ``sift_keras``'s ``Defence.kind``
    kind: ClassVar[str] = "none"
    #: the registry key's older name, kept for user classes that define only ``name``
    name: ClassVar[str] = "none"
    #: whether :func:`~sift_torch.models.build_split` should build the funnel architecture
    uses_funnel: ClassVar[bool] = False

    def __init__(self, **settings: Any):
        if settings:
            raise TypeError(f"defence {self.kind!r} takes no settings; got {sorted(settings)}")
        self.settings: dict[str, Any] = {}

    def protect(self, edge: nn.Module, cloud: nn.Module, *, channels: int | None = None) -> SplitModel:
        """The split model to train; ``channels`` is the number of channels of ``edge``'s output."""
        return SplitModel(edge, cloud)

    def criterion(self) -> FeatureLoss:
        """A fresh loss module ``criterion(x, z, logits, labels)``."""
        return CrossEntropyLoss()

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.settings.items())
        return f"{type(self).__name__}({args})"


class NoDefence(Defence):
    kind = name = "none"


class NoiseDefence(Defence):
    kind = name = "noise"

    def __init__(self, *, sigma: float = 0.8, at_inference: bool = True):
        self.settings = {"sigma": _rate(sigma, "sigma"), "at_inference": bool(at_inference)}

    def protect(self, edge, cloud, *, channels=None):
        return SplitModel(nn.Sequential(edge, GaussianNoise(**self.settings)), cloud)


class DropoutDefence(Defence):
    kind = name = "dropout"

    def __init__(self, *, rate: float = 0.8, at_inference: bool = True):
        self.settings = {"rate": _rate(rate, "rate", upper=1.0), "at_inference": bool(at_inference)}

    def protect(self, edge, cloud, *, channels=None):
        return SplitModel(nn.Sequential(edge, FeatureDropout(**self.settings)), cloud)


class NoPeekDefence(Defence):
    kind = name = "nopeek"

    def __init__(self, *, weight: float = 0.5, penalty_batch: str = "global"):
        self.settings = {"weight": _rate(weight, "weight"), "penalty_batch": penalty_batch}
        NoPeekLoss(**self.settings)  # validate

    def criterion(self):
        return NoPeekLoss(**self.settings)


class MIDDefence(Defence):
    kind = name = "mid"

    def __init__(self, *, weight: float = 0.01, reduction: str = "mean"):
        self.settings = {"weight": _rate(weight, "weight"), "reduction": reduction}
        VariationalBottleneck(1, **self.settings)  # validate

    def protect(self, edge, cloud, *, channels=None):
        if channels is None:
            raise ValueError("channels (the edge's output channels) is required by the MID defence")
        return SplitModel(nn.Sequential(edge, VariationalBottleneck(channels, **self.settings)), cloud)


class BiDODefence(Defence):
    kind = name = "bido"

    def __init__(self, *, weight_x: float = 0.05, weight_y: float = 0.5, penalty_batch: str = "global"):
        self.settings = {"weight_x": _rate(weight_x, "weight_x"), "weight_y": _rate(weight_y, "weight_y"),
                         "penalty_batch": penalty_batch}
        BiDOLoss(**self.settings)

    def criterion(self):
        return BiDOLoss(**self.settings)


class SiftFunnelDefence(Defence):
    """Funnel edge + upsampling cloud + :class:`~sift_torch.losses.SiftFunnelLoss`.

    Settings are the loss's (alpha, beta, lambda_1, gamma, epsilon, unbiased,
    include_diagonal, penalty_batch) and, for wrapping an edge that is not
    already a :class:`FunnelEdge`, the funnel's (out_channels=12,
    mid_channels=None -> channels // 4, output_activation="leaky_relu").
    """

    kind = name = "siftfunnel"
    uses_funnel = True
    _FUNNEL_KEYS = ("out_channels", "mid_channels", "output_activation")

    def __init__(self, **settings: Any):
        funnel = {k: settings.pop(k) for k in self._FUNNEL_KEYS if k in settings}
        SiftFunnelLoss(**settings)  # validates the loss settings (TypeError names an unknown one)
        self.loss_settings = settings
        self.funnel_settings = {"out_channels": 12, "mid_channels": None, "output_activation": "leaky_relu"}
        self.funnel_settings.update(funnel)
        self.settings = {**settings, **funnel}

    def protect(self, edge, cloud, *, channels=None):
        if isinstance(edge, FunnelEdge):
            return SplitModel(edge, cloud)
        if channels is None:
            raise ValueError("channels (the edge's output channels) is required to add a funnel to this edge")
        fs = dict(self.funnel_settings)
        mid = fs.pop("mid_channels") or max(1, channels // 4)
        fedge = FunnelEdge(edge, in_channels=channels, mid_channels=mid, **fs)
        return SplitModel(fedge, UpsamplingCloud(fedge.out_channels, channels, cloud))

    def criterion(self):
        return SiftFunnelLoss(**self.loss_settings)


DEFENCES: dict[str, type[Defence]] = {}


def _own_key(cls: type) -> Any:
    """The ``kind`` (or else ``name``) set by the nearest class of ``cls``'s MRO that sets either."""
    for klass in cls.__mro__:
        if "kind" in vars(klass):
            return vars(klass)["kind"]
        if "name" in vars(klass):
            return vars(klass)["name"]
    return None


def register_defence(cls: type[Defence]) -> type[Defence]:
    """Add a :class:`Defence` subclass to the registry under ``cls.kind`` (usable as a decorator).

    A class that sets only the older ``name`` is registered under it; both attributes are then
    set to the key, so ``kind`` and ``name`` of every registered class agree.
    """
    if not (isinstance(cls, type) and issubclass(cls, Defence)):
        raise TypeError(f"cls must be a sift_torch Defence subclass; got {cls!r}")
    key = _own_key(cls)
    if not isinstance(key, str) or not key:
        raise ValueError(f"cls.kind must be a non-empty string; got {key!r} on {cls.__name__}")
    cls.kind = cls.name = key
    DEFENCES[key] = cls
    return cls


for _cls in (NoDefence, NoiseDefence, DropoutDefence, NoPeekDefence, MIDDefence, BiDODefence, SiftFunnelDefence):
    register_defence(_cls)


def make_defence(name: Any = None, **settings: Any) -> Defence:
    """The defence registered as ``name`` with ``settings`` (None means "none"; a Defence is returned as is)."""
    if isinstance(name, Defence):
        if settings:
            raise TypeError("settings cannot be given together with a Defence instance")
        return name
    if name is None:
        name = "none"
    if not isinstance(name, str):
        raise TypeError(f"defence must be a name or a Defence; got {type(name).__name__}")
    key = name.lower()
    if key not in DEFENCES:
        raise ValueError(f"defence must be one of {sorted(DEFENCES)}; got {name!r}")
    return DEFENCES[key](**settings)
