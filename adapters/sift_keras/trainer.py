"""``SplitModel``: edge -> defence -> cloud, trained with ``model.fit`` on every Keras backend.

Why ``compute_loss`` and not ``add_loss``: the penalties need the input batch
``x``, the transmitted features ``z`` *and* the labels (BiDO's HSIC(z, y), the
smoothed KL), and ``add_loss`` inside ``call`` never sees the labels.  Keras 3
passes ``x``, ``y`` and the forward pass's output to ``compute_loss`` in the
``train_step`` of each backend (TensorFlow's GradientTape, JAX's stateless
``value_and_grad``, torch's autograd), so the objective is written once with
``keras.ops`` and ``sift_core``, and every backend trains it.  This keeps
everything Keras offers: ``fit``/``evaluate``/``predict``, callbacks and the
progress bar (each loss term is a logged metric), ``jit_compile``,
``tf.distribute`` and the ``.keras`` format (every class is registered
serialisable and rebuilt from its config).

Distributed training (``tf.distribute.MirroredStrategy``): with
``dependence="global"`` (the default, as in ``sift_torch`` under DDP) the
dependence penalties (dCor for SiftFunnel and NoPeek, both HSIC terms for BiDO)
are computed on the global batch: each replica all-gathers ``x`` and ``z`` (and
the labels for BiDO), and gradients flow back through the gather to each
replica's slice.  The reason: dCor and HSIC are batch statistics, not sums over
samples, so the mean of per-replica values is a different objective (dCor^2_V
on B/R samples is more biased) and training would change with the number of
devices.  With "global", one step on R replicas equals one single-device step
on the global batch (tested to 1e-7 on a model without BatchNorm; BatchNorm
itself normalises per replica).  The per-sample terms (task loss, mean|z|,
R_P) are averages over samples and use the local slice, which gives the same
mean.  ``dependence="replica"`` computes everything per replica: no transfer
of inputs between devices and O((B/R)^2) instead of O(B^2) memory, at the price
of the per-replica objective.
"""

from __future__ import annotations

import contextlib
import warnings

from sift_core.training_checks import accuracy_at_chance

from ._keras import keras, ops, serializable
from .data import ShuffledArrays
from .defences import Defence, NoDefence
from .losses import SiftFunnelLoss, as_class_indices

__all__ = ["SplitModel", "DeadFeatureMonitor", "DeadFeaturesWarning", "ChanceAccuracyMonitor",
           "ChanceAccuracyWarning", "default_optimizer", "TERMS"]

#: the logged terms of each defence kind
TERMS = {"none": ("task",), "noise": ("task",), "dropout": ("task",), "nopeek": ("task", "dcor"),
         "mid": ("task", "kl"), "bido": ("task", "hsic_xz", "hsic_zy"),
         "siftfunnel": ("task", "dcor", "l1", "redundancy")}


_NO_SAMPLE_WEIGHT = "sample_weight is not supported by SplitModel: its penalties are batch statistics"


class DeadFeaturesWarning(UserWarning):
    """The transmitted features were all zero over a batch."""


class ChanceAccuracyWarning(UserWarning):
    """Training accuracy is still at chance level after a few epochs (``sift_torch.ChanceAccuracyWarning``)."""


DEAD_ADVICE = ("every transmitted feature z is 0 over a batch: the cloud sees nothing, the task loss cannot train "
               "the edge and the dCor, R_P and L1 penalties have no gradient, so accuracy will stay at chance. The "
               "edge's output activation has died (typically a ReLU before transmission at too high a learning "
               "rate). Lower the learning rate (e.g. 2e-3 instead of 1e-2), use "
               "FunnelEdge(output_activation='leaky_relu'), or lower lambda_1.")


