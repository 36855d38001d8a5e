"""DDP with 2 gloo processes on CPU (torchrun) against one process on the same global batch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")
if not torch.distributed.is_available():
    pytest.skip("torch.distributed is not available", allow_module_level=True)

import sift_torch as st  # noqa: E402
from sift_torch.trainer import TrainConfig, Trainer  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _ddp_worker as worker  # noqa: E402


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(HERE / "_ddp_worker.py"), str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


def test_two_processes_match_one_process_on_the_global_batch(ddp_run):
    """batch 16 x 2 processes == batch 32 x 1 process: same losses per epoch and the same final weights.

    The model has no batch norm (whose statistics are per process under DDP); the dCor
    penalty is computed on the gathered batch, so every statistic is the global one.
    """
    got = torch.load(ddp_run / "phase1.pt", weights_only=True)
    model = worker.bn_free_model()
    hist = Trainer(model, st.SiftFunnelLoss(), TrainConfig(epochs=2, batch_size=32, seed=3, progress=False,
                                                           lr=5e-3)).fit(worker.digits(256), worker.digits(256))
    for k, v in model.state_dict().items():
        torch.testing.assert_close(got["state"][k], v, rtol=1e-4, atol=1e-5, msg=k)
    for mine, theirs in zip(hist, got["history"]):
        for k in ("train_task", "train_dcor", "train_l1", "train_redundancy", "train_total"):
            assert theirs[k] == pytest.approx(mine[k], rel=1e-5), k
        assert theirs["train_accuracy"] == mine["train_accuracy"]
        assert theirs["test_accuracy"] == mine["test_accuracy"]


def test_ddp_resume_is_exact_with_batch_norm(ddp_run):
    got = torch.load(ddp_run / "phase2.pt", weights_only=True)
    for k, v in got["full"].items():
        assert torch.equal(v, got["resumed"][k]), k
    assert all(torch.isfinite(torch.tensor(r["train_total"])) for r in got["history"])
    # rank 0 wrote the checkpoint, with the RNG states of both processes
    ckpt = st.load_checkpoint(ddp_run / "full" / "last.pt")
    assert ckpt["world_size"] == 2 and len(ckpt["rng"]) == 2
