"""Run under ``torchrun --nproc_per_node=2``: DDP training used by test_ddp.py.

Phase 1 trains a model without batch norm on sklearn digits with SiftFunnelLoss
(dCor on the gathered batch) and saves the final weights and history.  Phase 2
trains the funnel CNN (with batch norm), interrupted and resumed under DDP,
and saves both final weights.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import sift_torch as st
import torch
from sift_torch.trainer import TrainConfig, Trainer
from sklearn.datasets import load_digits
from torch import nn


def digits(n: int):
    d = load_digits()
    return (d.images[:n] / 16.0).astype(np.float32)[:, None], d.target[:n].astype(np.int64)


def bn_free_model() -> st.SplitModel:
    g = torch.random.fork_rng(devices=[])
    with g:
        torch.manual_seed(0)
        edge = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.LeakyReLU(0.1), nn.MaxPool2d(2))
        cloud = nn.Sequential(nn.Flatten(), nn.Linear(4 * 4 * 4, 10))
        return st.SplitModel(edge, cloud)


class Stop(Exception):
    pass


def main(out: Path) -> None:
    data = digits(256)
    # ---- phase 1: equivalence with one process on the global batch
    model = bn_free_model()
    cfg = TrainConfig(epochs=2, batch_size=16, seed=3, progress=False, lr=5e-3)
    hist = Trainer(model, st.SiftFunnelLoss(), cfg).fit(data, data)
    rank = torch.distributed.get_rank()
    if rank == 0:
        torch.save({"state": model.state_dict(), "history": hist}, out / "phase1.pt")

    # ---- phase 2: a model with batch norm, interrupted and resumed under DDP
    def run(tag, stop=None, resume=False):
        m = st.build_split("cnn", defence="siftfunnel", image_size=8, width=8, seed=1)
        cfg = TrainConfig(epochs=2, batch_size=16, seed=4, progress=False, checkpoint_dir=str(out / tag),
                          checkpoint_every=3)

        def cb(trainer, info):
            if stop is not None and info["global_step"] == stop:
                raise Stop

        try:
            h = Trainer(m, st.SiftFunnelLoss(), cfg, callbacks=[cb]).fit(data, resume=resume)
        except Stop:
            return None
        return m, h

    full = run("full")
    assert run("cut", stop=5) is None
    resumed = run("cut", resume=True)
    if rank == 0:
        torch.save({"full": full[0].state_dict(), "resumed": resumed[0].state_dict(),
                    "history": full[1]}, out / "phase2.pt")
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
