"""Helpers the Python-API cases call: sift_core, sift_torch, sift_keras and the run folder's files."""

from __future__ import annotations

import contextlib
import os
import warnings
from pathlib import Path

import numpy as np

from .helpers_cli import Exploit, evil_objects, write

# ---- core helpers


def png_failed_overwrite_keeps(tmp: Path) -> bool:
    """Write a PNG, then try to overwrite it with an invalid image: the first file must be byte-identical."""
    import sift_core as sc

    path = tmp / "grid.png"
    sc.imaging.save_grid_png(path, np.zeros((4, 4, 3)))
    before = path.read_bytes()
    with contextlib.suppress(ValueError, TypeError):
        sc.imaging.save_grid_png(path, np.full((4, 4, 3), np.nan))
    leftovers = [p.name for p in tmp.iterdir() if p.name != "grid.png"]
    return path.read_bytes() == before and not leftovers


# ---- torch helpers


def tiny_model():
    import sift_torch as st

    return st.build_split("cnn", image_size=8, num_classes=2, width=2, seed=0)


def tiny_cfg(tmp: Path, **changes):
    import sift_torch as st

    settings = dict(epochs=2, batch_size=8, checkpoint_dir=str(tmp / "ckpt"), progress=False, seed=0)
    settings.update(changes)
    return st.TrainConfig(**settings)


def _tiny_data():
    import torch

    g = torch.Generator().manual_seed(1)
    return torch.rand(16, 1, 8, 8, generator=g), torch.arange(16) % 2


def tiny_fit(tmp: Path, *, data=None, resume=False, model=None, callbacks=(), **changes):
    import sift_torch as st

    model = model or tiny_model()
    trainer = st.Trainer(model, st.CrossEntropyLoss(), tiny_cfg(tmp, **changes), callbacks=callbacks)
    trainer.fit(data if data is not None else _tiny_data(), resume=resume)
    return model


def resume_changed(tmp: Path, **changes):
    """Train 2 epochs with checkpoints, then resume with other settings (must raise, naming them)."""
    tiny_fit(tmp)
    return tiny_fit(tmp, resume=True, **changes)


def _weights(model) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def resume_damaged(tmp: Path, marker: Path, how: str) -> dict:
    """Train 2 epochs (last.pt = end of epoch 2, prev.pt = epoch 1), damage last.pt, resume the same run."""
    import torch

    reference = _weights(tiny_fit(tmp / "plain", checkpoint_dir=None))
    tiny_fit(tmp)
    last = tmp / "ckpt" / "last.pt"
    data = last.read_bytes()
    if how == "half":
        last.write_bytes(data[: len(data) // 2])
    elif how == "empty":
        last.write_bytes(b"")
    elif how == "garbage":
        last.write_bytes(b"\x80\x04garbage" * 100)
    else:
        torch.save({"format": 1, "payload": Exploit(os.system, f"touch {marker}")}, last)
    steps: list[int] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resumed = _weights(tiny_fit(tmp, resume=True, callbacks=[lambda trainer, info: steps.append(info["step"])]))
    warned = any(issubclass(w.category, RuntimeWarning) and "last.pt" in str(w.message)
                 and "prev.pt instead" in str(w.message) for w in caught)
    same = reference.keys() == resumed.keys() and all(torch.equal(reference[k], resumed[k]) for k in reference)
    return {"warned": warned, "steps_run": len(steps), "same_weights": same, "marker": marker.exists()}


def load_ckpt(tmp: Path, content, marker: Path | None = None):
    import sift_torch as st
    import torch

    path = tmp / "x.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content == "half":
        st.save_checkpoint({"a": torch.zeros(100)}, path)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif content == "foreign":
        torch.save({"weights": torch.zeros(3)}, path)
    else:
        torch.save({"format": 1, "payload": Exploit(os.system, f"touch {marker}")}, path)
    return st.load_checkpoint(path)


def tiny_inverse():
    import sift_torch as st
    import torch
    from torch import nn

    torch.manual_seed(0)
    edge = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU())
    return st.InverseNetworkAttack(edge, image_shape=(1, 8, 8), epochs=1, width=4, min_width=2, progress=False)


def dead_feature_loss() -> dict:
    import sift_torch as st
    import torch

    x, y = torch.rand(8, 1, 4, 4), torch.arange(8) % 2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loss = st.SiftFunnelLoss()(x, torch.zeros(8, 3, 2, 2), torch.zeros(8, 2), y)
    warned = any(issubclass(w.category, st.DeadFeaturesWarning) for w in caught)
    return {"warned": warned, "finite": bool(torch.isfinite(loss))}


# ---- keras helpers


def sk():
    import sift_keras

    return sift_keras


def keras_edge():
    import keras

    return keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3, padding="same")])


def tf_const(a):
    import tensorflow as tf

    return tf.constant(np.asarray(a, dtype=np.float32))


def keras_const_terms() -> dict:
    import sift_keras

    rng = np.random.default_rng(0)
    x = tf_const(rng.random((8, 4, 4, 1)))
    terms = sift_keras.SiftFunnelLoss()(x, tf_const(np.full((8, 2, 2, 3), 5.0)), tf_const(np.zeros((8, 2))),
                                        tf_const(np.arange(8) % 2).numpy().astype(np.int64))
    return {"dcor": float(terms["dcor"]), "redundancy": float(terms["redundancy"])}


# ---- run-folder helpers


def recon_file(tmp: Path, kind: str, marker: Path) -> Path:
    path = tmp / "inverse_network_recon.npy"
    good = np.random.default_rng(0).random((4, 1, 8, 8)).astype(np.float32)
    if kind == "truncated":
        np.save(path, good)
        path.write_bytes(path.read_bytes()[:100])
    elif kind == "nan":
        np.save(path, good * np.nan)
    elif kind == "0d":
        np.save(path, np.float32(1.0))
    elif kind == "3d":
        np.save(path, good[:, 0])
    elif kind == "pickle":
        np.save(path, evil_objects(marker), allow_pickle=True)
    else:
        path.write_text("not an array")
    return path


def events_file(tmp: Path) -> Path:
    write(tmp / "events.jsonl", '{"event": "train", "defence": "none"}\n\x00\x01 garbage\n'
          '{"event": "load", "defence": "none"}\n{"event": "unit", "defe')
    return tmp
