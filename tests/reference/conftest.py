"""A small numpy backend for testing the runner's bookkeeping without a framework.

The "edge" is a seeded linear projection of the flattened image (plus the defence's
noise), the "cloud" a nearest-centroid classifier, the inverse network a
least-squares linear decoder, rMLE the minimum-norm solution of w x = z, the hybrid the
solution of w x = z nearest to its start, and the generative prior the attacker's image
whose features are nearest: real, deterministic computations, cheap enough to run in
milliseconds. Calls are counted per attack.
"""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

TINY_SPEC = {
    "experiment": {"name": "tiny", "seed": 0},
    "dataset": {"name": "digits", "image_size": 28, "n_target_train": 160, "n_target_test": 60,
                "n_attacker_aux": 80, "n_private_eval": 24},
    "model": {"architecture": "cnn", "width": 8},
    "training": {"epochs": 1, "batch_size": 32, "lr": 0.002},
    "defences": [{"kind": "none"}, {"kind": "siftfunnel", "funnel_channels": 4}, {"kind": "noise", "sigma": 0.5}],
    "attacks": {"inverse_network": {"epochs": 1, "batch_size": 32},
                "rmle": {"steps": 3, "n_images": 4}, "hybrid": {"steps": 3, "n_images": 4},
                "generative": {"steps": 3, "n_images": 4}},
    "criterion": {"max_samples": 40},
}


@pytest.fixture
def tiny_spec_dict():
    return copy.deepcopy(TINY_SPEC)


class LinearBackend:
    name = "linear-test"
    version = "1"

    def __init__(self):
        self.calls: Counter = Counter()

    @staticmethod
    def _dim(defence) -> int:
        return 8 if defence.kind == "siftfunnel" else 24

    def train(self, *, spec, defence, data, workdir: Path, progress: bool):
        self.calls["train"] += 1
        rng = np.random.default_rng(spec.seed)
        d = data.target_train.x[0].size
        w = rng.standard_normal((self._dim(defence), d)).astype(np.float32) / np.sqrt(d)
        handle = {"w": w, "sigma": defence.params.get("sigma", 0.0)}
        z = self.features(handle, data.target_train.x)
        handle["centroids"] = np.stack([z[data.target_train.y == k].mean(0) for k in range(data.num_classes)])
        workdir.mkdir(parents=True, exist_ok=True)
        np.savez(workdir / "model.npz", **handle)
        return handle

    def load(self, *, spec, defence, data, workdir: Path):
        self.calls["load"] += 1
        if not (workdir / "model.npz").is_file():
            return None
        with np.load(workdir / "model.npz") as f:
            return {k: f[k] for k in f.files}

    def accuracy(self, handle, x, y):
        self.calls["accuracy"] += 1
        z = self.features(handle, x)
        dist = ((z[:, None] - handle["centroids"][None]) ** 2).sum(-1)
        return float((dist.argmin(1) == y).mean())

    def profile(self, handle):
        return {"edge_params": int(handle["w"].size), "edge_flops": int(2 * handle["w"].size),
                "feature_size": int(handle["w"].shape[0])}

    def features(self, handle, x):
        z = x.reshape(len(x), -1) @ handle["w"].T
        if float(handle["sigma"]) > 0:
            z = z + float(handle["sigma"]) * np.random.default_rng(1).standard_normal(z.shape).astype(np.float32)
        return z

    def attack(self, name, handle, *, aux_x, private_x, cfg, seed, progress, init=None, cache_dir=None):
        self.calls[name] += 1
        w = handle["w"]
        zp = self.features(handle, private_x)
        if name == "inverse_network":
            za = self.features(handle, aux_x)
            a = np.c_[za, np.ones(len(za))]
            dec = np.linalg.solve(a.T @ a + 1e-6 * np.eye(a.shape[1]), a.T @ aux_x.reshape(len(aux_x), -1))
            out = np.c_[zp, np.ones(len(zp))] @ dec
        elif name == "rmle":
            out = np.linalg.solve(w @ w.T, zp.T).T @ w  # the minimum-norm x with w x = z
        elif name == "hybrid":
            x0 = np.asarray(init).reshape(len(init), -1)
            out = x0 + np.linalg.solve(w @ w.T, (zp - x0 @ w.T).T).T @ w  # nearest to x0 with w x = z
        elif name == "generative":
            za = self.features(handle, aux_x)
            nearest = ((zp[:, None] - za[None]) ** 2).sum(-1).argmin(1)
            out = aux_x.reshape(len(aux_x), -1)[nearest]
        else:
            raise ValueError(name)
        return np.clip(out, 0, 1).reshape(private_x.shape).astype(np.float32)


@pytest.fixture
def linear_backend():
    return LinearBackend()


ATTACKS = {"inverse_network", "rmle", "hybrid", "generative"}


def assert_results_schema(doc: dict, defences: list[str]) -> None:
    """results.json has the documented schema, with finite numbers of the right types."""
    assert set(doc) == {"schema_version", "versions", "spec", "dataset", "backend", "rows"}
    assert doc["schema_version"] == 2 and doc["versions"]["numpy"] == np.__version__
    assert isinstance(doc["dataset"], str) and isinstance(doc["backend"], str) and isinstance(doc["spec"], dict)
    assert [r["defence"] for r in doc["rows"]] == defences
    for r in doc["rows"]:
        assert set(r) == {"defence", "accuracy", "accuracy_drop", "edge_params", "edge_flops", "feature_size",
                          "privacy", "attacks", "criterion"}
        assert 0.0 <= r["accuracy"] <= 1.0
        assert isinstance(r["accuracy_drop"], float)
        for k in ("edge_params", "edge_flops", "feature_size"):
            assert isinstance(r[k], int) and r[k] > 0, k
        assert set(r["attacks"]) == ATTACKS
        for m in r["attacks"].values():
            assert set(m) - {"convergence"} == {"mse", "psnr", "ssim", "feature_error", "n_images"}
            assert all(isinstance(m[k], float) and np.isfinite(m[k]) for k in ("mse", "psnr", "ssim"))
            assert 0.0 <= m["mse"] <= 1.0 and -1.0 <= m["ssim"] <= 1.0
        # the privacy figure is the worst case over the suite, computed here independently
        p = r["privacy"]
        assert p["ssim"] == max(m["ssim"] for m in r["attacks"].values())
        assert p["mse"] == min(m["mse"] for m in r["attacks"].values())
        assert r["attacks"][p["ssim_attack"]]["ssim"] == p["ssim"]
        assert isinstance(r["criterion"], dict) and "difficulty_score" in r["criterion"]
    none = next(r for r in doc["rows"] if r["defence"] == "none")
    assert none["accuracy_drop"] == 0.0
