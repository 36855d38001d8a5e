"""The runner's PyTorch backend, over :mod:`sift_torch`.

Models come from ``sift_torch.build_split`` (the defence decides the architecture:
the funnel edge for ``siftfunnel``), training from ``sift_torch.Trainer`` (which
checkpoints every epoch and every ``CHECKPOINT_EVERY`` steps into
``workdir/checkpoints`` and resumes from there), attacks from
``sift_torch.attacks``. The finished model's weights go to ``workdir/model.pt``
(atomic, loaded with ``weights_only=True``). Stochastic edges (noise, dropout at
inference) are queried under a fixed seed, so results are reproducible.
"""

from __future__ import annotations

import pickle
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sift_torch
import torch
from sift_torch.attacks.generative import GenerativePriorAttack
from sift_torch.attacks.inverse_network import InverseNetworkAttack
from sift_torch.attacks.rmle import RMLEAttack

from . import (
    Reconstructions,
    SharedAttacker,
    generative_info,
    inverse_network_info,
    settings_key,
    source_digest,
    white_box_info,
)

CHECKPOINT_EVERY = 100  # optimiser steps between mid-epoch checkpoints (resume after Ctrl-C)


def defence_settings(defence) -> tuple[dict, dict, dict]:
    """(settings of ``sift_torch.make_defence``, extra ``build_split`` arguments, the distillation
    settings that the loss takes only with a teacher) for a spec defence."""
    params = dict(defence.params)
    build, distill = {}, {}
    if defence.kind == "siftfunnel":
        build["funnel_channels"] = params.pop("funnel_channels")
        build["output_activation"] = params.pop("funnel_activation")
        build["output_norm"] = params.pop("funnel_norm")
        distill = {k: params.pop(k) for k in ("distill", "temperature")}
    return params, build, distill


@dataclass
class TorchModel:
    """A trained split model and the (C, H, W) shape of its inputs."""

    model: torch.nn.Module
    image_shape: tuple[int, int, int]


#: the parts of sift_torch that build and train models (attacks, plots and profiling excluded)
TRAINING_SOURCES = ("models", "attention.py", "norm.py", "losses.py", "defences.py", "trainer.py", "data.py",
                    "distributed.py", "checkpoint.py")


def _fingerprint() -> str:
    """Versions and source digest of what builds and trains the models: a change invalidates cached models."""
    return f"torch {torch.__version__}, sift_torch {source_digest(sift_torch, TRAINING_SOURCES)}"


