"""The harness's Keras backend: epoch checkpoints that never disagree with their epoch count, and a damaged
newest checkpoint that falls back to an older one."""

from __future__ import annotations

import warnings

import pytest

pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")
pytest.importorskip("sklearn")

from sift_reference.backends import keras_backend  # noqa: E402
from sift_reference.datasets import load_dataset  # noqa: E402
from sift_reference.spec import spec_from_dict  # noqa: E402

SPEC = {
    "experiment": {"name": "ckpt", "seed": 0, "backend": "keras"},
    "dataset": {"name": "digits", "image_size": 28, "n_target_train": 128, "n_target_test": 40,
                "n_attacker_aux": 40, "n_private_eval": 20},
    "model": {"architecture": "cnn", "width": 4},
    "training": {"epochs": 3, "batch_size": 64},
    "defences": [{"kind": "none"}],
}


def test_resume_uses_the_newest_checkpoint_that_loads(tmp_path):
    spec = spec_from_dict(SPEC)
    ds = spec.dataset
    data = load_dataset(ds.name, image_size=ds.image_size, n_target_train=ds.n_target_train,
                        n_target_test=ds.n_target_test, n_attacker_aux=ds.n_attacker_aux,
                        n_private_eval=ds.n_private_eval)
    backend = keras_backend.make_backend()
    defence = spec.defences[0]
    workdir = tmp_path / "train"
    backend.train(spec=spec, defence=defence, data=data, workdir=workdir, progress=False)
    # only the last epoch's checkpoint is kept, its count in its name
    assert [p.name for _, p in keras_backend._checkpoints(workdir)] == ["checkpoint-e0003.keras"]
    # a crash left a newer checkpoint damaged: the run resumes from the good one, with a warning
    good = workdir / "checkpoint-e0003.keras"
    (workdir / "checkpoint-e0004.keras").write_bytes(b"truncated")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model, done = keras_backend._resume(workdir)
    assert done == 3 and model is not None and good.is_file()
    assert any("checkpoint-e0004.keras cannot be loaded" in str(w.message) for w in caught)
    assert keras_backend._resume(tmp_path / "empty") == (None, 0)
