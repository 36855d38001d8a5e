"""The attack suite at full strength: attacks that stop on convergence, the hybrid and the generative prior."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

from sift_torch.attacks import (  # noqa: E402
    GenerativePriorAttack,
    HybridAttack,
    InverseNetworkAttack,
    RMLEAttack,
    build_generator,
    train_generator,
)


@pytest.fixture(scope="module")
def digits16():
    datasets = pytest.importorskip("sklearn.datasets")
    x = torch.tensor(datasets.load_digits().images / 16.0, dtype=torch.float32)[:, None]
    return F.interpolate(x, size=(16, 16), mode="bilinear", align_corners=False).clamp(0, 1)


def pool(k):
    return nn.AvgPool2d(k)


def test_inverse_network_stops_on_a_held_out_plateau_and_keeps_the_best_epoch(digits16):
    attack = InverseNetworkAttack(pool(2), image_shape=(1, 16, 16), epochs=60, patience=3, width=16, seed=0,
                                  progress=False).fit(digits16[:400])
    assert attack.converged and len(attack.history) < 60
    best = attack.best_epoch
    assert attack.val_history[best] <= 1.001 * min(attack.val_history)  # best up to the 0.1 % threshold
    # the kept decoder is the best epoch's: recompute its held-out MSE from the same split (seeded)
    n = 400
    split = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    val = digits16[:400][split[: round(0.1 * n)]]
    mse = float(torch.mean((attack.reconstruct(pool(2)(val)) - val) ** 2))
    assert mse == pytest.approx(attack.val_history[best], rel=0.25)
    assert mse < attack.val_history[0]


def test_inverse_network_without_held_out_data_trains_every_epoch(digits16):
    attack = InverseNetworkAttack(pool(2), image_shape=(1, 16, 16), epochs=3, val_fraction=0.0, width=8,
                                  progress=False).fit(digits16[:64])
    assert len(attack.history) == 3 and attack.val_history == [] and not attack.converged


def test_rmle_stops_each_image_when_it_has_converged(digits16):
    x = digits16[:6]
    edge = nn.Conv2d(1, 4, 3, padding=1)
    torch.manual_seed(0)
    edge.reset_parameters()
    attack = RMLEAttack(edge, image_shape=(1, 16, 16), steps=4000, lr=0.05, tv_weight=0.0, patience=4,
                        progress=False)
    with torch.no_grad():
        z = edge(x)
    x_hat = attack.reconstruct(z)
    assert max(attack.steps_run) < 4000  # every image stopped on its own plateau
    assert float(torch.mean((x_hat - x) ** 2)) < 1e-3  # and had recovered the (invertible) input


def test_rmle_from_a_start_keeps_or_improves_its_objective(digits16):
    """Started from an image, rMLE never returns anything worse than it: the best iterate is kept."""
    from sift_core.inversion import feature_matching_objective

    x, start = digits16[:5], digits16[5:10]
    edge = pool(4)
    z = edge(x)
    out = RMLEAttack(edge, image_shape=(1, 16, 16), steps=200, lr=0.02, tv_weight=0.02, progress=False).reconstruct(
        z, init=start)
    before = feature_matching_objective(edge(start), z, start, tv_weight=0.02)
    after = feature_matching_objective(edge(out), z, out, tv_weight=0.02)
    assert torch.all(after <= before + 1e-6)
    with pytest.raises(ValueError, match="init must hold one image"):
        RMLEAttack(edge, image_shape=(1, 16, 16), steps=2, progress=False).reconstruct(z, init=start[:2])


def test_hybrid_refines_the_decoders_guess_toward_the_features(digits16):
    """On a lossy edge the decoder's guess does not reproduce the features; the hybrid's does, and
    it stays close to the image."""
    from sift_core.inversion import relative_feature_error

    edge = pool(4)
    hybrid = HybridAttack(edge, image_shape=(1, 16, 16), inverse_options={"epochs": 4, "width": 16, "patience": 2},
                          steps=400, progress=False).fit(digits16[:300])
    x = digits16[300:332]
    z = edge(x)
    guess = hybrid.inverse.reconstruct(z)
    refined = hybrid.reconstruct(z)
    assert relative_feature_error(edge(refined), z) < 0.5 * relative_feature_error(edge(guess), z)
    assert float(torch.mean((refined - x) ** 2)) <= 1.05 * float(torch.mean((guess - x) ** 2))
    with pytest.raises(TypeError, match="inverse must be"):
        HybridAttack(edge, image_shape=(1, 16, 16), inverse="decoder")


def test_latent_search_recovers_images_the_generator_can_make():
    """Targets made by the generator itself: the search must find them through a lossy edge."""
    torch.manual_seed(0)
    gen = build_generator((1, 16, 16), latent_dim=8, width=16).eval()
    with torch.no_grad():
        x = gen(torch.randn(6, 8))
    edge = pool(2)
    attack = GenerativePriorAttack(edge, image_shape=(1, 16, 16), generator=gen, restarts=4, steps=600, lr=0.05,
                                   prior_weight=0.0, pixel_steps=0, progress=False)
    x_hat = attack.reconstruct(edge(x))
    assert float(torch.mean((x_hat - x) ** 2)) < 0.1 * float(torch.mean((x - x.mean()) ** 2))
    assert max(attack.latent_feature_error) < 0.01


def test_generator_trains_and_the_attack_runs_end_to_end(digits16):
    gen, history = train_generator(digits16[:128], latent_dim=8, width=16, epochs=2, batch_size=32, progress=False)
    assert len(history) == 2 and all(np.isfinite(list(h.values())).all() for h in history)
    with torch.no_grad():
        sample = gen(torch.randn(4, 8))
    assert sample.shape == (4, 1, 16, 16) and float(sample.min()) >= 0 and float(sample.max()) <= 1
    attack = GenerativePriorAttack(pool(2), image_shape=(1, 16, 16), generator=gen, restarts=2, steps=30,
                                   pixel_steps=20, progress=False)
    result = attack.evaluate(digits16[200:204])
    assert result.n == 4 and np.all(np.isfinite(result.mse))
    with pytest.raises(ValueError, match="at least 8 images"):
        train_generator(digits16[:5], batch_size=32, progress=False)
    with pytest.raises(RuntimeError, match="no generator"):
        GenerativePriorAttack(pool(2), image_shape=(1, 16, 16), progress=False).reconstruct(torch.zeros(2, 1, 8, 8))


def test_generator_training_resumes_from_its_checkpoint_to_the_uninterrupted_weights(digits16, tmp_path):
    kw = dict(latent_dim=8, width=16, batch_size=32, seed=3, progress=False)
    whole, whole_history = train_generator(digits16[:96], epochs=3, **kw)
    ckpt = tmp_path / "gan.pt"
    train_generator(digits16[:96], epochs=1, checkpoint=ckpt, **kw)  # "interrupted" after one epoch
    resumed, history = train_generator(digits16[:96], epochs=3, checkpoint=ckpt, **kw)
    assert history == whole_history
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    assert torch.load(ckpt, weights_only=True)["epoch"] == 3
    # the same checkpoint, asked for the epochs it holds, is the finished generator
    again, _ = train_generator(digits16[:96], epochs=3, checkpoint=ckpt, **kw)
    assert all(torch.equal(a, b) for a, b in zip(whole.state_dict().values(), again.state_dict().values()))
    with pytest.raises(ValueError, match="checkpoint: .* other data or settings"):
        train_generator(digits16[:96], epochs=3, checkpoint=ckpt, **dict(kw, width=8))
    with pytest.raises(ValueError, match="checkpoint: .* other data or settings"):
        train_generator(digits16[1:97], epochs=3, checkpoint=ckpt, **kw)
    with pytest.raises(ValueError, match="checkpoint: .* holds 3 epochs, more than epochs=2"):
        train_generator(digits16[:96], epochs=2, checkpoint=ckpt, **kw)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="checkpoint: .*junk.pt is not a readable generator checkpoint"):
        train_generator(digits16[:96], epochs=3, checkpoint=tmp_path / "junk.pt", **kw)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (3, 25, 25), (1, 64, 64)])
def test_generator_and_discriminator_fit_every_image_size(shape):
    from sift_torch.attacks import build_discriminator

    gen = build_generator(shape, latent_dim=4, width=16)
    x = gen(torch.randn(2, 4))
    assert tuple(x.shape[1:]) == shape
    assert build_discriminator(shape, width=8)(x).shape == (2, 1)


def test_a_diverging_attack_raises_floating_point_error(digits16):
    class Exploding(nn.Module):
        def forward(self, x):
            return x * float("nan")

    with pytest.raises(FloatingPointError, match="diverged"):
        RMLEAttack(Exploding(), image_shape=(1, 16, 16), steps=30, progress=False).reconstruct(torch.ones(2, 1, 16, 16))


def test_rmle_records_which_images_halted_on_a_non_finite_step():
    class Pole(nn.Module):  # f(x) = 1 / (x - 0.5): infinite at x = 0.5
        def forward(self, x):
            return 1.0 / (x - 0.5)

    init = torch.full((2, 1, 4, 4), 0.25)
    init[1] = 0.5  # the second image starts on the pole: its first step is not finite
    attack = RMLEAttack(Pole(), image_shape=(1, 4, 4), steps=200, tv_weight=0.0, progress=False)
    attack.reconstruct(torch.full((2, 1, 4, 4), 1.0 / (0.75 - 0.5)), init=init)
    assert attack.halted == [False, True]
    assert attack.steps_run[1] < attack.steps_run[0]


def test_rmle_records_the_steps_each_image_ran():
    """A constant objective improves once (at the first check), then the rule halves the step twice
    after 2 checks each and stops after 4 more: 8 checks, so every image ran 8 * check_every steps."""

    class Zero(nn.Module):
        def forward(self, x):
            return x * 0.0

    attack = RMLEAttack(Zero(), image_shape=(1, 8, 8), steps=500, tv_weight=0.0, patience=4, check_every=25,
                        progress=False)
    attack.reconstruct(torch.zeros(3, 1, 8, 8))
    assert attack.steps_run == [8 * 25] * 3


def test_inverse_network_trains_on_full_batches_only(digits16):
    """19 images at batch 8: two full batches an epoch; the short third (3 images) would step from
    noisy BatchNorm statistics, so it is left out (the order is reshuffled every epoch)."""

    class Recording(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 16 * 16)
            self.sizes: list[int] = []

        def forward(self, z):
            if self.training and torch.is_grad_enabled():
                self.sizes.append(int(z.shape[0]))
            return torch.sigmoid(self.lin(z.flatten(1))).view(-1, 1, 16, 16)

    decoder = Recording()
    attack = InverseNetworkAttack(pool(8), image_shape=(1, 16, 16), epochs=3, val_fraction=0.0, batch_size=8,
                                  decoder=decoder, progress=False).fit(digits16[:19])
    assert decoder.sizes == [8] * 6 and len(attack.history) == 3
    # fewer images than a batch: the one short batch is all there is, and it trains
    decoder.sizes.clear()
    attack.fit(digits16[:5])
    assert decoder.sizes == [5] * 3
