"""Training of a split model (edge + cloud): seeds, progress, metrics, checkpoints, resume, DDP.

``Trainer(model, criterion, config).fit(train_data, test_data, resume=True)``
trains ``model`` (a :class:`~sift_torch.models.SplitModel`) on
``loss = criterion(x, z, logits, y) + model.regularization()``.

* Data order comes from :class:`torch.utils.data.DistributedSampler` (also
  with one process), so a run on ``W`` processes with ``batch_size`` b sees,
  at every step, the same global batch as one process with batch ``W * b``.
* ``batch_size`` is per process; the last incomplete batch is dropped
  (batch statistics such as dCor need equal, non-trivial batches).
* Checkpoints (``checkpoint_dir/last.pt``, synced to the disk and renamed
  into place; the one before is kept as ``prev.pt``) are written at the end
  of every epoch and, with ``checkpoint_every``, every that many steps; they
  hold model, optimiser, scheduler and RNG states (all processes), so
  ``resume=True`` continues an interrupted run to the same final weights.
  A damaged ``last.pt`` falls back to ``prev.pt``, and to a fresh start when
  neither loads, each with a RuntimeWarning.  Resuming with settings that fix
  the schedule or the data order (:data:`RESUME_KEYS`, and the number of
  training samples) changed raises a ValueError naming them.
* Under ``torchrun`` the process group is initialised from the environment
  (gloo on CPU, NCCL on CUDA) and the model wrapped in DDP; only rank 0
  writes checkpoints and shows progress.  See :mod:`sift_torch.distributed`
  for which batch the dependence penalties use.
"""

from __future__ import annotations

import logging
import math
import os
import random
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader

from sift_core.training_checks import accuracy_at_chance
from sift_core.validation import check_choice, check_int, check_non_negative, check_positive, check_positive_int

from .checkpoint import capture_rng, check_resume_settings, load_latest_checkpoint, restore_rng, save_checkpoint
from .data import NoProgress, ResumableSampler, as_dataset, progress
from .distributed import is_distributed, setup_distributed, world

__all__ = ["TrainConfig", "Trainer", "fit", "evaluate", "as_dataset", "ResumableSampler", "ChanceAccuracyWarning"]


#: "cosine": lr * (1 + cos(pi * step / total_steps)) / 2, stepped after every optimiser step;
#: the last epochs then settle instead of jumping by points between epochs, so short runs
#: compare final models fairly (MNIST 4,000 images, 4 epochs: SiftFunnel's gap to the
#: undefended model 6-10 points at a constant lr, 1-3 with cosine; docs/torch.md).
LR_SCHEDULES = ("cosine", "constant")

#: settings that fix the learning-rate schedule, the optimiser's state and the data order: a
#: checkpoint continues only under the values it was written with (the optimiser's state dict
#: would silently restore the old lr, betas and weight decay; a new batch size or epoch count
#: would move the global step and the sampler's position)
RESUME_KEYS = ("epochs", "batch_size", "seed", "lr", "lr_schedule", "betas", "amsgrad", "weight_decay")


class ChanceAccuracyWarning(UserWarning):
    """Training accuracy is still at chance level after a few epochs."""


@dataclass
class TrainConfig:
    """Settings of a training run (``lr`` 2e-3: the authors' 1e-2 killed the funnel, docs/method.md)."""

    epochs: int = 10
    batch_size: int = 128
    lr: float = 2e-3
    lr_schedule: str = "cosine"
    betas: tuple[float, float] = (0.5, 0.999)
    amsgrad: bool = True
    weight_decay: float = 0.0
    seed: int = 0
    device: str | None = None
    checkpoint_dir: str | None = None
    checkpoint_every: int | None = None
    progress: bool = True
    log_every: int = 20
    eval_batch_size: int = 512
    max_grad_norm: float | None = None
    num_workers: int = 0

    def __post_init__(self):
        for name in ("epochs", "batch_size", "log_every", "eval_batch_size"):
            check_positive_int(getattr(self, name), name)
        if self.checkpoint_every is not None:
            check_positive_int(self.checkpoint_every, "checkpoint_every")
        check_positive(self.lr, "lr")
        check_choice(self.lr_schedule, "lr_schedule", LR_SCHEDULES)
        check_non_negative(self.weight_decay, "weight_decay")
        check_int(self.num_workers, "num_workers", 0)


