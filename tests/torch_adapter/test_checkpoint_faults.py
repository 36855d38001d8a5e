"""Checkpoints under faults: damaged files fall back, writes reach the disk, changed settings refuse to resume."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import sift_torch as st  # noqa: E402
from sift_torch import checkpoint as ckpt  # noqa: E402
from sift_torch.trainer import TrainConfig, Trainer  # noqa: E402


def _data(n=96):
    # 96 images 8x8, 10 classes: 3 steps an epoch at batch 32
    rng = np.random.default_rng(0)
    return rng.random((n, 1, 8, 8), dtype=np.float32), rng.integers(0, 10, n).astype(np.int64)


def _model():
    return st.build_split("cnn", defence="siftfunnel", image_size=8, num_classes=10, width=8, seed=0)


def _config(tmp, **kw):
    base = dict(epochs=2, batch_size=32, seed=3, progress=False, checkpoint_dir=str(tmp))
    base.update(kw)
    return TrainConfig(**base)


def _fit(tmp, *, resume=False, data=None, **kw):
    model = _model()
    Trainer(model, st.SiftFunnelLoss(), _config(tmp, **kw)).fit(data or _data(), resume=resume)
    return model


def _same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted two-epoch run: its final weights and its checkpoint directory (last.pt, prev.pt)."""
    tmp = tmp_path_factory.mktemp("reference")
    model = _fit(tmp)
    return model, tmp


def _copy_run(src, dst):
    dst.mkdir()
    for name in ("last.pt", "prev.pt"):
        (dst / name).write_bytes((src / name).read_bytes())


def test_the_previous_checkpoint_is_kept(reference):
    _, tmp = reference
    assert sorted(p.name for p in tmp.iterdir()) == ["last.pt", "prev.pt"]
    assert st.load_checkpoint(tmp / "last.pt")["epoch"] == 2
    assert st.load_checkpoint(tmp / "prev.pt")["epoch"] == 1


@pytest.mark.parametrize("damage", ["truncated", "empty", "garbage"])
def test_a_damaged_last_checkpoint_falls_back_to_the_previous_one(reference, tmp_path, damage):
    ref_model, src = reference
    run = tmp_path / "run"
    _copy_run(src, run)
    raw = (run / "last.pt").read_bytes()
    (run / "last.pt").write_bytes({"truncated": raw[: len(raw) // 2], "empty": b"",
                                   "garbage": os.urandom(1000)}[damage])
    with pytest.raises(ckpt.UNREADABLE):  # what the harness catches for model.pt
        st.load_checkpoint(run / "last.pt")
    with pytest.warns(RuntimeWarning, match=r"last\.pt") as rec:
        resumed = _fit(run, resume=True)
    assert any("prev.pt" in str(w.message) for w in rec)
    # epoch 2 is trained again from the epoch-1 checkpoint: the same final weights as without the fault
    assert _same(resumed, ref_model)
    assert st.load_checkpoint(run / "last.pt")["epoch"] == 2


def test_no_readable_checkpoint_starts_afresh_with_a_warning(reference, tmp_path):
    ref_model, _ = reference
    run = tmp_path / "run"
    run.mkdir()
    (run / "last.pt").write_bytes(b"")
    (run / "prev.pt").write_bytes(b"PK\x03\x04 cut")
    with pytest.warns(RuntimeWarning, match="starting from scratch"):
        fresh = _fit(run, resume=True)
    assert _same(fresh, ref_model)


def test_a_missing_last_checkpoint_with_a_previous_one_resumes_from_it(reference, tmp_path):
    # an interruption between the two renames of save_checkpoint leaves only prev.pt
    ref_model, src = reference
    run = tmp_path / "run"
    _copy_run(src, run)
    (run / "last.pt").unlink()
    with pytest.warns(RuntimeWarning, match="missing"):
        resumed = _fit(run, resume=True)
    assert _same(resumed, ref_model)


@pytest.mark.parametrize(("change", "key"), [
    ({"batch_size": 16}, "batch_size"), ({"epochs": 3}, "epochs"), ({"lr": 1e-3}, "lr"),
    ({"seed": 4}, "seed"), ({"lr_schedule": "constant"}, "lr_schedule"), ({"data": _data(128)}, "train_samples"),
])
def test_resume_with_changed_settings_is_refused(reference, tmp_path, change, key):
    _, src = reference
    run = tmp_path / "run"
    _copy_run(src, run)
    before = (run / "last.pt").read_bytes()
    with pytest.raises(ValueError, match=rf"{key}.*(new checkpoint_dir|without resume)") as info:
        _fit(run, resume=True, **change)
    assert "last.pt" in str(info.value)
    assert (run / "last.pt").read_bytes() == before  # nothing was overwritten
    # settings that do not fix the schedule or the data order may change
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        _fit(run, resume=True, log_every=7, eval_batch_size=64)


def test_save_syncs_the_file_before_the_rename_and_the_directory_after(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))))
        return real_fsync(fd)

    def replace(a, b):
        events.append(("replace", os.path.basename(a), os.path.basename(b)))
        return real_replace(a, b)

    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc to name file descriptors")
    monkeypatch.setattr(ckpt.os, "fsync", fsync)
    monkeypatch.setattr(ckpt.os, "replace", replace)
    st.save_checkpoint({"a": torch.zeros(2)}, tmp_path / "last.pt", previous=tmp_path / "prev.pt")
    tmp_name = events[0][1]
    assert events == [("fsync", tmp_name), ("replace", tmp_name, "last.pt"), ("fsync", tmp_path.name)]
    events.clear()
    st.save_checkpoint({"a": torch.ones(2)}, tmp_path / "last.pt", previous=tmp_path / "prev.pt")
    assert [e[0] for e in events] == ["fsync", "replace", "replace", "fsync"]
    assert events[1][1:] == ("last.pt", "prev.pt")
    assert torch.equal(st.load_checkpoint(tmp_path / "prev.pt")["a"], torch.zeros(2))
    assert torch.equal(st.load_checkpoint(tmp_path / "last.pt")["a"], torch.ones(2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt", "prev.pt"]


def test_plain_save_keeps_no_previous_file(tmp_path):
    # the harness saves model.pt this way: one file, replaced in place
    for v in (0.0, 1.0):
        st.save_checkpoint({"model": {"w": torch.full((2,), v)}}, tmp_path / "model.pt")
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]
    assert float(st.load_checkpoint(tmp_path / "model.pt")["model"]["w"][0]) == 1.0


@pytest.mark.parametrize("content", [b"\x00garbage" * 8, b"half", pytest.param(None, id="pickle")])
def test_loading_an_unreadable_file_names_it(tmp_path, reference, content):
    path = tmp_path / "c.pt"
    if content is None:  # a pickle that would run code: refused by the restricted unpickler, nothing runs
        import pickle

        path.write_bytes(pickle.dumps(os.system))
    else:
        path.write_bytes((reference[1] / "last.pt").read_bytes()[: len(content) * 100] if content == b"half"
                         else content)
    with pytest.raises(ckpt.UNREADABLE) as info:
        st.load_checkpoint(path)
    assert str(path) in str(info.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("device", ["cuda", "cuda:7"])
def test_an_unavailable_device_is_named_before_training(device):
    with pytest.raises(ValueError, match=f"device: '{device}' is not available"):
        Trainer(_model(), st.SiftFunnelLoss(), TrainConfig(epochs=1, device=device, progress=False))
