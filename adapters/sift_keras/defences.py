"""Defences behind one interface: a Keras layer between edge and cloud plus its loss terms.

A :class:`Defence` does two things:

* ``call(z, training)`` turns the edge's features ``z`` into what is sent to
  the cloud (identity, noise, dropout, a variational bottleneck sample);
* ``loss_terms(x, z, logits, labels, aux)`` returns the training objective as
  a dict of unweighted terms plus the weighted ``"total"``, every formula a
  call into ``sift_core.objective``.

Kinds (the keys of :data:`DEFENCES`, each class's ``kind``, as in ``sift_torch``):
``none``, ``noise`` (Gaussian noise on z, sigma 0.8), ``dropout`` (dropout on z,
rate 0.8), ``nopeek`` (CE + w dCor(x, z)), ``mid`` (variational information
bottleneck on z), ``bido`` (CE + w_x HSIC(x, z) - w_y HSIC(z, y)),
``siftfunnel`` (:class:`~sift_keras.losses.SiftFunnelLoss`; pair it with a
:class:`~sift_keras.models.FunnelEdge`).  Noise and dropout act at inference
too: they protect only if the transmitted features carry them.  Settings are
keyword-only; :func:`register_defence` adds a defence of your own.
"""

from __future__ import annotations

import sift_core

from ._keras import check_non_negative, keras, ops, serializable
from .losses import SiftFunnelLoss, as_class_indices

__all__ = [
    "Defence", "NoDefence", "NoiseDefence", "DropoutDefence", "NoPeekDefence", "MIDDefence",
    "BiDODefence", "SiftFunnelDefence", "make_defence", "register_defence", "DEFENCES",
]


def _ce(logits, labels):
    task = sift_core.label_smoothed_cross_entropy(logits, as_class_indices(labels))
    return {"task": task, "total": task}


class Defence(keras.layers.Layer):
    """Base class: identity transmission, plain cross-entropy objective."""

    #: the registry key (:func:`make_defence`, :func:`register_defence`); ``name`` is the layer's own
    kind = "none"
    #: whether ``call`` acts only in training (False: also at inference)
    training_only = True

    def call(self, z, training=None):
        return z

    def transmit(self, z, training=None):
        """``(z_sent, aux)``: the transmitted features and what ``loss_terms`` needs besides them."""
        return self(z, training=training), {}

    def loss_terms(self, x, z, logits, labels, aux=None, *, dependence_batch=None) -> dict:
        """Unweighted terms and their weighted ``"total"`` for one batch."""
        return _ce(logits, labels)

    def compute_output_shape(self, input_shape):
        return input_shape


@serializable
class NoDefence(Defence):
    """Undefended: z is sent as is; the loss is the cross-entropy."""

    kind = "none"


