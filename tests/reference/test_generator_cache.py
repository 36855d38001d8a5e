"""The backends' attacker GAN: trained once per run, and a killed training continues from its last
epoch (the ``.partial`` checkpoint beside the generator's file) to the generator an uninterrupted
run gives; the partial file is removed once the generator is saved."""

from __future__ import annotations

import numpy as np
import pytest
from sift_reference.attack_spec import GenerativeSpec

CFG = GenerativeSpec(latent_dim=8, gan_width=16, gan_epochs=3)


def _aux():
    return np.random.default_rng(0).random((64, 1, 16, 16), dtype=np.float32)


def test_torch_backend_continues_a_partial_generator_then_removes_it(tmp_path):
    torch = pytest.importorskip("torch")
    from sift_reference.backends.torch_backend import TorchBackend
    from sift_torch.attacks import train_generator

    whole = TorchBackend()._generator(_aux(), CFG, 5, False, tmp_path / "a")
    (final,) = (tmp_path / "a").glob("generator-*.pt")
    assert not list((tmp_path / "a").glob("*.partial.*"))
    # a run killed after one epoch left its partial file beside where the generator goes
    partial = tmp_path / "b" / final.name.replace(".pt", ".partial.pt")
    train_generator(torch.from_numpy(_aux()), latent_dim=8, width=16, epochs=1, seed=5, progress=False,
                    checkpoint=partial)
    resumed = TorchBackend()._generator(_aux(), CFG, 5, False, tmp_path / "b")
    assert not partial.exists() and (tmp_path / "b" / final.name).is_file()
    for a, b in zip(whole.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


def test_keras_backend_continues_a_partial_generator_then_removes_it(tmp_path):
    pytest.importorskip("tensorflow")
    from sift_keras.attacks import train_generator
    from sift_reference.backends.keras_backend import KerasBackend

    whole = KerasBackend()._generator(_aux(), CFG, 5, False, tmp_path / "a")
    (final,) = (tmp_path / "a").glob("generator-*.keras")
    assert not list((tmp_path / "a").glob("*.partial.*"))
    partial = tmp_path / "b" / final.name.replace(".keras", ".partial.npz")
    train_generator(_aux().transpose(0, 2, 3, 1), latent_dim=8, width=16, epochs=1, seed=5, progress=False,
                    checkpoint=partial)
    resumed = KerasBackend()._generator(_aux(), CFG, 5, False, tmp_path / "b")
    assert not partial.exists() and (tmp_path / "b" / final.name).is_file()
    for a, b in zip(whole.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)
