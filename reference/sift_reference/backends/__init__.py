"""Framework backends of the runner: one small interface, implemented over sift_torch and sift_keras.

A backend trains one defence's edge + cloud model and runs the attacks on it. All
arrays crossing this interface are numpy, images (N, C, H, W) float32 in [0, 1], so
the runner measures every backend with the same sift_core metrics and criterion.
Backends are imported only when selected (``--backend``), so the harness works
with just one framework installed.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

BACKEND_MODULES = {"torch": "sift_reference.backends.torch_backend", "keras": "sift_reference.backends.keras_backend"}
BACKEND_PACKAGES = {"torch": ("torch", "sift_torch"), "keras": ("keras", "sift_keras")}


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
               progress: bool, init: np.ndarray | None = None, cache_dir: Path | None = None) -> np.ndarray:
        """Reconstructions (N, C, H, W) in [0, 1] of ``private_x`` by attack ``name`` of the suite
        (``inverse_network``, ``rmle``, ``hybrid``, ``generative``) with its settings ``cfg``
        (``sift_reference.spec``). The black-box attacks train on ``aux_x``; ``hybrid`` starts from
        ``init`` (the inverse network's reconstructions); what the attacker trains once per run
        (the generator) may be kept in ``cache_dir``. Raises FloatingPointError when it diverges."""


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
                         "_backend")


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


def settings_key(x: np.ndarray, *parts) -> str:
    """sha256 (16 hex digits) of an array's bytes, shape and dtype and of ``parts``: the cache key of
    what the attacker trains on ``x`` once per run."""
    import hashlib

    h = hashlib.sha256(np.ascontiguousarray(x).tobytes())
    h.update(repr((x.shape, str(x.dtype), parts)).encode())
    return h.hexdigest()[:16]
