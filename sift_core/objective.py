r"""Training objectives of the edge model, written once for every backend.

The SiftFunnel objective (Liu et al., "Information Sifting Funnel", arXiv
2501.00824) and the baselines it is compared with are sums of a task loss and
penalties on the transmitted features ``z``.  Each adapter (torch, Keras)
composes its loss by calling these functions, so the formulas live here only:

* :func:`label_smoothed_cross_entropy` -- the task term (plain CE at ``epsilon=0``);
* :func:`siftfunnel_terms` -- ``alpha KL(y_eps || p) + beta dCor^2_V(x, z)
  + lambda_1 mean|z| + gamma R_P(z)``;
* :func:`nopeek_terms` -- ``CE + w dCor(x, z)`` (Vepakomma et al. 2020);
* :func:`bido_terms` -- ``CE + w_x HSIC(x, z) - w_y HSIC(z, y)`` (Peng et al. 2022);
* :func:`gaussian_kl` -- ``KL(N(mu, diag sigma^2) || N(0, I))`` of a
  variational information bottleneck, and :func:`mid_terms` -- ``CE + w KL``
  (MID, Wang et al. 2021);
* :func:`distillation_kl` -- ``T^2 KL(softmax(t/T) || softmax(s/T))``, the
  optional term that distils a trained teacher's soft labels into the model.

Inputs are numpy arrays (results are np.float64) or tensors of one framework
(results are differentiable scalar tensors on the tensors' device).  Terms are
returned unweighted in a dict together with the weighted ``"total"``, so that
every term can be logged separately.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from ._backend import NUMPY, Ops, get_ops
from ._validation import as_float, check_choice, check_finite, check_positive
from .dependence import distance_correlation, hsic
from .redundancy import channel_redundancy

__all__ = [
    "SIFTFUNNEL_DEFAULTS",
    "label_smoothed_cross_entropy",
    "smoothed_target_entropy",
    "siftfunnel_terms",
    "nopeek_terms",
    "bido_terms",
    "gaussian_kl",
    "mid_terms",
    "distillation_kl",
]


#: The SiftFunnel objective's default weights (the authors'), the one table that
#: :func:`siftfunnel_terms`, both adapters' losses and the harness's spec read.
SIFTFUNNEL_DEFAULTS: dict[str, float] = {"alpha": 5.0, "beta": 2.0, "lambda_1": 0.03, "gamma": 2.0, "epsilon": 0.25}

# --------------------------------------------------------------------------- checks


def _weight(value: Any, name: str) -> float:
    check_positive(value, name, allow_zero=True)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite; got {value!r}")
    return float(value)


def _check_epsilon(epsilon: Any) -> float:
    check_positive(epsilon, "epsilon", allow_zero=True)
    if not epsilon < 1:
        raise ValueError(f"epsilon must be in [0, 1); got {epsilon!r}")
    return float(epsilon)


def _as_logits(ops: Ops, logits: Any):
    logits = as_float(ops, logits, "logits")
    shape = ops.shape(logits)
    if len(shape) != 2:
        raise ValueError(f"logits must have shape (n, num_classes); got shape {shape}")
    if shape[1] is not None and shape[1] < 2:
        raise ValueError(f"logits need at least 2 classes; got shape {shape}")
    if shape[0] is not None and shape[0] < 1:
        raise ValueError("logits need at least 1 sample")
    check_finite(ops, logits, "logits")
    return logits


def _check_labels(ops: Ops, labels: Any, n, num_classes: int) -> Any:
    if not hasattr(labels, "dtype"):
        labels = np.asarray(labels)
    dtype = str(labels.dtype)
    if "int" not in dtype:
        raise TypeError(f"labels must hold integer class indices; got dtype {dtype}")
    shape = tuple(labels.shape)
    if len(shape) != 1:
        raise ValueError(f"labels must be a 1-D array of class indices; got shape {shape}")
    if n is not None and shape[0] is not None and shape[0] != n:
        raise ValueError(f"labels and logits must have the same number of samples; got {shape[0]} and {n}")
    lo_hi = _label_range(ops, labels)
    if lo_hi is not None and shape[0]:
        lo, hi = lo_hi
        if lo < 0 or hi >= num_classes:
            raise ValueError(f"labels must lie in [0, {num_classes}); got values in [{lo}, {hi}]")
    return labels


def _label_range(ops: Ops, labels: Any):
    """(min, max) of the labels where reading them costs no device synchronisation."""
    if isinstance(labels, np.ndarray):
        return (int(labels.min()), int(labels.max())) if labels.size else None
    if ops.name == "torch":
        if labels.device.type != "cpu" or labels.numel() == 0:
            return None
        return int(labels.min()), int(labels.max())
    if ops.name == "tensorflow" and ops.eager:
        tf = ops.tf  # type: ignore[attr-defined]
        return int(tf.reduce_min(labels)), int(tf.reduce_max(labels))
    return None


def _num_classes(ops: Ops, logits, num_classes: Any) -> int:
    k = ops.shape(logits)[1]
    if num_classes is None:
        if k is None:
            raise ValueError("num_classes must be given when the logits' class axis is not static")
        return int(k)
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral):
        raise TypeError(f"num_classes must be an integer; got {type(num_classes).__name__}")
    if k is not None and int(num_classes) != k:
        raise ValueError(f"num_classes ({num_classes}) does not match the logits' {k} classes")
    return int(num_classes)


# --------------------------------------------------------------------------- task loss


def smoothed_target_entropy(epsilon: float, num_classes: int) -> float:
    """Entropy (nats) of the smoothed one-hot target ``y_eps``.

    ``H(y_eps) = -(1 - eps) log(1 - eps) - eps log(eps / (K - 1))`` (0 log 0 = 0).
    """
    eps = _check_epsilon(epsilon)
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2; got {num_classes}")
    h = -(1.0 - eps) * math.log(1.0 - eps)
    if eps > 0:
        h -= eps * math.log(eps / (num_classes - 1))
    return h


def label_smoothed_cross_entropy(
    logits: Any, labels: Any, *, epsilon: float = 0.0, num_classes: int | None = None, kl: bool = False
):
    r"""Cross-entropy of softmax(``logits``) against label-smoothed one-hot targets.

    The target puts ``1 - eps`` on the true class and ``eps / (K - 1)`` on each
    of the ``K - 1`` others (the SiftFunnel authors' smoothing; Szegedy et al.
    2016 spread ``eps`` over all K classes instead):

    .. math::
        \mathrm{CE} = -\frac{1}{n} \sum_i \sum_k y^{\epsilon}_{ik} \log \mathrm{softmax}(\ell_i)_k

    ``kl=True`` returns ``KL(y_eps || p) = CE - H(y_eps)`` instead (the value the
    authors' ``F.kl_div(log_softmax, y_eps, reduction="batchmean")`` logs; same
    gradient, minimum 0).  ``epsilon=0`` is the ordinary cross-entropy.

    Parameters
    ----------
    logits : (n, K) array or tensor of unnormalised class scores.
    labels : (n,) integer class indices in [0, K).
    num_classes : K; defaults to ``logits.shape[1]`` (checked against it when given).
    """
    eps = _check_epsilon(epsilon)
    ops = get_ops(logits, labels)
    logits = _as_logits(ops, logits)
    k = _num_classes(ops, logits, num_classes)
    labels = _check_labels(ops, labels, ops.shape(logits)[0], k)
    logp = ops.log_softmax(logits, axis=-1)
    onehot = ops.one_hot(labels, k, logp)
    off = eps / (k - 1)
    target = onehot * (1.0 - eps - off) + off
    ce = -ops.mean(ops.sum(target * logp, axis=1))
    if kl:
        ce = ce - smoothed_target_entropy(eps, k)
    if ops is NUMPY:
        return np.float64(ce)
    return ce


# --------------------------------------------------------------------------- penalties


def gaussian_kl(mean: Any, logvar: Any, *, reduction: str = "mean"):
    r"""KL divergence of ``N(mean, diag exp(logvar))`` from the standard normal.

    .. math:: \mathrm{KL} = \tfrac12 \sum_j (\mu_j^2 + e^{v_j} - v_j - 1)

    per sample (Kingma and Welling 2014; the variational information bottleneck
    of Alemi et al. 2017 and MID, Wang et al. 2021).  ``reduction="batchmean"``
    averages the per-sample sums over the batch; ``"mean"`` averages over every
    entry (per-dimension KL, independent of the feature size).
    """
    check_choice(reduction, "reduction", ("mean", "batchmean"))
    ops = get_ops(mean, logvar)
    mean = as_float(ops, mean, "mean")
    logvar = as_float(ops, logvar, "logvar")
    if ops.shape(mean) != ops.shape(logvar):
        raise ValueError(f"mean and logvar must have the same shape; got {ops.shape(mean)} and {ops.shape(logvar)}")
    if len(ops.shape(mean)) < 1:
        raise ValueError("mean must have a sample axis")
    check_finite(ops, mean, "mean")
    check_finite(ops, logvar, "logvar")
    kl = 0.5 * (mean * mean + ops.exp(logvar) - logvar - 1.0)
    if reduction == "mean":
        value = ops.mean(kl)
    else:
        value = ops.sum(kl) / ops.num_rows(kl)
    if ops is NUMPY:
        return np.float64(value)
    return value


def mid_terms(logits: Any, labels: Any, mean: Any, logvar: Any, *, weight: float = 0.01,
              reduction: str = "mean", num_classes: int | None = None) -> dict:
    r"""The terms of MID's objective: ``CE + weight * KL(N(mean, exp(logvar)) || N(0, I))``.

    Returns ``{"task", "kl", "total"}``: the cross-entropy of the logits
    (:func:`label_smoothed_cross_entropy`), the bottleneck's KL
    (:func:`gaussian_kl` with ``reduction``) and the weighted sum.  ``mean`` and
    ``logvar`` are the bottleneck's outputs for the batch (any shape with the
    sample axis first); the transmitted z is a sample of that Gaussian.
    """
    w = _weight(weight, "weight")
    task = label_smoothed_cross_entropy(logits, labels, num_classes=num_classes)
    kl = gaussian_kl(mean, logvar, reduction=reduction)
    return {"task": task, "kl": kl, "total": task + w * kl}


def distillation_kl(logits: Any, teacher_logits: Any, *, temperature: float = 4.0):
    r"""Knowledge distillation: the KL of the student's softened prediction from the teacher's.

    .. math::
        T^2\,rac{1}{n}\sum_i \sum_k q_{ik} (\log q_{ik} - \log p_{ik}),\quad
        q = \mathrm{softmax}(t / T),\ p = \mathrm{softmax}(\ell / T)

    (Hinton et al. 2015; the ``T^2`` keeps the gradient's scale independent of
    ``T``).  ``teacher_logits`` are constants of the objective: pass them
    without a gradient (torch: computed under ``no_grad``).  Identical logits
    give 0.
    """
    check_positive(temperature, "temperature")
    ops = get_ops(logits, teacher_logits)
    logits = _as_logits(ops, logits)
    teacher_logits = _as_logits(ops, teacher_logits)
    if ops.shape(logits) != ops.shape(teacher_logits):
        raise ValueError(f"teacher_logits must have the shape of logits {ops.shape(logits)}; "
                         f"got {ops.shape(teacher_logits)}")
    t = float(temperature)
    logq = ops.log_softmax(teacher_logits / t, axis=-1)
    logp = ops.log_softmax(logits / t, axis=-1)
    value = (t * t) * ops.mean(ops.sum(ops.exp(logq) * (logq - logp), axis=1))
    if ops is NUMPY:
        return np.float64(value)
    return value


def _total(terms: dict, weights: dict):
    total = None
    for name, w in weights.items():
        part = terms[name] * w
        total = part if total is None else total + part
    return total


def siftfunnel_terms(
    x: Any,
    z: Any,
    logits: Any,
    labels: Any,
    *,
    alpha: float = SIFTFUNNEL_DEFAULTS["alpha"],
    beta: float = SIFTFUNNEL_DEFAULTS["beta"],
    lambda_1: float = SIFTFUNNEL_DEFAULTS["lambda_1"],
    gamma: float = SIFTFUNNEL_DEFAULTS["gamma"],
    epsilon: float = SIFTFUNNEL_DEFAULTS["epsilon"],
    num_classes: int | None = None,
    unbiased: bool = False,
    include_diagonal: bool = False,
    dependence_batch: tuple | None = None,
    teacher_logits: Any = None,
    distill: float = 0.0,
    temperature: float = 4.0,
) -> dict:
    r"""The terms of the SiftFunnel training objective and their weighted sum.

    .. math::
        L = \alpha\,\mathrm{KL}(y_\epsilon \| p) + \beta\,\mathrm{dCor}^2_V(x, z)
            + \lambda_1\,\mathrm{mean}|z| + \gamma\,R_P(z)

    Returns ``{"task", "dcor", "l1", "redundancy", "total"}``: the KL of the
    label-smoothed target (:func:`label_smoothed_cross_entropy` with
    ``kl=True``), the squared distance correlation of the flattened samples
    (:func:`sift_core.distance_correlation`, V-statistic unless ``unbiased``),
    the mean absolute feature, the channel redundancy
    (:func:`sift_core.channel_redundancy`, diagonal excluded unless
    ``include_diagonal``), and ``total``.  Defaults are the authors' (alpha 5,
    beta 2, lambda_1 0.03, gamma 2, eps 0.25).

    ``x`` is the input batch (n, ...), ``z`` the transmitted feature map
    (n, C, H, W), ``logits`` (n, K), ``labels`` (n,).  ``dependence_batch=(x_all,
    z_all)`` computes the dCor term on that larger batch instead (e.g. the
    batch gathered from every data-parallel worker); the other terms are
    per-sample averages and use the local batch.

    ``distill > 0`` adds ``distill * distillation_kl(logits, teacher_logits,
    temperature=temperature)`` as the term ``"distill"``: the soft labels of a
    trained (undefended) teacher on the same inputs, which speed up the
    funnel model's learning (not part of the authors' objective; off by default).
    """
    weights = {
        "task": _weight(alpha, "alpha"),
        "dcor": _weight(beta, "beta"),
        "l1": _weight(lambda_1, "lambda_1"),
        "redundancy": _weight(gamma, "gamma"),
    }
    if _weight(distill, "distill") > 0 and teacher_logits is None:
        raise ValueError("teacher_logits: required when distill > 0 (the teacher's logits on this batch)")
    ops = get_ops(x, z, logits)
    task = label_smoothed_cross_entropy(logits, labels, epsilon=epsilon, num_classes=num_classes, kl=True)
    dx, dz = (x, z) if dependence_batch is None else _pair(dependence_batch)
    dcor = distance_correlation(dx, dz, squared=True, unbiased=unbiased)
    zf = ops.asfloat(z)
    terms = {
        "task": task,
        "dcor": dcor,
        "l1": ops.mean(ops.abs(zf)),
        "redundancy": channel_redundancy(z, include_diagonal=include_diagonal),
    }
    if ops is NUMPY:
        terms["l1"] = np.float64(terms["l1"])
    if distill > 0:
        terms["distill"] = distillation_kl(logits, teacher_logits, temperature=temperature)
        weights["distill"] = float(distill)
    terms["total"] = _total(terms, weights)
    return terms


def _pair(batch: Any) -> tuple:
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        raise TypeError("dependence_batch must be a tuple (x_all, z_all[, labels_all])")
    return batch[0], batch[1]


def nopeek_terms(
    x: Any, z: Any, logits: Any, labels: Any, *, weight: float = 0.5, squared: bool = False,
    dependence_batch: tuple | None = None,
) -> dict:
    r"""NoPeek: ``CE + w dCor(x, z)`` (Vepakomma et al., "NoPeek", 2020).

    Returns ``{"task", "dcor", "total"}`` with the plain cross-entropy and the
    (not squared, unless ``squared``) V-statistic distance correlation of the
    flattened samples; ``dependence_batch=(x_all, z_all)`` as in
    :func:`siftfunnel_terms`.
    """
    w = _weight(weight, "weight")
    task = label_smoothed_cross_entropy(logits, labels)
    dx, dz = (x, z) if dependence_batch is None else _pair(dependence_batch)
    terms = {"task": task, "dcor": distance_correlation(dx, dz, squared=squared)}
    terms["total"] = _total(terms, {"task": 1.0, "dcor": w})
    return terms


def bido_terms(
    x: Any,
    z: Any,
    logits: Any,
    labels: Any,
    *,
    weight_x: float = 0.05,
    weight_y: float = 0.5,
    kernel: str = "gaussian",
    num_classes: int | None = None,
    dependence_batch: tuple | None = None,
) -> dict:
    r"""BiDO-HSIC: ``CE + w_x HSIC(x, z) - w_y HSIC(z, y)`` (Peng et al., KDD 2022).

    The bilateral dependency optimisation lowers the dependence of the
    features on the input while keeping their dependence on the one-hot label
    ``y``.  HSIC is :func:`sift_core.hsic` (biased estimator, Gaussian kernels
    with per-variable median bandwidth by default).  Returns ``{"task",
    "hsic_xz", "hsic_zy", "total"}``; ``dependence_batch=(x_all, z_all,
    labels_all)`` computes both HSIC terms on that batch.
    """
    wx = _weight(weight_x, "weight_x")
    wy = _weight(weight_y, "weight_y")
    task = label_smoothed_cross_entropy(logits, labels, num_classes=num_classes)
    ops = get_ops(x, z, logits)
    k = _num_classes(ops, _as_logits(ops, logits), num_classes)
    if dependence_batch is None:
        dx, dz, dy = x, z, labels
    else:
        if not isinstance(dependence_batch, (tuple, list)) or len(dependence_batch) != 3:
            raise TypeError("dependence_batch must be a tuple (x_all, z_all, labels_all) for BiDO")
        dx, dz, dy = dependence_batch
    zf = ops.asfloat(dz)
    y = ops.one_hot(_check_labels(ops, dy, ops.shape(zf)[0], k), k, zf)
    terms = {
        "task": task,
        "hsic_xz": hsic(dx, dz, kernel=kernel),
        "hsic_zy": hsic(dz, y, kernel=kernel),
    }
    terms["total"] = terms["task"] + wx * terms["hsic_xz"] - wy * terms["hsic_zy"]
    return terms
