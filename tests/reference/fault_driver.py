"""Run the ``siftfunnel`` command in this process and SIGKILL it at a chosen point (test_fault_injection.py).

    python fault_driver.py KILL RECORD CLI_ARGS...

``KILL`` is ``-`` (run to the end) or ``kind:defence[:arg[:n]]``:

``train-step:D:N``
    torch: right after optimiser step ``N`` (the run's global step) of defence ``D``'s training.
``epoch-end:D:E``
    keras: right after the checkpoint of epoch ``E`` of ``D``'s training was saved.
``replace-before:D:NAME:N``
    before the ``N``-th rename of a file to ``NAME`` under ``cache/D/``: the atomic writers
    rename a fully written, synced temporary file (a checkpoint, ``model.pt``, a unit's json,
    reconstructions); ``sift_torch.save_checkpoint`` first renames ``last.pt`` to ``prev.pt``,
    so ``prev.pt`` there means "the new checkpoint is on disk, nothing renamed yet".
``write-partial:D:NAME:N``
    torch: in the ``N``-th ``torch.save`` of a temporary file for ``NAME`` under ``cache/D/``,
    when half of its bytes are written (a write cut short; the file is never renamed).
``replace-after:D:NAME:N``
    right after the ``N``-th rename to ``NAME`` under ``cache/D/`` (``prev.pt``: between the two
    renames of ``save_checkpoint``, when ``last.pt`` does not exist).
``unit-saved:D:UNIT``
    right after ``cache.save_unit`` wrote ``D``'s ``UNIT.json`` (between two units).
``attack-start:D:ATTACK``
    on entry to the backend's ``attack(ATTACK)`` for ``D``.
``attack-step:D:ATTACK:N``
    before optimiser step ``N`` inside ``D``'s ``ATTACK`` (torch: any optimiser; keras: ``apply_gradients`` and
    the white-box attacks' ``ScaledAdam.step``).

The production code is unchanged: this script only wraps its functions in this process. Before
the kill it appends one JSON line to ``RECORD`` naming the point and what was on disk, so the
test can check that the process died where it was meant to. Torch checkpoints are written every
2 optimiser steps instead of every 100, so that a tiny training run has mid-epoch checkpoints.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

KILL = sys.argv[1].split(":") if sys.argv[1] != "-" else [""]
KIND = KILL[0]
RECORD = sys.argv[2]
ARGV = sys.argv[3:]
STATE: dict = {"defence": None, "attack": None, "steps": 0, "count": 0, "cache_dir": None}


def _die(**info) -> None:
    info = {"kill": ":".join(KILL), "defence": STATE["defence"], "attack": STATE["attack"], **info}
    with open(RECORD, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(info) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.kill(os.getpid(), signal.SIGKILL)


def _ours(path: Path) -> bool:
    return STATE["defence"] == KILL[1] and f"{os.sep}cache{os.sep}{KILL[1]}{os.sep}" in str(path)


def _listing(folder) -> list[str]:
    return sorted(p.name for p in Path(folder).iterdir()) if folder and Path(folder).is_dir() else []


def _patch_common() -> None:
    from sift_reference import cache, runner, sweep

    run_defence = runner.run_defence

    def tracked(spec, defence, *args, **kw):
        STATE["defence"] = defence.name
        return run_defence(spec, defence, *args, **kw)

    runner.run_defence = tracked
    sweep.run_defence = tracked

    save_unit = cache.save_unit

    def saved(path, *args, **kw):
        save_unit(path, *args, **kw)
        path = Path(path)
        if KIND == "unit-saved" and _ours(path) and path.name == f"{KILL[2]}.json":
            _die(saved=path.name, listing=_listing(path.parent))

    cache.save_unit = saved

    real_replace = os.replace

    def replace(src, dst):
        s, d = Path(src), Path(dst)
        if KIND == "replace-before" and _ours(d) and d.name == KILL[2]:
            STATE["count"] += 1
            if STATE["count"] == int(KILL[3]):
                _die(source=s.name, source_bytes=s.stat().st_size, listing=_listing(d.parent))
        real_replace(src, dst)
        if KIND == "replace-after" and _ours(d) and d.name == KILL[2]:
            STATE["count"] += 1
            if STATE["count"] == int(KILL[3]):
                _die(listing=_listing(d.parent))

    os.replace = replace


def _wrap_attack(cls) -> None:
    attack = cls.attack

    def wrapped(self, name, handle, **kw):
        STATE["attack"], STATE["steps"], STATE["cache_dir"] = name, 0, kw.get("cache_dir")
        if KIND == "attack-start" and STATE["defence"] == KILL[1] and name == KILL[2]:
            _die()
        try:
            return attack(self, name, handle, **kw)
        finally:
            STATE["attack"] = None

    cls.attack = wrapped


def _optimiser_step() -> None:
    if STATE["attack"] is None:
        return
    STATE["steps"] += 1
    if KIND == "attack-step" and STATE["defence"] == KILL[1] and STATE["attack"] == KILL[2] \
            and STATE["steps"] == int(KILL[3]):
        _die(step=STATE["steps"], attacker_cache=_listing(STATE["cache_dir"]))


def _patch_torch() -> None:
    import io

    import sift_torch
    import torch
    from sift_reference.backends import torch_backend
    from torch.optim.optimizer import register_optimizer_step_pre_hook

    torch_backend.CHECKPOINT_EVERY = 2
    init = sift_torch.Trainer.__init__

    def on_step(trainer, info):
        if KIND == "train-step" and STATE["defence"] == KILL[1] and info["global_step"] == int(KILL[2]):
            last = sift_torch.load_checkpoint(trainer.checkpoint_path)
            _die(global_step=info["global_step"], last_epoch=last["epoch"], last_step_in_epoch=last["step_in_epoch"],
                 last_global_step=last["global_step"], listing=_listing(trainer.checkpoint_path.parent))

    def patched_init(self, *args, **kw):
        init(self, *args, **kw)
        self.callbacks.append(on_step)

    sift_torch.Trainer.__init__ = patched_init
    save = torch.save

    def partial_save(obj, f, *args, **kw):
        name = Path(f if isinstance(f, (str, os.PathLike)) else str(getattr(f, "name", "")))
        if KIND == "write-partial" and _ours(name) and name.name.startswith(f".{KILL[2]}."):
            STATE["count"] += 1
            if STATE["count"] == int(KILL[3]):
                buffer = io.BytesIO()
                save(obj, buffer, *args, **kw)
                f.write(buffer.getvalue()[: buffer.tell() // 2])
                f.flush()
                _die(written=buffer.tell() // 2, of=buffer.tell(), listing=_listing(name.parent))
        return save(obj, f, *args, **kw)

    torch.save = partial_save
    _wrap_attack(torch_backend.TorchBackend)
    register_optimizer_step_pre_hook(lambda optimizer, args, kwargs: _optimiser_step())


def _patch_keras() -> None:
    from sift_reference.backends import keras_backend

    on_epoch_end = keras_backend._EpochCheckpoint.on_epoch_end

    def patched(self, epoch, logs=None):
        on_epoch_end(self, epoch, logs)
        if KIND == "epoch-end" and STATE["defence"] == KILL[1] and epoch + 1 == int(KILL[2]):
            _die(epoch=epoch + 1, listing=_listing(self.workdir))

    keras_backend._EpochCheckpoint.on_epoch_end = patched
    _wrap_attack(keras_backend.KerasBackend)
    adam = keras_backend.keras.optimizers.Adam
    apply_gradients = adam.apply_gradients

    def counted(self, *args, **kw):
        _optimiser_step()
        return apply_gradients(self, *args, **kw)

    adam.apply_gradients = counted
    # the white-box attacks step through one traced function of their own, not an optimiser
    from sift_keras.attacks import _optim

    step = _optim.ScaledAdam.step

    def counted_step(self, *args, **kw):
        _optimiser_step()
        return step(self, *args, **kw)

    _optim.ScaledAdam.step = counted_step


def main() -> int:
    from sift_reference.cli import main as command

    _patch_common()
    backend = ARGV[ARGV.index("--backend") + 1] if "--backend" in ARGV else "torch"
    _patch_torch() if backend == "torch" else _patch_keras()
    return command(ARGV)


if __name__ == "__main__":
    sys.exit(main())