class _Seeded(Defence):
    def __init__(self, *, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


@serializable
class NoiseDefence(_Seeded):
    """Sends ``z + sigma * N(0, I)``, in training and at inference (sigma 0.8 in the paper)."""

    kind = "noise"
    training_only = False

    def __init__(self, *, sigma: float = 0.8, seed: int | None = None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.sigma = check_non_negative(sigma, "sigma")

    def call(self, z, training=None):
        return z + self.sigma * keras.random.normal(ops.shape(z), dtype=z.dtype, seed=self.seed_generator)

    def get_config(self):
        return {**super().get_config(), "sigma": self.sigma}


@serializable
class GaussianNoiseDefence(NoiseDefence):
    """The old name of :class:`NoiseDefence`, registered under it so that ``.keras`` files saved before
    the rename still load; new code should use ``NoiseDefence``."""


@serializable
class DropoutDefence(_Seeded):
    """Sends ``dropout(z, rate)`` (kept entries scaled by 1 / (1 - rate)), in training and at inference."""

    kind = "dropout"
    training_only = False

    def __init__(self, *, rate: float = 0.8, seed: int | None = None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.rate = check_non_negative(rate, "rate")
        if not self.rate < 1:
            raise ValueError(f"rate must be in [0, 1); got {rate!r}")

    def call(self, z, training=None):
        return keras.random.dropout(z, self.rate, seed=self.seed_generator)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate}


@serializable
class NoPeekDefence(Defence):
    """NoPeek: ``CE + weight * dCor(x, z)`` (Vepakomma et al. 2020; :func:`sift_core.nopeek_terms`)."""

    kind = "nopeek"

    def __init__(self, *, weight: float = 0.5, squared: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.weight = check_non_negative(weight, "weight")
        self.squared = bool(squared)

    def loss_terms(self, x, z, logits, labels, aux=None, *, dependence_batch=None):
        return sift_core.nopeek_terms(x, z, logits, as_class_indices(labels), weight=self.weight,
                                      squared=self.squared, dependence_batch=dependence_batch)

    def get_config(self):
        return {**super().get_config(), "weight": self.weight, "squared": self.squared}


@serializable
class BiDODefence(Defence):
    """BiDO-HSIC: ``CE + weight_x HSIC(x, z) - weight_y HSIC(z, y)`` (Peng et al. 2022; ``sift_core.bido_terms``)."""

    kind = "bido"

    def __init__(self, *, weight_x: float = 0.05, weight_y: float = 0.5, kernel: str = "gaussian", **kwargs):
        super().__init__(**kwargs)
        self.weight_x = check_non_negative(weight_x, "weight_x")
        self.weight_y = check_non_negative(weight_y, "weight_y")
        if kernel not in ("gaussian", "linear"):
            raise ValueError(f"kernel must be 'gaussian' or 'linear'; got {kernel!r}")
        self.kernel = kernel

    def loss_terms(self, x, z, logits, labels, aux=None, *, dependence_batch=None):
        if dependence_batch is not None:
            dependence_batch = (dependence_batch[0], dependence_batch[1], as_class_indices(dependence_batch[2]))
        return sift_core.bido_terms(x, z, logits, as_class_indices(labels), weight_x=self.weight_x,
                                    weight_y=self.weight_y, kernel=self.kernel, dependence_batch=dependence_batch)

    def get_config(self):
        return {**super().get_config(), "weight_x": self.weight_x, "weight_y": self.weight_y, "kernel": self.kernel}


@serializable
class MIDDefence(_Seeded):
    r"""MID: a variational information bottleneck on z (Wang et al. 2021; Alemi et al. 2017).

    A 1x1 convolution maps z to a mean and a log-variance with z's channel
    count; training sends the sample ``mu + exp(logvar / 2) * eps``, inference
    sends ``mu`` (or a sample with ``sample_at_inference=True``).  Objective:
    ``CE + weight * KL(N(mu, sigma^2) || N(0, I))`` with the per-entry mean KL
    of :func:`sift_core.gaussian_kl`.
    """

    kind = "mid"

    def __init__(self, *, weight: float = 0.01, sample_at_inference: bool = False, seed: int | None = None,
                 **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.weight = check_non_negative(weight, "weight")
        self.sample_at_inference = bool(sample_at_inference)
        self.training_only = not self.sample_at_inference

    def build(self, input_shape):
        self.encoder = keras.layers.Conv2D(2 * input_shape[-1], 1, name="encoder")
        self.encoder.build(input_shape)

    def _encode(self, z):
        mean, logvar = ops.split(self.encoder(z), 2, axis=-1)
        return mean, ops.clip(logvar, -10.0, 10.0)

    def _sample(self, mean, logvar, training):
        if training or self.sample_at_inference:
            eps = keras.random.normal(ops.shape(mean), dtype=mean.dtype, seed=self.seed_generator)
            return mean + ops.exp(0.5 * logvar) * eps
        return mean

    def call(self, z, training=None):
        mean, logvar = self._encode(z)
        return self._sample(mean, logvar, training)

    def transmit(self, z, training=None):
        if not self.built:
            self.build(z.shape)
        mean, logvar = self._encode(z)
        return self._sample(mean, logvar, training), {"mean": mean, "logvar": logvar}

    def loss_terms(self, x, z, logits, labels, aux=None, *, dependence_batch=None):
        if not aux:
            aux = dict(zip(("mean", "logvar"), self._encode(z)))
        return sift_core.mid_terms(logits, as_class_indices(labels), aux["mean"], aux["logvar"], weight=self.weight)

    def get_config(self):
        return {**super().get_config(), "weight": self.weight, "sample_at_inference": self.sample_at_inference}


class _Untracked:
    """Holds a model out of Keras's automatic tracking: the teacher's weights must not join the
    student's variables (nor its optimiser, nor its ``.keras`` file)."""

    __slots__ = ("model",)

    def __init__(self, model):
        self.model = model


@serializable
class SiftFunnelDefence(Defence):
    """SiftFunnel: z is sent as is; the objective is ``loss`` (:class:`SiftFunnelLoss`).

    ``teacher``: a trained model mapping the same inputs to logits (e.g. the undefended
    ``SplitModel``), needed when ``loss.distill > 0``; it runs with ``training=False`` and no
    gradient, and is neither trained nor saved with the model (set ``defence.teacher`` again to
    continue training a loaded one).
    """

    kind = "siftfunnel"

    def __init__(self, *, loss: SiftFunnelLoss | dict | None = None, teacher=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(loss, dict):
            loss = SiftFunnelLoss.from_config(loss)
        loss = SiftFunnelLoss() if loss is None else loss
        if not isinstance(loss, SiftFunnelLoss):
            raise TypeError(f"loss must be a SiftFunnelLoss; got {type(loss).__name__}")
        self.loss = loss
        self.teacher = teacher

    @property
    def teacher(self):
        return self._teacher.model

    def __setattr__(self, name, value):
        # Keras tracks every layer assigned to a layer's attribute (its weights would join the
        # student's trainable variables): the teacher is stored around that tracking
        if name != "teacher":
            return super().__setattr__(name, value)
        if value is not None and not callable(value):
            raise TypeError(f"teacher must be a Keras model giving logits, or None; got {type(value).__name__}")
        object.__setattr__(self, "_teacher", _Untracked(value))

    def loss_terms(self, x, z, logits, labels, aux=None, *, dependence_batch=None):
        teacher_logits = None
        if self.loss.distill > 0:
            if self.teacher is None:
                raise ValueError("teacher: required when the loss's distill > 0 (a trained model giving logits "
                                 "for the inputs; set SiftFunnelDefence.teacher)")
            teacher_logits = ops.stop_gradient(self.teacher(x, training=False))
        return self.loss(x, z, logits, labels, dependence_batch=dependence_batch, teacher_logits=teacher_logits)

    def get_config(self):
        return {**super().get_config(), "loss": self.loss.get_config()}


#: kind -> class: what :func:`make_defence` builds (:func:`register_defence` adds to it)
DEFENCES: dict[str, type[Defence]] = {}

#: the Keras package name under which :func:`register_defence` registers classes not yet serialisable
CUSTOM_PACKAGE = "sift_keras_custom"


def register_defence(cls):
    """Add a :class:`Defence` subclass to :data:`DEFENCES` under ``cls.kind`` (usable as a decorator).

    A class not yet registered with Keras is registered too (package ``"sift_keras_custom"``), so
    that models holding it save to and load from ``.keras`` files; like every Keras layer it then
    needs a ``get_config`` that returns its constructor's keywords.  Returns ``cls``.
    """
    if not (isinstance(cls, type) and issubclass(cls, Defence)):
        raise TypeError(f"cls must be a sift_keras Defence subclass; got {cls!r}")
    kind = getattr(cls, "kind", None)
    if not isinstance(kind, str) or not kind:
        raise ValueError(f"cls.kind must be a non-empty string; got {kind!r} on {cls.__name__}")
    if ">" not in keras.saving.get_registered_name(cls):  # the name is "package>Class" once registered
        keras.saving.register_keras_serializable(package=CUSTOM_PACKAGE)(cls)
    DEFENCES[kind] = cls
    return cls


for _cls in (NoDefence, NoiseDefence, DropoutDefence, NoPeekDefence, MIDDefence, BiDODefence, SiftFunnelDefence):
    register_defence(_cls)


def make_defence(name: str = "none", **kwargs) -> Defence:
    """The defence of kind ``name`` (a key of :data:`DEFENCES`) with its settings as keywords.

    ``make_defence("siftfunnel", beta=1.0)`` forwards the keywords to
    :class:`SiftFunnelLoss` (``teacher``, ``name`` and ``dtype`` go to the defence); the other
    kinds take them in their constructor.
    """
    if name not in DEFENCES:
        raise ValueError(f"name must be one of {sorted(DEFENCES)}; got {name!r}")
    cls = DEFENCES[name]
    if cls is SiftFunnelDefence:
        layer_kw = {k: kwargs.pop(k) for k in ("name", "dtype", "teacher") if k in kwargs}
        loss = kwargs.pop("loss", None)
        if loss is not None and kwargs:
            raise ValueError("pass either loss= or SiftFunnelLoss keywords, not both")
        return SiftFunnelDefence(loss=loss if loss is not None else SiftFunnelLoss(**kwargs), **layer_kw)
    return cls(**kwargs)