def default_optimizer(learning_rate: float = 2e-3, *, decay_steps: int | None = None):
    """Adam(``learning_rate``, beta_1 0.5, AMSGrad), the authors' optimiser at a learning rate that trains.

    The authors' 1e-2 killed the funnel's last ReLU within ~30 batches on
    Fashion-MNIST (docs/method.md); 2e-3 is what their FaceScrub runs used.
    ``decay_steps`` (the run's total optimiser steps) adds cosine decay to 0, as
    ``sift_torch.TrainConfig(lr_schedule="cosine")`` does: short runs then end on
    a settled model.
    """
    lr = learning_rate
    if decay_steps is not None:
        if isinstance(decay_steps, bool) or not isinstance(decay_steps, int) or decay_steps < 1:
            raise ValueError(f"decay_steps must be a positive integer or None; got {decay_steps!r}")
        lr = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps)
    return keras.optimizers.Adam(learning_rate=lr, beta_1=0.5, beta_2=0.999, amsgrad=True)


@serializable
class SplitModel(keras.Model):
    """A split classifier ``cloud(defence(edge(x)))`` trained on the defence's objective.

    Parameters
    ----------
    edge, cloud : Keras layers/models (channels-last feature maps between them).
    defence : a :class:`~sift_keras.defences.Defence` (default: none).
    dependence : "global" (default) or "replica": whether the dependence penalties
        use the batch gathered from every replica under ``tf.distribute`` or each
        replica's slice (module docstring).
    warn_dead : add a :class:`DeadFeatureMonitor` to every ``fit`` (a :class:`ChanceAccuracyMonitor`
        is always added: it warns when training accuracy stays at chance, by ``sift_torch``'s rule).

    ``model(x)`` returns logits; :meth:`transmit` returns what the cloud (and an
    eavesdropper) receives.  Logged metrics: ``loss`` (the total), one entry
    per objective term, ``accuracy``, ``z_active`` (fraction of non-zero values
    of the edge's output) and ``dead_batches`` (batches whose edge output was all 0).
    Labels are class indices, ``(n, 1)`` columns or one-hot rows;
    ``sample_weight`` is not supported (the penalties are batch statistics).
    """

    def __init__(self, edge, cloud, defence: Defence | None = None, *, dependence: str = "global",
                 warn_dead: bool = True, **kwargs):
        super().__init__(**kwargs)
        if dependence not in ("replica", "global"):
            raise ValueError(f"dependence must be 'replica' or 'global'; got {dependence!r}")
        for name, part in (("edge", edge), ("cloud", cloud)):
            if not callable(part):
                raise TypeError(f"{name} must be a Keras layer or model; got {type(part).__name__}")
        defence = NoDefence() if defence is None else defence
        if not isinstance(defence, Defence):
            raise TypeError(f"defence must be a sift_keras Defence; got {type(defence).__name__}")
        self.edge, self.cloud, self.defence = edge, cloud, defence
        self.dependence = dependence
        self.warn_dead = bool(warn_dead)
        loss = getattr(defence, "loss", None)  # SiftFunnel's terms depend on its loss (distillation)
        self.term_names = loss.terms if isinstance(loss, SiftFunnelLoss) else TERMS.get(defence.kind, ("task",))
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.term_trackers = {t: keras.metrics.Mean(name=t) for t in self.term_names}
        self.accuracy = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
        self.z_active = keras.metrics.Mean(name="z_active")
        self.dead_batches = keras.metrics.Sum(name="dead_batches")
        self._input_shape_seen = None
        self._in_step = False  # True while train_step / test_step run (see `call`)
        self._num_classes = None  # the logits' width, read while tracing a step (ChanceAccuracyMonitor)

    # ------------------------------------------------------------------ forward
    def call(self, x, training=None):
        z = self.edge(x, training=training)
        if self._in_step:
            # inside train_step / test_step: compute_loss needs z and the defence's extras besides the logits
            z_sent, aux = self.defence.transmit(z, training=training)
            return {**aux, "logits": self.cloud(z_sent, training=training), "z": z}
        return self.cloud(self.defence(z, training=training), training=training)

    def features(self, x, training=False):
        """The edge's output z, before the defence's transformation."""
        return self.edge(x, training=training)

    def transmit(self, x, training=False):
        """What leaves the device: ``defence(edge(x))`` (noise and dropout included)."""
        return self.defence(self.edge(x, training=training), training=training)

    @property
    def metrics(self):
        return [self.loss_tracker, *self.term_trackers.values(), self.accuracy, self.z_active, self.dead_batches]

    def compile(self, optimizer=None, **kwargs):
        """``keras.Model.compile`` with :func:`default_optimizer` when ``optimizer`` is None.

        ``loss`` and ``metrics`` are fixed by the defence and must not be given.
        """
        for key in ("loss", "metrics", "weighted_metrics", "loss_weights"):
            if kwargs.get(key) is not None:
                raise ValueError(f"{key} is set by the defence; do not pass it to SplitModel.compile")
            kwargs.pop(key, None)
        super().compile(optimizer=default_optimizer() if optimizer is None else optimizer, **kwargs)

    # ------------------------------------------------------------------ steps
    # Keras's own train_step / test_step of each backend (GradientTape, jax.value_and_grad with its
    # stateless variables, torch autograd) run the forward pass and call compute_loss and
    # compute_metrics; the objective lives only in those two.  While a step runs, `call` returns
    # the dict compute_loss needs instead of the bare logits.
    def train_step(self, *args):
        with self._step_outputs():
            return _unconverted(super().train_step)(*args)

    def test_step(self, *args):
        with self._step_outputs():
            return _unconverted(super().test_step)(*args)

    @contextlib.contextmanager
    def _step_outputs(self):
        self._in_step = True
        try:
            yield
        finally:
            self._in_step = False

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The defence's objective on one batch (plus any ``add_loss`` terms), each term logged.

        ``y_pred`` is what :meth:`call` returns inside a step: the logits, the edge's output ``z``
        and the defence's extras (MID's mean and log-variance).  Under ``tf.distribute`` the
        returned loss is divided by the number of replicas, whose gradients are summed.
        """
        if sample_weight is not None:
            raise ValueError(_NO_SAMPLE_WEIGHT)
        if y is None:
            raise ValueError("SplitModel needs labels: fit/evaluate on (x, y)")
        if not isinstance(y_pred, dict) or "z" not in y_pred:
            raise TypeError("y_pred must be the dict SplitModel.call returns inside train_step/test_step "
                            "(logits, z and the defence's extras), not the bare logits of model(x)")
        if self._input_shape_seen is None:
            # the step bypasses build(): record the input shape for `.keras` rebuilding
            self._input_shape_seen = (None, *tuple(x.shape)[1:])
            self.built = True
        logits, z = y_pred["logits"], y_pred["z"]
        aux = {k: v for k, v in y_pred.items() if k not in ("logits", "z")}
        terms = self.defence.loss_terms(x, z, logits, y, aux, dependence_batch=self._gathered(x, z, y))
        total = terms["total"]
        if self.losses:
            total = total + ops.sum(ops.stack([ops.cast(v, total.dtype) for v in self.losses]))
        n = ops.shape(logits)[0]
        self.loss_tracker.update_state(ops.stop_gradient(total), sample_weight=n)
        for name, tracker in self.term_trackers.items():
            tracker.update_state(ops.stop_gradient(terms[name]), sample_weight=n)
        replicas = _replicas()
        return total / replicas if replicas > 1 else total

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        logits, z = y_pred["logits"], y_pred["z"]
        self._num_classes = logits.shape[-1]  # static under tracing, so no host read in the step
        n = ops.shape(logits)[0]
        self.accuracy.update_state(as_class_indices(y), logits)
        nonzero = ops.cast(ops.not_equal(z, 0), "float32")
        self.z_active.update_state(ops.mean(nonzero), sample_weight=n)
        self.dead_batches.update_state(ops.cast(ops.max(nonzero) == 0, "float32"))
        return {m.name: m.result() for m in self.metrics}

    def _gathered(self, x, z, y):
        if self.dependence != "global" or _replicas() == 1:
            return None
        import tensorflow as tf

        ctx = tf.distribute.get_replica_context()
        if ctx is None:
            return None
        return ctx.all_gather(x, axis=0), ctx.all_gather(z, axis=0), ctx.all_gather(y, axis=0)

    # ------------------------------------------------------------------ fit
    def fit(self, x=None, y=None, *args, **kwargs):
        """``keras.Model.fit``; adds a :class:`ChanceAccuracyMonitor`, a :class:`DeadFeatureMonitor` (if
        ``warn_dead``) and, for a :class:`~sift_keras.data.ShuffledArrays` input, its epoch callback (and
        ``shuffle=False``: it shuffles itself, reproducibly per epoch, so a resumed run sees the same batches)."""
        if args:
            raise TypeError("SplitModel.fit takes x and y positionally and every other argument by keyword")
        if kwargs.get("sample_weight") is not None:
            # before Keras starts: a failed JAX step leaves the model's variables emptied
            raise ValueError(_NO_SAMPLE_WEIGHT)
        callbacks = list(kwargs.pop("callbacks", None) or [])
        if self.warn_dead and not any(isinstance(c, DeadFeatureMonitor) for c in callbacks):
            callbacks.append(DeadFeatureMonitor())
        if not any(isinstance(c, ChanceAccuracyMonitor) for c in callbacks):
            callbacks.append(ChanceAccuracyMonitor())
        if isinstance(x, ShuffledArrays):
            callbacks.insert(0, x.epoch_callback())
            kwargs["shuffle"] = False
            if keras.backend.backend() == "tensorflow":  # in-graph batches: no Python call per batch
                x = x.tf_dataset(int(kwargs.get("epochs", 1)))
        if not self.built:
            # build now, so that callbacks that restore weights (BackupAndRestore) find them
            shape = _input_shape(x)
            if shape is not None:
                self.build(shape)
        return super().fit(x, y, callbacks=callbacks, **kwargs)

    # ------------------------------------------------------------------ config
    def get_config(self):
        ser = keras.saving.serialize_keras_object
        return {**super().get_config(), "edge": ser(self.edge), "cloud": ser(self.cloud),
                "defence": ser(self.defence), "dependence": self.dependence, "warn_dead": self.warn_dead}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        des = keras.saving.deserialize_keras_object
        for key in ("edge", "cloud", "defence"):
            config[key] = des(config[key])
        return cls(**config)

    # ------------------------------------------------------------------ random state
    # Keras saves no random-generator state, so a run restored by BackupAndRestore (or a loaded
    # `.keras` model) would draw other dropout masks and noise than the run it continues.  The
    # states of every generator in the model are saved with the weights, in a fixed order.
    def _seed_states(self):
        return [v for v in self.non_trainable_variables if v.path.endswith("seed_generator_state")]

    def save_own_variables(self, store):
        super().save_own_variables(store)
        for i, v in enumerate(self._seed_states()):
            store[f"seed_state_{i}"] = keras.ops.convert_to_numpy(v.value)

    def load_own_variables(self, store):
        keys = list(store.keys())
        super().load_own_variables({k: store[k] for k in keys if not k.startswith("seed_state_")})
        for i, v in enumerate(self._seed_states()):
            if f"seed_state_{i}" in keys:
                v.assign(store[f"seed_state_{i}"])

    def compile_from_config(self, config):
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def get_build_config(self):
        shape = self._input_shape_seen or (super().get_build_config() or {}).get("input_shape")
        return None if shape is None else {"input_shape": tuple(shape)}

    def build_from_config(self, config):
        if config and "input_shape" in config:
            self.build(config["input_shape"])

    def build(self, input_shape):
        # Build the parts on a zero batch so that `.keras` loading finds every weight.
        if not (self.edge.built and self.cloud.built and self.defence.built):
            z = self.edge(ops.zeros((1, *input_shape[1:])), training=False)
            self.cloud(self.defence(z, training=False), training=False)
        self._input_shape_seen = self._input_shape_seen or (None, *tuple(input_shape)[1:])
        self.built = True


def _replicas() -> int:
    """The number of ``tf.distribute`` replicas whose gradients are summed (1 on the other backends)."""
    if keras.backend.backend() != "tensorflow":
        return 1
    import tensorflow as tf

    return tf.distribute.get_strategy().num_replicas_in_sync


def _unconverted(step):
    """``step`` marked for autograph to leave alone (TensorFlow); the other backends have no autograph.

    Autograph would rewrite every function the step calls (sift_core included) for nothing: no Python
    branch in them depends on a tensor's value.  Keras's fit already calls the step unconverted; this
    keeps a user's own tf.function around train_step as fast to trace.
    """
    if keras.backend.backend() != "tensorflow":
        return step
    import tensorflow as tf

    return tf.autograph.experimental.do_not_convert(step)


def _input_shape(x):
    """(None, H, W, C) of the inputs ``fit`` receives, where it can be read without consuming data."""
    if isinstance(x, ShuffledArrays):
        x = x.x
    if hasattr(x, "element_spec"):  # tf.data.Dataset of (x, y[, w])
        spec = x.element_spec
        spec = spec[0] if isinstance(spec, tuple) else spec
        return (None, *tuple(spec.shape)[1:]) if hasattr(spec, "shape") else None
    if hasattr(x, "shape") and len(x.shape) >= 2:
        return (None, *tuple(x.shape)[1:])
    return None


class DeadFeatureMonitor(keras.callbacks.Callback):
    """Warns (once per ``fit``) when a training batch's transmitted features were all zero.

    Reads the ``dead_batches`` metric that :class:`SplitModel` logs, so it
    costs nothing in the training step.
    """

    def on_train_begin(self, logs=None):
        self._warned = False

    def on_train_batch_end(self, batch, logs=None):
        if not self._warned and logs and float(logs.get("dead_batches", 0.0)) > 0:
            self._warned = True
            warnings.warn(f"batch {batch}: {DEAD_ADVICE}", DeadFeaturesWarning, stacklevel=2)

    def on_epoch_end(self, epoch, logs=None):
        if not self._warned and logs and float(logs.get("z_active", 1.0)) == 0.0:
            self._warned = True
            warnings.warn(f"epoch {epoch}: {DEAD_ADVICE}", DeadFeaturesWarning, stacklevel=2)


class ChanceAccuracyMonitor(keras.callbacks.Callback):
    """Warns (once per ``fit``) when an epoch's training accuracy is still about chance.

    The rule is :func:`sift_core.training_checks.accuracy_at_chance`, as in ``sift_torch``'s
    trainer: below chance plus a tenth of the way to 1, judged from the 3rd epoch and the 100th
    step on.  Reads the ``accuracy`` that :class:`SplitModel` logs for each epoch.
    """

    def on_train_begin(self, logs=None):
        self._warned = False

    def on_epoch_end(self, epoch, logs=None):
        k = getattr(self.model, "_num_classes", None)
        accuracy = (logs or {}).get("accuracy")
        if self._warned or accuracy is None or not isinstance(k, int):
            return
        steps = self.params.get("steps")  # per epoch; None for data of unknown length
        done = (epoch + 1) * steps if steps else int(self.model.optimizer.iterations)
        if accuracy_at_chance(float(accuracy), num_classes=k, epochs=epoch + 1, steps=done):
            self._warned = True
            warnings.warn(
                f"training accuracy is {float(accuracy):.3f} after {epoch + 1} epochs, about chance for {k} "
                "classes: the model is not learning. Lower the learning rate (default_optimizer's 2e-3 trains "
                "the funnel models, 1e-2 does not) or check the labels.", ChanceAccuracyWarning, stacklevel=2)
