"""The SiftFunnel objective as a Keras-side loss object over ``sift_core``'s one definition.

Every term is computed by :func:`sift_core.siftfunnel_terms` (which calls
:func:`sift_core.label_smoothed_cross_entropy`, :func:`sift_core.distance_correlation`
and :func:`sift_core.channel_redundancy`); this module only adapts Keras
conventions: channels-last feature maps and labels given as indices, ``(n, 1)``
columns or one-hot rows.
"""

from __future__ import annotations

import sift_core
from sift_core.objective import SIFTFUNNEL_DEFAULTS as DEFAULTS
from sift_core.validation import check_positive

from ._keras import check_non_negative, ops, serializable

__all__ = ["SiftFunnelLoss", "as_class_indices", "to_channels_first"]


def as_class_indices(labels):
    """Labels as a 1-D int32 tensor: indices stay, an (n, 1) column is squeezed, one-hot rows are arg-maxed."""
    labels = ops.convert_to_tensor(labels)
    if len(labels.shape) == 2:
        labels = ops.argmax(labels, axis=-1) if labels.shape[-1] not in (None, 1) else ops.squeeze(labels, -1)
    if len(labels.shape) != 1:
        raise ValueError(f"labels must be (n,), (n, 1) or one-hot (n, K); got shape {tuple(labels.shape)}")
    return ops.cast(labels, "int32")


def to_channels_first(z):
    """(N, H, W, C) -> (N, C, H, W): the layout ``sift_core``'s channel terms read by default."""
    if len(z.shape) < 3:
        return z
    rank = len(z.shape)
    return ops.transpose(z, (0, rank - 1, *range(1, rank - 1)))


@serializable
class SiftFunnelLoss:
    r"""SiftFunnel training objective (docs/method.md, "Objective"):

    .. math::
        L = \alpha\,\mathrm{KL}(y_\epsilon \| p) + \beta\,\mathrm{dCor}^2_V(x, z)
            + \lambda_1\,\mathrm{mean}|z| + \gamma\,R_P(z)

    with ``y_eps`` putting ``1 - eps`` on the true class and ``eps / (K - 1)``
    on the others, the squared V-statistic distance correlation of the
    flattened samples (``unbiased=True`` for the U-statistic), and the mean
    squared Pearson correlation between channels (diagonal excluded unless
    ``include_diagonal``).  Defaults are the authors' (alpha 5, beta 2,
    lambda_1 0.03, gamma 2, eps 0.25).  Reference: arXiv 2501.00824.

    Calling it returns the dict ``{"task", "dcor", "l1", "redundancy",
    "total"}`` (unweighted terms and the weighted total), so that each term
    can be logged.  ``z`` is channels-last unless ``channels_last=False``.

    ``distill > 0`` adds ``distill * T^2 KL(softmax(t/T) || softmax(logits/T))``
    (:func:`sift_core.distillation_kl`, term ``"distill"``, T = ``temperature``)
    against ``teacher_logits`` given to the call: the soft labels of a trained
    (undefended) model on the same inputs.  :class:`~sift_keras.SiftFunnelDefence`
    computes them from its ``teacher``.  Off by default, as in sift_torch.
    """

    TERMS = ("task", "dcor", "l1", "redundancy")

    def __init__(self, *, alpha: float = DEFAULTS["alpha"], beta: float = DEFAULTS["beta"],
                 lambda_1: float = DEFAULTS["lambda_1"], gamma: float = DEFAULTS["gamma"],
                 epsilon: float = DEFAULTS["epsilon"], num_classes: int | None = None, unbiased: bool = False,
                 include_diagonal: bool = False, channels_last: bool = True, distill: float = 0.0,
                 temperature: float = 4.0):
        self.alpha = check_non_negative(alpha, "alpha")
        self.distill = check_non_negative(distill, "distill")
        self.temperature = check_positive(temperature, "temperature")
        self.beta = check_non_negative(beta, "beta")
        self.lambda_1 = check_non_negative(lambda_1, "lambda_1")
        self.gamma = check_non_negative(gamma, "gamma")
        self.epsilon = check_non_negative(epsilon, "epsilon")
        if not self.epsilon < 1:
            raise ValueError(f"epsilon must be in [0, 1); got {epsilon!r}")
        if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, int)
                                        or num_classes < 2):
            raise ValueError(f"num_classes must be an integer >= 2 or None; got {num_classes!r}")
        self.num_classes = num_classes
        self.unbiased = bool(unbiased)
        self.include_diagonal = bool(include_diagonal)
        self.channels_last = bool(channels_last)

    @property
    def terms(self) -> tuple[str, ...]:
        """The names of the terms a call returns besides ``"total"``."""
        return self.TERMS + (("distill",) if self.distill > 0 else ())

    def __call__(self, x, z, logits, labels, *, dependence_batch=None, teacher_logits=None) -> dict:
        """Terms on one batch; ``dependence_batch=(x_all, z_all)`` moves the dCor term to that batch;
        ``teacher_logits`` are required when ``distill > 0``."""
        if self.channels_last:
            z = to_channels_first(z)
            if dependence_batch is not None:
                dependence_batch = (dependence_batch[0], to_channels_first(dependence_batch[1]))
        return sift_core.siftfunnel_terms(
            x, z, logits, as_class_indices(labels), alpha=self.alpha, beta=self.beta, lambda_1=self.lambda_1,
            gamma=self.gamma, epsilon=self.epsilon, num_classes=self.num_classes, unbiased=self.unbiased,
            include_diagonal=self.include_diagonal, dependence_batch=dependence_batch, teacher_logits=teacher_logits,
            distill=self.distill, temperature=self.temperature)

    def get_config(self) -> dict:
        return {"alpha": self.alpha, "beta": self.beta, "lambda_1": self.lambda_1, "gamma": self.gamma,
                "epsilon": self.epsilon, "num_classes": self.num_classes, "unbiased": self.unbiased,
                "include_diagonal": self.include_diagonal, "channels_last": self.channels_last,
                "distill": self.distill, "temperature": self.temperature}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"SiftFunnelLoss({args})"
