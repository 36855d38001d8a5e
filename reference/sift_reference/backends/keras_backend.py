"""The runner's Keras 3 backend, over :mod:`sift_keras` (TensorFlow backend unless ``KERAS_BACKEND`` says otherwise).

Keras models are channels-last: images cross this boundary as (N, C, H, W) and are
transposed here. Models: ``sift_keras.split_baseline`` (undefended architectures,
with the defence as a layer or loss of ``sift_keras.SplitModel``) and
``sift_keras.funnel_split`` for ``siftfunnel`` (the CNN only: the Keras adapter
ships the funnel for the authors' CNN). Training uses ``model.fit`` with
``sift_keras.ShuffledArrays`` (per-epoch order from the seed), and after every
epoch the whole model, optimiser included, is saved atomically to
``workdir/checkpoint.keras``; training resumes from it with ``initial_epoch``.
The finished model is ``workdir/model.keras``.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sift_keras
from sift_keras._keras import keras
from sift_keras.attacks import GenerativePriorAttack, InverseNetworkAttack, RMLEAttack
from sift_keras.attacks._common import observe

from .. import plugins
from ..spec import DEFENCE_KEYS
from . import Reconstructions, SharedAttacker, generative_info, inverse_network_info, source_digest, white_box_info


def _nhwc(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.transpose(x, (0, 2, 3, 1)), dtype=np.float32)


def _nchw(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.transpose(np.asarray(x), (0, 3, 1, 2)), dtype=np.float32)


@dataclass
class KerasModel:
    """A trained ``sift_keras.SplitModel`` and the (H, W, C) shape of its inputs."""

    model: keras.Model
    input_shape: tuple[int, int, int]


@contextlib.contextmanager
def _fixed_randomness(model, seed: int):
    """Queries of a stochastic model (noise, dropout at inference, MID's sampling) draw the same numbers
    whatever ran before in this process, like the torch backend's ``fork_rng`` + ``manual_seed``.

    A random layer draws from its own seed generator, whose count advances at every call and which
    ``keras.utils.set_random_seed`` does not reset: the features of a model still in memory after
    its accuracy, criterion and earlier attacks would differ from those of the same model loaded
    by a resumed run. Here every seed generator restarts its count (its seed kept) and the global
    seed is ``seed``; the counts are restored afterwards.
    """
    states = [v for v in model.variables if v.name == "seed_generator_state"]
    saved = [keras.ops.convert_to_numpy(v) for v in states]
    for v, s in zip(states, saved):
        v.assign(np.array([s[0], 0], dtype=s.dtype))
    keras.utils.set_random_seed(seed)
    try:
        yield
    finally:
        for v, s in zip(states, saved):
            v.assign(s)


def _save_atomic(model, path: Path) -> None:
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.keras")
    try:
        model.save(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


class _EpochCheckpoint(keras.callbacks.Callback):
    """After each epoch: the whole model (optimiser included) to ``checkpoint-eNNNN.keras``, atomically.

    The epoch count lives in the file's name, so the model and its count can never disagree (a
    crash between two files could otherwise train an epoch twice); older checkpoints are removed
    only once the new one is in place.
    """

    def __init__(self, workdir: Path):
        super().__init__()
        self.workdir = workdir

    def on_epoch_end(self, epoch, logs=None):
        path = self.workdir / f"checkpoint-e{epoch + 1:04d}.keras"
        _save_atomic(self.model, path)
        for old in _checkpoints(self.workdir):
            if old[1] != path:
                old[1].unlink(missing_ok=True)


def _checkpoints(workdir: Path) -> list[tuple[int, Path]]:
    """(epochs done, path) of the epoch checkpoints in ``workdir``, newest first."""
    out = []
    for p in Path(workdir).glob("checkpoint-e*.keras"):
        try:
            out.append((int(p.stem.split("-e", 1)[1]), p))
        except ValueError:
            continue
    return sorted(out, reverse=True)


def _resume(workdir: Path):
    """The newest epoch checkpoint that loads, and its epoch count; (None, 0) when there is none.
    A damaged file (a crash mid-write on a file system without atomic rename, a truncated copy)
    is skipped with a warning."""
    for done, path in _checkpoints(workdir):
        try:
            return keras.saving.load_model(path), done
        except Exception as exc:  # noqa: BLE001 - any unreadable checkpoint falls back to an older one
            warnings.warn(f"{path} cannot be loaded ({type(exc).__name__}: {exc}); trying an older checkpoint",
                          RuntimeWarning, stacklevel=2)
    return None, 0


#: the parts of sift_keras that build and train models (attacks, export and plots excluded)
TRAINING_SOURCES = ("models", "_keras.py", "norm.py", "attention.py", "data.py", "defences.py", "losses.py",
                    "trainer.py", "profile.py")


def _fingerprint() -> str:
    """Versions and source digest of what builds and trains the models: a change invalidates cached models."""
    return (f"keras {keras.__version__} ({keras.backend.backend()}), "
            f"sift_keras {source_digest(sift_keras, TRAINING_SOURCES)}")


class KerasBackend(SharedAttacker):
    name = "keras"

    def __init__(self):
        self.version = _fingerprint()

    def check(self, spec) -> None:
        """Settings this backend cannot run, refused before any work."""
        from ..spec import SpecError

        if spec.model.architecture != "cnn" and any(d.kind == "siftfunnel" for d in spec.defences):
            raise SpecError(f"model.architecture: the Keras backend builds the SiftFunnel edge for 'cnn' only; "
                            f"got {spec.model.architecture!r} (use --backend torch)")
        if keras.backend.backend() != "tensorflow":
            raise SpecError(f"experiment.backend: edge FLOPs are counted on Keras's TensorFlow backend only; "
                            f"KERAS_BACKEND is {keras.backend.backend()!r}")

    def _build(self, spec, defence, data, input_shape):
        arch, width = spec.model.architecture, spec.model.width
        params = dict(defence.params)
        if defence.kind == "siftfunnel":
            edge, cloud = sift_keras.funnel_split(data.num_classes, out_channels=params.pop("funnel_channels"),
                                                  base_channels=width, mid_channels=max(1, width // 4),
                                                  output_activation=params.pop("funnel_activation"),
                                                  output_norm=params.pop("funnel_norm"),
                                                  input_shape=input_shape)
            d = sift_keras.make_defence("siftfunnel", num_classes=data.num_classes, **params)
        else:
            edge, cloud = sift_keras.split_baseline(arch, data.num_classes, input_shape=input_shape, width=width)
            if defence.kind in ("noise", "dropout", "mid"):
                params["seed"] = spec.seed
            elif defence.kind in sift_keras.DEFENCES and defence.kind not in DEFENCE_KEYS:  # a plugin's class
                params = plugins.settings(sift_keras.DEFENCES[defence.kind], params, backend="keras", seed=spec.seed)
            d = sift_keras.make_defence(defence.kind, **params)
        model = sift_keras.SplitModel(edge, cloud, d)
        model.build((None, *input_shape))
        return model

    def train(self, *, spec, defence, data, workdir: Path, progress: bool, teacher=None):
        distils = defence.kind == "siftfunnel" and defence.params.get("distill", 0.0) > 0
        if distils and teacher is None:
            raise ValueError(f"defences.{defence.name}.distill: needs the trained undefended model (teacher)")
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        keras.utils.set_random_seed(spec.seed)
        x = _nhwc(data.target_train.x)
        input_shape = tuple(x.shape[1:])
        epochs = defence.epochs or spec.training.epochs
        model, initial = _resume(workdir)
        if model is None:
            model = self._build(spec, defence, data, input_shape)
            steps = epochs * (len(x) // spec.training.batch_size)
            decay = steps if spec.training.lr_schedule == "cosine" else None
            model.compile(optimizer=sift_keras.default_optimizer(defence.lr or spec.training.lr, decay_steps=decay))
        if distils:  # the teacher is not saved with the model: attached again when a checkpoint resumes
            model.defence.teacher = teacher.model
        if initial < epochs:
            batches = sift_keras.ShuffledArrays(x, data.target_train.y, batch_size=spec.training.batch_size,
                                                seed=spec.seed, drop_remainder=True)
            model.fit(batches, epochs=epochs, initial_epoch=initial, verbose=1 if progress else 0,
                      callbacks=[_EpochCheckpoint(workdir)])
        _save_atomic(model, workdir / "model.keras")
        return KerasModel(model, input_shape)

    def load(self, *, spec, defence, data, workdir: Path):
        path = Path(workdir) / "model.keras"
        if not path.is_file():
            return None
        try:
            model = keras.saving.load_model(path)
        except (ValueError, TypeError, KeyError, OSError) as exc:  # saved by another version of the model code
            warnings.warn(f"{path} cannot be loaded ({exc}); retraining", RuntimeWarning, stacklevel=2)
            return None
        return KerasModel(model, tuple(data.image_shape[1:]) + (data.image_shape[0],))

    # ------------------------------------------------------------------ measurements
    def accuracy(self, handle: KerasModel, x: np.ndarray, y: np.ndarray) -> float:
        with _fixed_randomness(handle.model, 0):
            logits = handle.model.predict(_nhwc(x), batch_size=512, verbose=0)
        return float(np.mean(np.argmax(logits, axis=1) == y))

    def profile(self, handle: KerasModel) -> dict[str, int]:
        rep = sift_keras.profile_edge(handle.model.edge, handle.input_shape)
        return {"edge_params": int(rep.params), "edge_flops": int(rep.flops), "feature_size": int(rep.feature_size)}

    def features(self, handle: KerasModel, x: np.ndarray) -> np.ndarray:
        """What is transmitted (defence included), channels-last, as numpy."""
        with _fixed_randomness(handle.model, 0):
            return observe(handle.model, _nhwc(x), batch_size=256)

    # ------------------------------------------------------------------ attacks
    def attack(self, name: str, handle: KerasModel, *, aux_x, private_x, cfg, seed, progress=True, init=None,
               cache_dir: Path | None = None) -> Reconstructions:
        """Reconstructions (N, C, H, W) of ``private_x`` by attack ``name``, with the settings and
        procedures of the torch backend (see ``Backend.attack``)."""
        with _fixed_randomness(handle.model, seed):
            return self._attack(name, handle, aux_x=aux_x, private_x=private_x, cfg=cfg, seed=seed,
                                progress=progress, init=init, cache_dir=cache_dir)

    def _attack(self, name, handle, *, aux_x, private_x, cfg, seed, progress, init, cache_dir) -> Reconstructions:
        shape = handle.input_shape
        if name == "inverse_network":
            attack = InverseNetworkAttack(handle.model, image_shape=shape, epochs=cfg.epochs, patience=cfg.patience,
                                          val_fraction=cfg.val_fraction, batch_size=cfg.batch_size, lr=cfg.lr,
                                          width=cfg.width, min_width=min(32, cfg.width), seed=seed,
                                          progress=progress)
            attack.fit(_nhwc(aux_x))
            return Reconstructions(_nchw(attack.reconstruct(self.features(handle, private_x))),
                                   inverse_network_info(attack, cfg.epochs))
        z = self.features(handle, private_x)
        if name in ("rmle", "hybrid"):
            if name == "hybrid" and init is None:
                raise ValueError("the hybrid attack starts from the inverse network's reconstructions (init)")
            rmle = RMLEAttack(handle.model, image_shape=shape, steps=cfg.steps, lr=cfg.lr, tv_weight=cfg.tv_weight,
                              patience=cfg.patience, seed=seed, progress=progress)
            recon = _nchw(rmle.reconstruct(z, init=None if init is None else _nhwc(init)))
            return Reconstructions(recon, white_box_info(rmle.steps_run, cfg.steps, rmle.halted))
        if name == "generative":
            gen = self._generator(aux_x, cfg, seed, progress, cache_dir)
            attack = GenerativePriorAttack(handle.model, image_shape=shape, generator=gen, restarts=cfg.restarts,
                                           steps=cfg.steps, lr=cfg.lr, prior_weight=cfg.prior_weight,
                                           patience=cfg.patience, pixel_steps=cfg.pixel_steps, pixel_lr=cfg.pixel_lr,
                                           pixel_tv_weight=cfg.pixel_tv_weight, seed=seed, progress=progress)
            return Reconstructions(_nchw(attack.reconstruct(z)), generative_info(attack))
        raise ValueError(f"attack must be one of inverse_network, rmle, hybrid, generative; got {name!r}")

    def _generator(self, aux_x, cfg, seed, progress, cache_dir):
        """The attacker's DCGAN, trained once per run on its data and saved in ``cache_dir`` (atomic)."""
        from sift_keras.attacks.generator import train_generator

        from . import settings_key

        key = settings_key(aux_x, cfg.latent_dim, cfg.gan_width, cfg.gan_epochs, seed, keras.__version__)
        path = Path(cache_dir) / f"generator-{key}.keras" if cache_dir is not None else None
        if path is not None and path.is_file():
            try:
                return keras.saving.load_model(path, compile=False)
            except (ValueError, TypeError, KeyError, OSError) as exc:
                warnings.warn(f"{path} cannot be loaded ({exc}); retraining the generator", RuntimeWarning,
                              stacklevel=2)
        # a killed run continues the GAN from its last epoch (the partial file, removed once the generator is saved)
        partial = path.with_name(f"{path.stem}.partial.npz") if path is not None else None
        gen, _ = train_generator(_nhwc(aux_x), latent_dim=cfg.latent_dim, width=cfg.gan_width,
                                 epochs=cfg.gan_epochs, seed=seed, progress=progress, checkpoint=partial)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            _save_atomic(gen, path)
            partial.unlink(missing_ok=True)
        return gen


def make_backend() -> KerasBackend:
    return KerasBackend()