def _device(name: str | None) -> torch.device:
    if name is None:
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device: {name!r} is not a torch device ({exc})") from None
    # torch's own refusal comes later, from deep inside .to(), as an AssertionError without the name
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0 or (device.index or 0) >= count:
            raise ValueError(f"device: {name!r} is not available here ({count} CUDA device(s)); use 'cpu' "
                             + (f"or cuda:0..cuda:{count - 1}" if count else "or a machine with a GPU"))
    return device


def _seed_all(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def evaluate(model: nn.Module, data: Any, *, batch_size: int = 512, device: str | torch.device | None = None) -> float:
    """Top-1 accuracy of ``model`` (logits from ``model(x)``) on ``data``; sharded and summed under DDP."""
    ds = as_dataset(data, "data")
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    rank, size = world()
    idx = list(range(rank, len(ds), size))
    loader = DataLoader(torch.utils.data.Subset(ds, idx), batch_size=batch_size, shuffle=False)
    was = model.training
    model.eval()
    counts = torch.zeros(2, dtype=torch.float64, device=dev)
    with torch.no_grad():
        for x, y in loader:
            x, y = x.to(dev), y.to(dev)
            counts[0] += (model(x).argmax(1) == y).sum()
            counts[1] += y.numel()
    model.train(was)
    if is_distributed():
        dist.all_reduce(counts)
    return float(counts[0] / counts[1]) if counts[1] > 0 else float("nan")


class Trainer:
    """Trains ``model`` with ``criterion(x, z, logits, y)`` (see the module docstring).

    ``optimizer``: a factory ``params -> Optimizer`` (default Adam with the
    config's lr, betas, amsgrad, weight decay); ``scheduler``: a factory
    ``optimizer -> LR scheduler`` stepped once per epoch (ReduceLROnPlateau
    gets the epoch's training loss), which replaces ``config.lr_schedule``
    (per-step cosine decay by default); ``callbacks``: functions
    ``f(trainer, info)`` called after every optimiser step with
    ``info = {"epoch", "step", "global_step", "loss"}`` (``loss`` a tensor).
    """

    def __init__(
        self,
        model: nn.Module,
        criterion: Callable,
        config: TrainConfig | None = None,
        *,
        optimizer: Callable | None = None,
        scheduler: Callable | None = None,
        callbacks: Sequence[Callable] = (),
    ):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
        if not callable(criterion):
            raise TypeError("criterion must be callable as criterion(x, z, logits, labels)")
        self.config = config or TrainConfig()
        self.model = model
        self.criterion = criterion
        self._opt_factory = optimizer
        self._sched_factory = scheduler
        self.callbacks = list(callbacks)
        self.history: list[dict] = []
        self.device = _device(self.config.device)
        self._n_train: int | None = None

    # ------------------------------------------------------------------ set-up
    def _build(self, steps_per_epoch: int):
        """Optimiser, schedulers and DDP wrapper; ``fit`` has set up the process group."""
        c = self.config
        self.rank, self.world_size = world()
        self.model.to(self.device)
        params = [p for p in self.model.parameters() if p.requires_grad]
        if self._opt_factory is None:
            self.optimizer = torch.optim.Adam(params, lr=c.lr, betas=c.betas, amsgrad=c.amsgrad,
                                              weight_decay=c.weight_decay)
        else:
            self.optimizer = self._opt_factory(params)
        self.scheduler = self._sched_factory(self.optimizer) if self._sched_factory else None
        self.step_scheduler = None
        if self._sched_factory is None and c.lr_schedule == "cosine":
            total = max(1, c.epochs * steps_per_epoch)
            self.step_scheduler = torch.optim.lr_scheduler.LambdaLR(
                self.optimizer, lambda step: 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total)))
        self.net: nn.Module = self.model
        if is_distributed():
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = nn.parallel.DistributedDataParallel(self.model, device_ids=ids)

    @property
    def checkpoint_path(self) -> Path | None:
        d = self.config.checkpoint_dir
        return None if d is None else Path(d) / "last.pt"

    @property
    def previous_checkpoint_path(self) -> Path | None:
        """The checkpoint before :attr:`checkpoint_path`, kept for when the newest one is damaged."""
        d = self.config.checkpoint_dir
        return None if d is None else Path(d) / "prev.pt"

    def _resume_settings(self) -> dict:
        """The settings a checkpoint must have been written with to be resumed (see :data:`RESUME_KEYS`)."""
        c = self.config
        keys = [k for k in RESUME_KEYS
                if not (self._opt_factory is not None and k in ("lr", "betas", "amsgrad", "weight_decay"))
                and not (self._sched_factory is not None and k == "lr_schedule")]
        out = {k: getattr(c, k) for k in keys}
        if "betas" in out:
            out["betas"] = [float(b) for b in out["betas"]]
        out["train_samples"] = self._n_train
        return out

    # ------------------------------------------------------------------ checkpoints
    def _state(self, epoch: int, step: int, global_step: int, sums: dict) -> dict:
        rng = capture_rng(self.device)
        if is_distributed():
            rngs: list = [None] * self.world_size
            dist.all_gather_object(rngs, rng)
        else:
            rngs = [rng]
        return {
            "epoch": epoch, "step_in_epoch": step, "global_step": global_step,
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "step_scheduler": self.step_scheduler.state_dict() if self.step_scheduler is not None else None,
            "rng": rngs, "history": self.history, "world_size": self.world_size,
            "sums": {k: v.detach().cpu() for k, v in sums.items()},
            "config": asdict(self.config),
            "resume_settings": self._resume_settings(),
        }

    def save(self, epoch: int, step: int, global_step: int, sums: dict) -> None:
        state = self._state(epoch, step, global_step, sums)  # collective under DDP: every rank calls it
        if self.rank == 0 and self.checkpoint_path is not None:
            save_checkpoint(state, self.checkpoint_path, previous=self.previous_checkpoint_path)
        if is_distributed():
            dist.barrier()

    def _restore(self) -> tuple[int, int, int, dict] | None:
        """Load the newest readable checkpoint into the model, optimiser, schedulers and RNGs; None if none loads."""
        assert self.checkpoint_path is not None and self.previous_checkpoint_path is not None
        state, path = load_latest_checkpoint([self.checkpoint_path, self.previous_checkpoint_path])
        if state is None or path is None:
            return None
        check_resume_settings(state, self._resume_settings(), path)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        if self.step_scheduler is not None and state.get("step_scheduler") is not None:
            self.step_scheduler.load_state_dict(state["step_scheduler"])
        self.history = list(state["history"])
        if state["world_size"] == self.world_size:
            restore_rng(state["rng"][self.rank], self.device)
        else:
            warnings.warn(f"checkpoint written by {state['world_size']} process(es), resuming on "
                          f"{self.world_size}: random streams are re-seeded, the run is not bit-identical",
                          RuntimeWarning, stacklevel=3)
            _seed_all(self.config.seed + 7919 * (state["global_step"] + 1) + self.rank)
        sums = {k: v.to(self.device) for k, v in state["sums"].items()}
        return state["epoch"], state["step_in_epoch"], state["global_step"], sums

    # ------------------------------------------------------------------ training
    def fit(self, train_data: Any, test_data: Any = None, *, resume: bool = False) -> list[dict]:
        """Train for ``config.epochs`` epochs; returns the per-epoch metric history."""
        c = self.config
        if resume and self.checkpoint_path is None:
            raise ValueError("resume=True needs config.checkpoint_dir")
        train_ds = as_dataset(train_data, "train_data")
        test_ds = None if test_data is None else as_dataset(test_data, "test_data")
        setup_distributed(device=self.device)
        rank, world_size = world()
        sampler = ResumableSampler(train_ds, num_replicas=world_size, rank=rank, shuffle=True,
                                   seed=c.seed, drop_last=False)
        steps_per_epoch = sampler.num_samples // c.batch_size
        if steps_per_epoch < 1:
            raise ValueError(f"batch_size ({c.batch_size}) exceeds the {sampler.num_samples} training samples "
                             f"per process")
        self._n_train = len(train_ds)
        self._build(steps_per_epoch)
        _seed_all(c.seed + self.rank)
        epoch, start_step, global_step, sums = 0, 0, 0, {}
        restored = self._restore() if resume else None
        if restored is not None:
            epoch, start_step, global_step, sums = restored
        while epoch < c.epochs:
            sampler.set_epoch(epoch)
            sampler.start = start_step * c.batch_size
            sums = self._run_epoch(train_ds, sampler, epoch, start_step, steps_per_epoch, global_step, sums)
            global_step += steps_per_epoch - start_step
            self._end_epoch(epoch, sums, steps_per_epoch, test_ds)
            epoch, start_step, sums = epoch + 1, 0, {}
            self.save(epoch, 0, global_step, {})
        if hasattr(self.criterion, "flush_checks"):
            self.criterion.flush_checks()
        return self.history

    def _run_epoch(self, ds, sampler, epoch, start_step, steps_per_epoch, global_step, sums) -> dict:
        c = self.config
        loader = DataLoader(ds, batch_size=c.batch_size, sampler=sampler, drop_last=True,
                            num_workers=c.num_workers, pin_memory=self.device.type == "cuda",
                            generator=torch.Generator().manual_seed(c.seed + epoch))
        self.net.train()
        bar = progress(loader, total=steps_per_epoch, initial=start_step, desc=f"epoch {epoch + 1}/{c.epochs}",
                        disable=not c.progress or self.rank != 0)
        for step, (x, y) in enumerate(bar, start=start_step):
            x = x.to(self.device, non_blocking=True)
            y = y.to(self.device, non_blocking=True)
            logits, z = self.net(x, return_features=True)
            loss = self.criterion(x, z, logits, y)
            reg = self.model.regularization() if hasattr(self.model, "regularization") else 0.0
            total = loss + reg
            self.optimizer.zero_grad(set_to_none=True)
            total.backward()
            if c.max_grad_norm is not None:
                nn.utils.clip_grad_norm_(self.model.parameters(), c.max_grad_norm)
            self.optimizer.step()
            if self.step_scheduler is not None:
                self.step_scheduler.step()
            global_step += 1
            terms = dict(getattr(self.criterion, "terms", {}) or {"total": loss.detach()})
            if isinstance(reg, torch.Tensor):
                terms["regularization"] = reg.detach()
                terms["total"] = terms.get("total", loss.detach()) + reg.detach()
            self._num_classes = logits.shape[1]
            terms["correct"] = (logits.detach().argmax(1) == y).sum().to(torch.float64)
            terms["seen"] = torch.tensor(float(y.numel()), dtype=torch.float64, device=self.device)
            for k, v in terms.items():
                v = v.detach().to(torch.float64)
                sums[k] = sums[k] + v if k in sums else v.clone()
            # one host read every log_every steps (every step on CPU, where it is free)
            if self.device.type == "cpu" or (step + 1) % c.log_every == 0:
                value = float(total.detach())
                if not math.isfinite(value):
                    raise FloatingPointError(
                        f"the training loss became {value} at epoch {epoch + 1}, step {step + 1} (terms: "
                        f"{ {k: float(v) for k, v in terms.items()} }): lower the learning rate (lr={c.lr}) or "
                        f"clip gradients (TrainConfig(max_grad_norm=...)); the last checkpoint holds finite weights"
                    )
                if not isinstance(bar, NoProgress) and (step + 1) % c.log_every == 0:
                    bar.set_postfix(loss=f"{value:.4f}")
            for cb in self.callbacks:
                cb(self, {"epoch": epoch, "step": step, "global_step": global_step, "loss": total.detach()})
            if c.checkpoint_every and global_step % c.checkpoint_every == 0 and step + 1 < steps_per_epoch:
                if not math.isfinite(float(sums["total"])):
                    raise FloatingPointError(f"non-finite training loss before step {global_step}'s checkpoint: "
                                             f"lower the learning rate (lr={c.lr}); no checkpoint was written")
                self.save(epoch, step + 1, global_step, sums)
        return sums

    def _end_epoch(self, epoch: int, sums: dict, steps: int, test_ds) -> None:
        c = self.config
        keys = sorted(sums)
        vec = torch.stack([sums[k] for k in keys]) if keys else torch.zeros(0, dtype=torch.float64)
        if is_distributed():
            dist.all_reduce(vec)
        vals = dict(zip(keys, vec.tolist()))
        if not all(math.isfinite(v) for v in vals.values()):
            raise FloatingPointError(
                f"non-finite training metrics in epoch {epoch + 1} ({vals}): lower the learning rate "
                f"(lr={c.lr}) or clip gradients (TrainConfig(max_grad_norm=...)); no checkpoint was written"
            )
        seen = vals.pop("seen", 0.0)
        correct = vals.pop("correct", 0.0)
        denom = steps * self.world_size
        row: dict[str, Any] = {"epoch": epoch + 1}
        row.update({f"train_{k}": v / denom for k, v in vals.items()})
        row["train_accuracy"] = correct / seen if seen else float("nan")
        k = getattr(self, "_num_classes", 0)
        # the rule (and its thresholds) is sift_core's, shared with sift_keras.SplitModel.fit
        if accuracy_at_chance(row["train_accuracy"], num_classes=k, epochs=epoch + 1, steps=(epoch + 1) * steps):
            warnings.warn(
                f"training accuracy is {row['train_accuracy']:.3f} after {epoch + 1} epochs, about chance for {k} "
                f"classes: the model is not learning. Lower the learning rate (lr={c.lr}; 2e-3 trains the funnel "
                f"models, 1e-2 does not) or check the labels.", ChanceAccuracyWarning, stacklevel=3)
        if test_ds is not None:
            row["test_accuracy"] = evaluate(self.model, test_ds, batch_size=c.eval_batch_size, device=self.device)
        row["lr"] = self.optimizer.param_groups[0]["lr"]
        row["time"] = time.time()
        if self.scheduler is not None:
            if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                self.scheduler.step(row.get("train_total", 0.0))
            else:
                self.scheduler.step()
        self.history.append(row)
        if c.progress and self.rank == 0:
            shown = {k: round(v, 4) for k, v in row.items() if k not in ("epoch", "time")}
            logging.getLogger("sift_torch").info("epoch %d: %s", epoch + 1, shown)


def fit(
    model: nn.Module,
    criterion: Callable,
    train_data: Any,
    test_data: Any = None,
    *,
    resume: bool = False,
    config: TrainConfig | None = None,
    **settings: Any,
) -> list[dict]:
    """Convenience: ``Trainer(model, criterion, TrainConfig(**settings)).fit(train_data, test_data, resume=resume)``."""
    if config is not None and settings:
        raise TypeError("give either config or individual settings, not both")
    return Trainer(model, criterion, config or TrainConfig(**settings)).fit(train_data, test_data, resume=resume)
