"""Checkpoints that load with ``torch.load(..., weights_only=True)`` and resume a run exactly.

A checkpoint holds plain Python values and tensors only: the model's,
optimiser's and scheduler's state dicts, the position in training, the
metric history and the random number generator states (torch, CUDA, numpy,
Python) of every process, with numpy's and Python's states converted to
tensors so that the restricted unpickler accepts them.

Durability.  A file is written to a temporary name in the same directory,
flushed to the disk (``fsync``), moved into place with ``os.replace``, and
the directory is synced so that the rename itself survives a power cut: a
reader sees the old file or the new one, never a truncated one.  With
``previous=`` the file being replaced is kept under that name first, and
:func:`load_latest_checkpoint` falls back to it (with a RuntimeWarning
naming the unreadable file) when the newest one is damaged anyway (a disk
that lies about fsync, a copy cut short).
"""

from __future__ import annotations

import os
import pickle
import random
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "save_checkpoint",
    "load_checkpoint",
    "load_latest_checkpoint",
    "check_resume_settings",
    "capture_rng",
    "restore_rng",
    "CHECKPOINT_FORMAT",
    "UNREADABLE",
]

CHECKPOINT_FORMAT = 1

#: what :func:`load_checkpoint` raises for a file that is missing, truncated, empty, not a
#: checkpoint, or refused by the restricted unpickler
UNREADABLE = (RuntimeError, ValueError, KeyError, EOFError, OSError, pickle.UnpicklingError)


def capture_rng(device: torch.device | None = None) -> dict[str, Any]:
    """The current RNG states as tensors and plain values."""
    keys, pos, has_gauss, gauss = np.random.get_state()[1:]
    version, py_state, py_gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "python": {"version": int(version), "state": torch.tensor(py_state, dtype=torch.int64),
                   "gauss": None if py_gauss is None else float(py_gauss)},
    }
    if device is not None and device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def restore_rng(state: dict[str, Any], device: torch.device | None = None) -> None:
    """Inverse of :func:`capture_rng`."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["state"].tolist()), p["gauss"]))
    if "cuda" in state and device is not None and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"], device)


def _fsync_path(path: Path, *, directory: bool = False) -> None:
    """Flush a file (or a directory's entries) to the disk; directories cannot be opened on Windows."""
    flags = (os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)) if directory else os.O_RDONLY
    try:
        fd = os.open(path, flags)
    except OSError:
        if directory:
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not directory:  # some file systems refuse fsync on directories; a file must be synced
            raise
    finally:
        os.close(fd)


def save_checkpoint(
    state: dict[str, Any], path: str | os.PathLike, *, previous: str | os.PathLike | None = None
) -> Path:
    """Write ``state`` durably and atomically to ``path`` and return the path.

    The data go to a temporary file that is synced to the disk before
    ``os.replace`` moves it into place; the directory is synced after.
    ``previous``: where the file being replaced is kept (moved there just
    before the new one takes its place), for :func:`load_latest_checkpoint`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            torch.save({"format": CHECKPOINT_FORMAT, **state}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        if previous is not None and path.exists():
            os.replace(path, Path(previous))
        os.replace(tmp, path)
        _fsync_path(path.parent, directory=True)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def load_checkpoint(path: str | os.PathLike, *, map_location: Any = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True`` (no arbitrary code runs while unpickling).

    Raises one of :data:`UNREADABLE` for a missing, empty, truncated or
    foreign file: ``ValueError`` when it is readable but not a checkpoint,
    ``pickle.UnpicklingError`` when it would need arbitrary code.
    """
    path = Path(path)
    if path.is_file() and path.stat().st_size == 0:
        raise EOFError(f"{path} is empty (a write that never reached the disk)")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError) as exc:  # same type, with the file named
        raise type(exc)(f"{path} is not a readable checkpoint: {exc}") from exc
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a sift_torch checkpoint (format {CHECKPOINT_FORMAT})")
    return state


def load_latest_checkpoint(
    paths: Sequence[str | os.PathLike], *, map_location: Any = "cpu"
) -> tuple[dict[str, Any] | None, Path | None]:
    """The first of ``paths`` (newest first) that loads, and its path; ``(None, None)`` if none does.

    A file that exists but cannot be read (truncated, empty, not a
    checkpoint) is skipped with a RuntimeWarning naming it and the reason;
    when the newest file is missing but an older one exists, that is said
    too (an interruption between the two renames of :func:`save_checkpoint`).
    """
    skipped: list[str] = []
    for p in map(Path, paths):
        if not p.exists():
            if skipped or any(Path(q).exists() for q in paths):
                skipped.append(f"{p} (missing)")
            continue
        try:
            state = load_checkpoint(p, map_location=map_location)
        except UNREADABLE as exc:
            skipped.append(f"{p} ({type(exc).__name__}: {exc})")
            continue
        if skipped:
            warnings.warn(f"checkpoint unreadable, resuming from {p} instead: {'; '.join(skipped)}",
                          RuntimeWarning, stacklevel=2)
        return state, p
    if skipped and any(Path(q).exists() for q in paths):
        warnings.warn(f"no readable checkpoint, starting from scratch: {'; '.join(skipped)}",
                      RuntimeWarning, stacklevel=2)
    return None, None


def check_resume_settings(state: dict[str, Any], settings: dict[str, Any], path: str | os.PathLike) -> None:
    """Raise a ValueError naming each entry of ``settings`` that differs from what ``state`` was written with.

    ``state["resume_settings"]`` holds them; a checkpoint written before they
    were recorded is compared on what its ``config`` kept (no sample count).
    """
    saved = state.get("resume_settings")
    if saved is None:
        saved = dict(state.get("config") or {})
        if "betas" in saved:
            saved["betas"] = [float(b) for b in saved["betas"]]
    changed = [f"{k}: {saved[k]!r} -> {v!r}" for k, v in settings.items() if k in saved and saved[k] != v]
    if changed:
        raise ValueError(
            f"resume=True: {path} was written with other training settings ({'; '.join(changed)}). These fix the "
            "learning-rate schedule, the optimiser's state and the order of the data, so the run cannot continue "
            "under new values: start without resume=True, or give a new checkpoint_dir."
        )