class TorchBackend(SharedAttacker):
    name = "torch"

    def __init__(self):
        self.version = _fingerprint()

    # ------------------------------------------------------------------ models
    def _build(self, spec, defence, data):
        settings, build, _ = defence_settings(defence)
        c, h, w = data.image_shape
        if h != w:
            raise ValueError(f"dataset.image_size: square images are required; got {h}x{w}")
        return sift_torch.build_split(
            spec.model.architecture, defence=sift_torch.make_defence(defence.kind, **settings),
            in_channels=c, image_size=h, num_classes=data.num_classes, width=spec.model.width,
            seed=spec.seed, **build,
        )

    def _device(self, spec) -> torch.device:
        return torch.device(spec.training.device)

    def train(self, *, spec, defence, data, workdir: Path, progress: bool, teacher: TorchModel | None = None):
        workdir = Path(workdir)
        model = self._build(spec, defence, data)
        settings, _, distill = defence_settings(defence)
        if distill.get("distill"):
            if teacher is None:
                raise ValueError(f"defences.{defence.name}.distill: needs the trained undefended model (teacher)")
            settings.update(distill, teacher=teacher.model)
        criterion = sift_torch.make_defence(defence.kind, **settings).criterion()
        config = sift_torch.TrainConfig(
            epochs=defence.epochs or spec.training.epochs, batch_size=spec.training.batch_size,
            lr=defence.lr or spec.training.lr, lr_schedule=spec.training.lr_schedule, seed=spec.seed,
            device=spec.training.device,
            checkpoint_dir=str(workdir / "checkpoints"), checkpoint_every=CHECKPOINT_EVERY, progress=progress,
        )
        trainer = sift_torch.Trainer(model, criterion, config)
        history = trainer.fit((data.target_train.x, data.target_train.y), resume=True)
        sift_torch.save_checkpoint({"model": model.state_dict(), "history": history}, workdir / "model.pt")
        model.eval()
        return TorchModel(model, data.image_shape)

    def load(self, *, spec, defence, data, workdir: Path):
        path = Path(workdir) / "model.pt"
        if not path.is_file():
            return None
        model = self._build(spec, defence, data)
        try:
            model.load_state_dict(sift_torch.load_checkpoint(path)["model"])
        # saved by another version of the model code, or a damaged file: retrain rather than fail
        except (RuntimeError, ValueError, KeyError, EOFError, OSError, pickle.UnpicklingError) as exc:
            warnings.warn(f"{path} does not fit the current model ({exc}); retraining", RuntimeWarning, stacklevel=2)
            return None
        model.to(self._device(spec)).eval()
        return TorchModel(model, data.image_shape)

    # ------------------------------------------------------------------ measurements
    def accuracy(self, handle: TorchModel, x: np.ndarray, y: np.ndarray) -> float:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return float(sift_torch.evaluate(handle.model, (x, y)))

    def profile(self, handle: TorchModel) -> dict[str, int]:
        p = sift_torch.profile_edge(handle.model.edge, handle.image_shape)
        return {"edge_params": int(p.params), "edge_flops": int(p.flops), "feature_size": int(p.feature_size)}

    @torch.no_grad()
    def features(self, handle: TorchModel, x: np.ndarray) -> np.ndarray:
        model = handle.model
        model.eval()
        dev = next(model.parameters()).device
        out = []
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            for i in range(0, len(x), 256):
                out.append(model.edge(torch.from_numpy(x[i:i + 256]).to(dev)).float().cpu().numpy())
        return np.concatenate(out)

    # ------------------------------------------------------------------ attacks
    def attack(self, name: str, handle: TorchModel, *, aux_x, private_x, cfg, seed, progress=True, init=None,
               cache_dir: Path | None = None) -> Reconstructions:
        """Reconstructions of ``private_x`` by attack ``name`` of the suite (see ``Backend.attack``)."""
        shape = tuple(private_x.shape[1:])
        edge = handle.model.edge
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if name == "inverse_network":
                attack = InverseNetworkAttack(edge, image_shape=shape, epochs=cfg.epochs, patience=cfg.patience,
                                              val_fraction=cfg.val_fraction, batch_size=cfg.batch_size, lr=cfg.lr,
                                              width=cfg.width, min_width=min(32, cfg.width), seed=seed,
                                              progress=progress)
                attack.fit(aux_x)
                return Reconstructions(attack.reconstruct(self.features(handle, private_x)).numpy(),
                                       inverse_network_info(attack, cfg.epochs))
            z = self.features(handle, private_x)
            if name in ("rmle", "hybrid"):
                if name == "hybrid" and init is None:
                    raise ValueError("the hybrid attack starts from the inverse network's reconstructions (init)")
                rmle = RMLEAttack(edge, image_shape=shape, steps=cfg.steps, lr=cfg.lr, tv_weight=cfg.tv_weight,
                                  patience=cfg.patience, seed=seed, progress=progress)
                start = None if init is None else np.asarray(init, dtype=np.float32)
                recon = rmle.reconstruct(z, init=start).numpy()
                return Reconstructions(recon, white_box_info(rmle.steps_run, cfg.steps, rmle.halted))
            if name == "generative":
                gen = self._generator(aux_x, cfg, seed, progress, cache_dir)
                attack = GenerativePriorAttack(edge, image_shape=shape, generator=gen, restarts=cfg.restarts,
                                               steps=cfg.steps, lr=cfg.lr, prior_weight=cfg.prior_weight,
                                               patience=cfg.patience, pixel_steps=cfg.pixel_steps,
                                               pixel_lr=cfg.pixel_lr, pixel_tv_weight=cfg.pixel_tv_weight,
                                               seed=seed, progress=progress)
                recon = attack.reconstruct(z).numpy()
                return Reconstructions(recon, generative_info(attack))
        raise ValueError(f"attack must be one of inverse_network, rmle, hybrid, generative; got {name!r}")

    def _generator(self, aux_x, cfg, seed, progress, cache_dir):
        """The attacker's DCGAN: it depends only on the attacker's data and settings, so it is
        trained once per run and saved in ``cache_dir`` (atomic; loaded with weights_only)."""
        from sift_torch.attacks.generator import build_generator, train_generator

        key = settings_key(aux_x, cfg.latent_dim, cfg.gan_width, cfg.gan_epochs, seed, torch.__version__)
        path = Path(cache_dir) / f"generator-{key}.pt" if cache_dir is not None else None
        if path is not None and path.is_file():
            gen = build_generator(tuple(aux_x.shape[1:]), latent_dim=cfg.latent_dim, width=cfg.gan_width)
            try:
                gen.load_state_dict(sift_torch.load_checkpoint(path)["model"])
                return gen.eval()
            except (RuntimeError, ValueError, KeyError, EOFError, OSError, pickle.UnpicklingError) as exc:
                warnings.warn(f"{path} cannot be loaded ({exc}); retraining the generator", RuntimeWarning,
                              stacklevel=2)
        # a killed run continues the GAN from its last epoch (the partial file, removed once the generator is saved)
        partial = path.with_name(f"{path.stem}.partial.pt") if path is not None else None
        gen, history = train_generator(aux_x, latent_dim=cfg.latent_dim, width=cfg.gan_width, epochs=cfg.gan_epochs,
                                       seed=seed, progress=progress, checkpoint=partial)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            sift_torch.save_checkpoint({"model": gen.state_dict(), "history": history}, path)
            partial.unlink(missing_ok=True)
        return gen


def make_backend() -> TorchBackend:
    return TorchBackend()
