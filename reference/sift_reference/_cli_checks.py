"""Checks and logging of the ``siftfunnel`` command (:mod:`sift_reference.cli`).

Every check here runs before any data loads and raises :class:`CommandError`, whose
message names the flag, spec key or file at fault and says what to do; the command
prints it as one line and exits with status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

from .spec import MAX_SEED  # noqa: F401  (re-exported: the command's seed checks)

#: the package loggers whose records the command shows
LOGGERS = ("sift_core", "sift_torch", "sift_keras", "sift_reference")


class CommandError(ValueError):
    """A user error found by the command (an argument, a path or an input file); the message names it."""


def seed_arg(text: str) -> int:
    """argparse type of ``--seed``: an integer from 0 to :data:`MAX_SEED`."""
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer from 0 to {MAX_SEED}; got {text!r}") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be from 0 to {MAX_SEED} (seeds are 32-bit); got {text}")
    return value


def check_seeds(spec) -> None:
    """Seeds written in the spec file must fit the generators too (the --seed flag is checked by argparse)."""
    for key, value in (("experiment.seed", spec.seed), ("dataset.split_seed", spec.dataset.split_seed)):
        if value > MAX_SEED:
            raise CommandError(f"{key}: must be from 0 to {MAX_SEED} (seeds are 32-bit); got {value}")


def torch_devices(torch) -> list[str]:
    """The torch devices usable here, for the error message of an unavailable one."""
    names = ["cpu"]
    if torch.cuda.is_available():
        names += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        names.append("mps")
    return names


def check_device(spec, key: str) -> None:
    """Refuse a torch device that this machine lacks, before any data loads (the torch backend only)."""
    if spec.backend != "torch":
        return
    try:
        import torch
    except ImportError:
        return  # the backend itself says which extra to install
    value = spec.training.device
    usable = ", ".join(torch_devices(torch))
    try:
        device = torch.device(value)
    except (RuntimeError, TypeError, ValueError):
        raise CommandError(f"{key}: {value!r} is not a torch device; use one of: {usable}") from None
    if device.type == "cpu":
        return
    if device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        available, count = mps is not None and mps.is_available(), 1
    else:
        module = getattr(torch, device.type, None)
        available = bool(getattr(module, "is_available", lambda: False)())
        count = module.device_count() if available and hasattr(module, "device_count") else 0
    if not available:
        raise CommandError(f"{key}: {value!r} is not available on this machine (no {device.type} device); "
                           f"use one of: {usable}")
    if device.index is not None and device.index >= count:
        raise CommandError(f"{key}: {value!r} is not available on this machine ({count} {device.type} "
                           f"device(s), indices from 0); use one of: {usable}")


def check_out(out: str) -> None:
    """``--out`` must be a directory, or creatable under one, that this process can write into."""
    path = Path(out).absolute()
    if path.exists():
        if not path.is_dir():
            raise CommandError(f"--out: {out} exists and is not a directory; choose another --out")
        where = path
    else:
        where = path.parent
        while not where.exists():
            where = where.parent
        if not where.is_dir():
            raise CommandError(f"--out: {out} cannot be created because {where} is a file; choose another --out")
    try:
        with tempfile.TemporaryFile(dir=where):
            pass
    except OSError as exc:
        raise CommandError(f"--out: cannot write in {where} ({exc.strerror or exc}); "
                           "choose a directory you can write to") from None


def load_features(arg: str):
    """x and z of a features .npz, checked: numeric arrays of n >= 1 samples each, the same n."""
    import numpy as np

    path = Path(arg)
    if path.is_dir():
        raise CommandError(f"features: {path} is a directory; give an .npz file with arrays x and z")
    if not path.is_file():
        raise CommandError(f"features: file not found: {path}")
    if not zipfile.is_zipfile(path):
        raise CommandError(f"features: {path} is not an .npz archive (a .npy holds one array); write one with "
                           "numpy.savez(path, x=inputs, z=features)")
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in ("x", "z") if k not in f.files]
            if missing:
                raise CommandError(f"features: {path} lacks array(s) {', '.join(missing)} (has {', '.join(f.files)})")
            x, z = np.asarray(f["x"]), np.asarray(f["z"])
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise CommandError(f"features: cannot read {path} as .npz ({exc})") from None
    except ValueError as exc:  # object arrays, which allow_pickle=False refuses to load
        raise CommandError(f"features: {path}: {exc}") from None
    for name, a in (("x", x), ("z", z)):
        if a.dtype.kind not in "biuf":
            raise CommandError(f"features: array {name} of {path} has dtype {a.dtype}; real numbers are needed")
        if a.ndim == 0:
            raise CommandError(f"features: array {name} of {path} is 0-d (one number); it must hold one sample "
                               "per row, shape (n, ...)")
        if a.shape[0] == 0 or a[0].size == 0:
            raise CommandError(f"features: array {name} of {path} is empty (shape {a.shape})")
    if len(x) != len(z):
        raise CommandError(f"features: x has {len(x)} samples but z has {len(z)}")
    return path, x, z


#: what `summarize` reads from each results.json (dotted key paths; ROW_KEYS in every row)
RESULTS_KEYS = ("dataset", "spec.experiment.seed", "rows")
ROW_KEYS = ("defence", "accuracy", "accuracy_drop", "criterion", "attacks")


def lookup(doc, dotted: str):
    for part in dotted.split("."):
        if not isinstance(doc, dict) or part not in doc:
            raise KeyError(dotted)
        doc = doc[part]
    return doc


def check_results(runs: list[str]) -> None:
    """Each run directory holds a results.json (and, if any, rank_correlation.json) that `summarize` can read."""
    for d in runs:
        path = Path(d) / "results.json"
        if not path.is_file():
            raise CommandError(f"runs: no results.json in {d}; give output directories of `siftfunnel run`")
        for name in ("results.json", "rank_correlation.json"):
            f = Path(d) / name
            if not f.is_file():
                continue
            try:
                doc = json.loads(f.read_text(encoding="utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise CommandError(f"runs: {f} is not valid JSON ({exc}); rerun `siftfunnel run` there") from None
            if not isinstance(doc, dict):
                raise CommandError(f"runs: {f} must hold a JSON object; rerun `siftfunnel run` there")
        doc = json.loads(path.read_text(encoding="utf-8"))
        try:
            for key in RESULTS_KEYS:
                lookup(doc, key)
            rows = doc["rows"]
            if not isinstance(rows, list) or not rows:
                raise CommandError(f"runs: {path}: 'rows' must be a non-empty list of defences")
            for i, row in enumerate(rows):
                for key in ROW_KEYS:
                    try:
                        lookup(row, key)
                    except KeyError:
                        raise KeyError(f"rows[{i}].{key}") from None
                kinds = {"defence": (str,), "accuracy": (int, float), "accuracy_drop": (int, float),
                         "criterion": (dict,)}
                for key, types in kinds.items():
                    if isinstance(row[key], bool) or not isinstance(row[key], types):
                        raise CommandError(f"runs: {path}: rows[{i}].{key} must be a "
                                           f"{ {dict: 'table', str: 'string'}.get(types[0], 'number')}; got "
                                           f"{json.dumps(row[key])[:40]}; rerun `siftfunnel run` there")
                attacks = row["attacks"]
                if not isinstance(attacks, dict) or not all(isinstance(v, dict) for v in attacks.values()):
                    raise CommandError(f"runs: {path}: rows[{i}].attacks must map each attack to its scores; "
                                       "rerun `siftfunnel run` there")
        except KeyError as exc:
            raise CommandError(f"runs: {path} lacks the key {exc.args[0]!r}; it was not written by this version "
                               "of `siftfunnel run` (rerun it there)") from None


class LogHandler(logging.Handler):
    """Writes records to stderr, through ``tqdm.write`` while progress bars may be on screen."""

    def __init__(self, *, progress: bool):
        super().__init__(logging.INFO)
        self.progress = progress

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        return message if record.levelno <= logging.INFO else f"{record.levelname.lower()}: {message}"

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)
            if self.progress:
                try:
                    from tqdm import tqdm
                except ImportError:
                    pass
                else:
                    tqdm.write(message, file=sys.stderr)
                    return
            sys.stderr.write(message + "\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


@contextlib.contextmanager
def command_logging(*, progress: bool) -> Iterator[None]:
    """INFO and above of the packages' loggers go to stderr while the command runs; restored afterwards."""
    handler = LogHandler(progress=progress)
    saved = []
    for name in LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level))
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)
    try:
        yield
    finally:
        for logger, level in saved:
            logger.removeHandler(handler)
            logger.setLevel(level)
