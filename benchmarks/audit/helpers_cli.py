"""Helpers the command-line cases call: the crafted pickle, the captured command, spec, dataset and run-folder files."""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


class Exploit:
    """A pickle whose loading calls ``func(*args)``: what a crafted data file would hold."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


class ReachedTraining(BaseException):
    """Raised by the guard when the command goes as far as training a model (an accepted input)."""


@dataclass
class CliResult:
    rc: int | None
    out: str
    err: str
    escaped: str = ""  # the traceback of an exception that escaped main(), if any


TINY_SPEC = """
[experiment]
name = "audit"
seed = 3

[dataset]
name = "digits"
image_size = 28
n_target_train = 64
n_target_test = 40
n_attacker_aux = 48
n_private_eval = 16

[model]
architecture = "cnn"
width = 8

[training]
epochs = 1
batch_size = 32

[[defences]]
kind = "none"
"""


# ---- command-line helpers


@contextlib.contextmanager
def _no_training():
    """Stop the command where it would start training a model: the input was accepted."""
    try:
        from sift_reference import runner
    except ImportError:
        yield
        return

    def refuse(*args, **kwargs):
        raise ReachedTraining("the command accepted the input and went on to train")

    saved = runner.run_defence
    runner.run_defence = refuse
    try:
        yield
    finally:
        runner.run_defence = saved


def cli(*argv) -> CliResult:
    """``sift_reference.cli.main(argv)`` in this process, stdout and stderr captured."""
    from sift_reference import cli as command

    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), _no_training():
            rc = command.main([str(a) for a in argv])
    except ReachedTraining:
        raise
    except BaseException:  # noqa: BLE001  (a defect: main let an exception through)
        return CliResult(None, out.getvalue(), err.getvalue(), traceback.format_exc())
    return CliResult(rc, out.getvalue(), err.getvalue())


def cli_proc(*argv) -> CliResult:
    """``python -m sift_reference.cli argv`` in a child process (the real entry point)."""
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    p = subprocess.run([sys.executable, "-m", "sift_reference.cli", *map(str, argv)], capture_output=True, text=True,
                       env=env, timeout=300)
    return CliResult(p.returncode, p.stdout, p.stderr)


def write(path: Path, content) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def spec(tmp: Path, *edits: tuple[str, str], append: str = "") -> Path:
    """The tiny spec with ``old -> new`` text edits (each must apply) and ``append``ed TOML."""
    text = TINY_SPEC
    for old, new in edits:
        if old not in text:
            raise AssertionError(f"audit spec edit {old!r} does not apply")
        text = text.replace(old, new, 1)
    return write(tmp / "spec.toml", text + "\n" + append + "\n")


def data_spec(tmp: Path, name: str, path: Path) -> Path:
    return spec(tmp, ('name = "digits"', f"name = {json.dumps(name)}\npath = {json.dumps(str(path))}"))


def _cifar_batch(n: int = 40, labels=None) -> dict:
    rng = np.random.default_rng(0)
    return {b"batch_label": b"training batch 1 of 5", b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"labels": list(labels) if labels is not None else [i % 4 for i in range(n)]}


def cifar_dir(tmp: Path, kind: str, marker: Path | None = None) -> Path:
    d = mkdir(tmp / "cifar")
    payload: Any
    if kind == "os.system":
        payload = Exploit(os.system, f"touch {marker}")
    elif kind == "exec":
        payload = Exploit(exec, f"open({str(marker)!r}, 'w').close()")
    elif kind == "popen":
        payload = Exploit(subprocess.Popen, ["touch", str(marker)])
    elif kind == "eval-in-dict":
        payload = {b"data": Exploit(eval, f"open({str(marker)!r}, 'w')"), b"labels": [0]}
    elif kind == "truncated":
        (d / "data_batch_1").write_bytes(pickle.dumps(_cifar_batch())[:200])
        return d
    else:  # a label of 2**40
        payload = _cifar_batch(labels=[2**40] + [0] * 39)
    (d / "data_batch_1").write_bytes(pickle.dumps(payload, protocol=2))
    return d


def npz_set(tmp: Path, **arrays) -> Path:
    """A dataset .npz: 40 8 x 8 images and labels 0..3 unless given."""
    rng = np.random.default_rng(0)
    if "a" not in arrays:
        arrays.setdefault("x", rng.integers(0, 256, (40, 8, 8), dtype=np.uint8))
        arrays.setdefault("y", np.arange(40) % 4)
    path = tmp / "set.npz"
    np.savez(path, **arrays)
    return path


def evil_objects(marker: Path) -> np.ndarray:
    a = np.empty(40, dtype=object)
    a[:] = [Exploit(os.system, f"touch {marker}")] * 40
    return a


def idx_dir(tmp: Path, kind: str) -> Path:
    d = mkdir(tmp / "idx")
    labels = bytes([0, 0, 8, 1]) + (40).to_bytes(4, "big") + bytes(i % 4 for i in range(40))
    if kind == "magic":
        images = b"\x12\x34\x08\x03" + b"\x00" * 64
    else:  # the header says 40 x 28 x 28 but the data are shorter
        images = bytes([0, 0, 8, 3]) + b"".join(v.to_bytes(4, "big") for v in (40, 28, 28)) + b"\x00" * 100
    (d / "train-images-idx3-ubyte").write_bytes(images)
    (d / "train-labels-idx1-ubyte").write_bytes(labels)
    return d


def bad_png_folder(tmp: Path) -> Path:
    d = mkdir(tmp / "imgs" / "cats")
    (d / "bad.png").write_bytes(b"this is not a png")
    return tmp / "imgs"


def npz(tmp: Path, **arrays) -> Path:
    path = tmp / "f.npz"
    np.savez(path, **arrays)
    return path


def npy(tmp: Path, array) -> Path:
    path = tmp / "f.npy"
    np.save(path, array)
    return path


def truncated_npz(tmp: Path) -> Path:
    path = npz(tmp, x=np.zeros((60, 8)), z=np.zeros((60, 4)))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def assess_score(tmp: Path, x, z) -> float:
    """The difficulty score `siftfunnel assess --json` prints for x and z."""
    path = tmp / f"f{len(list(tmp.iterdir()))}.npz"
    np.savez(path, x=x, z=z)
    r = cli("assess", path, "--json")
    if r.rc != 0:
        raise RuntimeError(f"siftfunnel assess exited {r.rc}: {r.err.strip() or r.escaped.strip()[-300:]}")
    return float(json.loads(r.out)["difficulty_score"])


RESULTS = {
    "schema_version": 2, "versions": {}, "backend": "torch", "dataset": "digits",
    "spec": {"experiment": {"name": "audit", "seed": 0}},
    "rows": [{"defence": "none", "accuracy": 0.9, "accuracy_drop": 0.0, "edge_params": 1, "edge_flops": 1,
              "feature_size": 1, "privacy": {"mse": 0.01, "ssim": 0.8},
              "attacks": {"rmle": {"mse": 0.01, "psnr": 20.0, "ssim": 0.8}},
              "criterion": {"difficulty_score": 0.3}}],
}


def results(tmp: Path, *, text=None, drop: str | None = None, put: dict | None = None, rank=None) -> Path:
    """A run folder whose results.json is the well-formed RESULTS with a key dropped or set, or ``text``."""
    d = mkdir(tmp / "run")
    doc = json.loads(json.dumps(RESULTS))
    for dotted, value in (put or {}).items():
        *parents, last = dotted.split(".")
        node = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[int(last) if isinstance(node, list) else last] = value
    if drop:
        *parents, last = drop.split(".")
        node = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        del node[last]
    write(d / "results.json", text if text is not None else json.dumps(doc))
    if rank is not None:
        write(d / "rank_correlation.json", rank)
    return d


def earlier_run(tmp: Path) -> Path:
    from sift_reference import runner

    out = mkdir(tmp / "out" / "cache" / "none").parent.parent
    write(out / "cache" / "none" / "model.json", "{}")
    write(out / runner.MARKER, "siftfunnel run directory\n")
    return out


def foreign_cache(tmp: Path) -> Path:
    out = mkdir(tmp / "out" / "cache").parent
    write(out / "cache" / "precious.txt", "not ours")
    return out
