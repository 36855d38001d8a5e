"""Framework backends of the runner: one small interface, implemented over sift_torch and sift_keras.

A backend trains one defence's edge + cloud model and runs the attacks on it. All
arrays crossing this interface are numpy, images (N, C, H, W) float32 in [0, 1], so
the runner measures every backend with the same sift_core metrics and criterion.
Backends are imported only when selected (``--backend``), so the harness works
with just one framework installed.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

BACKEND_MODULES = {"torch": "sift_reference.backends.torch_backend", "keras": "sift_reference.backends.keras_backend"}
BACKEND_PACKAGES = {"torch": ("torch", "sift_torch"), "keras": ("keras", "sift_keras")}


@dataclass(frozen=True)
class Reconstructions:
    """What :meth:`Backend.attack` returns: the reconstructions and how the attack ended.

    ``info`` is recorded with the attack's scores under ``"convergence"`` (results.json), so a
    reader can tell a converged attack from one cut short by its budget: the inverse network's
    ``epochs`` run, ``best_epoch`` (1-based) and ``max_epochs``; the white-box attacks' mean and
    largest ``steps`` per image and ``max_steps``; ``converged`` whether the stopping rule (not the
    budget) ended it; the generative prior's ``restarts`` and ``latent_feature_error``. A backend
    may also return a bare array (no record).
    """

    images: np.ndarray
    info: dict = field(default_factory=dict)


def unwrap_reconstructions(out) -> tuple[np.ndarray, dict]:
    """(reconstructions as float32, convergence record) of what :meth:`Backend.attack` returned."""
    if isinstance(out, Reconstructions):
        return np.asarray(out.images, dtype=np.float32), dict(out.info)
    return np.asarray(out, dtype=np.float32), {}


def inverse_network_info(attack, max_epochs: int) -> dict:
    """The convergence record of a fitted inverse-network attack (either adapter's)."""
    best = getattr(attack, "best_epoch", None)
    return {"epochs": len(attack.history), "best_epoch": None if best is None else int(best) + 1,
            "max_epochs": int(max_epochs), "converged": bool(attack.converged)}


def white_box_info(steps_run, max_steps: int, halted=None) -> dict:
    """The convergence record of a white-box attack from the steps each image ran and, when given,
    which images stopped on a non-finite step: ``converged`` only when every image stopped on its
    plateau rule, none by the budget or a halt."""
    steps = np.asarray(list(steps_run), dtype=np.float64)
    if steps.size == 0:
        return {"max_steps": int(max_steps)}
    info = {"steps_mean": float(steps.mean()), "steps_max": int(steps.max()), "max_steps": int(max_steps)}
    stopped = np.asarray(list(halted) if halted is not None else [], dtype=bool)
    if halted is not None:
        info["halted"] = int(stopped.sum())
    info["converged"] = bool(np.all(steps < max_steps) and not stopped.any())
    return info


def generative_info(attack) -> dict:
    """The record of a generative-prior attack: latent restarts and the mean feature objective of the
    picked latent codes (before the pixel refinement)."""
    errors = np.asarray(attack.latent_feature_error, dtype=np.float64)
    errors = errors[np.isfinite(errors)]
    return {"restarts": int(attack.restarts),
            "latent_feature_error": float(errors.mean()) if errors.size else None}


class SharedAttacker:
    """What both built-in backends train once per run for the attacker: the generative attack's
    generator (``self._generator(aux_x, cfg, seed, progress, cache_dir)``, each backend's own)."""

    def prepare_attacker(self, name: str, *, aux_x, cfg, seed, progress=True, cache_dir: Path | None = None) -> None:
        """Train and save in ``cache_dir`` what attack ``name`` trains once per run (the generative
        attack's generator), so that parallel units only load it; nothing for the other attacks."""
        if name == "generative":
            self._generator(aux_x, cfg, seed, progress, cache_dir)  # type: ignore[attr-defined]


@runtime_checkable
class Backend(Protocol):
    """What the runner needs from a framework."""

    name: str
    #: versions of the code that builds and trains models; part of the cache key of trained models
    version: str

    def check(self, spec) -> None:
        """Raise :class:`~sift_reference.spec.SpecError` for settings this backend cannot run (optional)."""

    def train(self, *, spec, defence, data, workdir: Path, progress: bool, teacher: Any = None) -> Any:
        """Train edge + cloud of ``defence`` on ``data.target_train``; checkpoint in ``workdir`` (resuming
        from a checkpoint found there) and save the final model there. Returns a model handle.
        ``teacher``: the handle of the trained undefended model, given when the defence distils
        (SiftFunnel's ``distill > 0``); a backend that cannot distil refuses it in :meth:`check`."""

    def load(self, *, spec, defence, data, workdir: Path) -> Any | None:
        """The finished model saved in ``workdir`` by :meth:`train`, or None when there is none."""

    def accuracy(self, handle: Any, x: np.ndarray, y: np.ndarray) -> float:
        """Top-1 accuracy (fraction) of the whole deployed model on ``(x, y)``."""

    def profile(self, handle: Any) -> dict[str, int]:
        """``{"edge_params", "edge_flops", "feature_size"}`` of the deployed edge (one image)."""

    def features(self, handle: Any, x: np.ndarray) -> np.ndarray:
        """The transmitted features ``z`` of ``x`` as deployed (defence applied, inference mode)."""

    def attack(self, name: str, handle: Any, *, aux_x: np.ndarray, private_x: np.ndarray, cfg, seed: int,
               progress: bool, init: np.ndarray | None = None,
               cache_dir: Path | None = None) -> Reconstructions | np.ndarray:
        """Reconstructions (N, C, H, W) in [0, 1] of ``private_x`` by attack ``name`` of the suite
        (``inverse_network``, ``rmle``, ``hybrid``, ``generative``) with its settings ``cfg``
        (``sift_reference.spec``). The black-box attacks train on ``aux_x``; ``hybrid`` starts from
        ``init`` (the inverse network's reconstructions); what the attacker trains once per run
        (the generator) may be kept in ``cache_dir``. Raises FloatingPointError when it diverges.
        Returned as :class:`Reconstructions` (with the convergence record) or a bare array."""


def available_backends() -> list[str]:
    """Backends whose framework and adapter import here."""
    out = []
    for name, pkgs in BACKEND_PACKAGES.items():
        try:
            for p in pkgs:
                importlib.import_module(p)
        except ImportError:
            continue
        out.append(name)
    return out


def get_backend(name: str) -> Backend:
    """Import and build the backend ``name`` (``"torch"`` or ``"keras"``)."""
    if name not in BACKEND_MODULES:
        raise ValueError(f"backend must be one of {tuple(BACKEND_MODULES)}; got {name!r}")
    try:
        module = importlib.import_module(BACKEND_MODULES[name])
    except ImportError as exc:
        extra = "torch" if name == "torch" else "keras"
        raise ImportError(
            f"backend {name!r} needs {' and '.join(BACKEND_PACKAGES[name])} "
            f"(pip install 'siftfunnel[{extra},cli]'): {exc}"
        ) from exc
    return module.make_backend()


#: sift_core modules that compute training objectives (their source is part of every model fingerprint)
CORE_TRAINING_SOURCES = ("objective.py", "dependence.py", "redundancy.py", "_pairwise.py", "_validation.py",
                         "validation.py", "_backend")


def source_digest(package: Any, parts: tuple[str, ...]) -> str:
    """sha256 (12 hex digits) of the named files / folders of ``package`` and of sift_core's objective code.

    Trained models are cached under this digest: a change to how models are built or trained
    retrains them, while edits elsewhere (attacks, plots, docs) keep a long run resumable.
    """
    import hashlib

    import sift_core

    digest = hashlib.sha256()
    sources = ((Path(package.__file__).parent, parts), (Path(sift_core.__file__).parent, CORE_TRAINING_SOURCES))
    for root, names in sources:
        for name in names:
            path = root / name
            files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
            for f in files:
                digest.update(str(f.relative_to(root)).encode())
                digest.update(f.read_bytes())
    return digest.hexdigest()[:12]


def core_digest() -> str:
    """sha256 (12 hex digits) of every module of sift_core: part of the criterion's cache key, so an
    assessment computed by an earlier version of the criterion (or the probe) is not reused on ``--resume``."""
    import hashlib

    import sift_core

    root = Path(sift_core.__file__).parent
    digest = hashlib.sha256()
    for f in sorted(root.rglob("*.py")):
        digest.update(str(f.relative_to(root)).encode())
        digest.update(f.read_bytes())
    return digest.hexdigest()[:12]


def settings_key(x: np.ndarray, *parts) -> str:
    """sha256 (16 hex digits) of an array's bytes, shape and dtype and of ``parts``: the cache key of
    what the attacker trains on ``x`` once per run."""
    import hashlib

    h = hashlib.sha256(np.ascontiguousarray(x).tobytes())
    h.update(repr((x.shape, str(x.dtype), parts)).encode())
    return h.hexdigest()[:16]
