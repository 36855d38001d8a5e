"""The torch backend's attacker GAN: trained once per run, and a killed training continues from its
last epoch (the ``.partial.pt`` checkpoint) to the generator an uninterrupted run gives."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sift_reference.attack_spec import GenerativeSpec  # noqa: E402
from sift_reference.backends.torch_backend import TorchBackend  # noqa: E402
from sift_torch.attacks import train_generator  # noqa: E402


def _aux():
    return np.random.default_rng(0).random((64, 1, 16, 16), dtype=np.float32)


def test_a_partial_generator_is_continued_then_removed(tmp_path):
    cfg = GenerativeSpec(latent_dim=8, gan_width=16, gan_epochs=3)
    whole = TorchBackend()._generator(_aux(), cfg, 5, False, tmp_path / "a")
    (final,) = (tmp_path / "a").glob("generator-*.pt")
    assert not list((tmp_path / "a").glob("*.partial.pt"))
    # a run killed after one epoch left its partial file beside where the generator goes
    partial = tmp_path / "b" / final.name.replace(".pt", ".partial.pt")
    train_generator(torch.from_numpy(_aux()), latent_dim=8, width=16, epochs=1, seed=5, progress=False,
                    checkpoint=partial)
    resumed = TorchBackend()._generator(_aux(), cfg, 5, False, tmp_path / "b")
    assert not partial.exists() and (tmp_path / "b" / final.name).is_file()
    for a, b in zip(whole.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
