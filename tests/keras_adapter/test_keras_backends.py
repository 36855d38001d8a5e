"""SplitModel trains on every Keras backend: TensorFlow, JAX and torch (backend_check.py on each one).

Each backend's logged step terms must equal ``sift_core`` (float64 numpy) on the same batch, and one
SGD step of a funnel model from the same weights must move every weight as TensorFlow's step does.
The test's own backend runs in this process, the others in a subprocess each (Keras fixes its
backend at import); a backend whose framework is not installed is skipped.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import sift_keras as sk  # noqa: E402

SCRIPT = os.path.join(os.path.dirname(__file__), "backend_check.py")
BACKENDS = ("tensorflow", "jax", "torch")
_MEASURED: dict = {}


def measured(backend: str) -> dict:
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    if backend not in _MEASURED:
        if backend == keras.backend.backend():
            import backend_check

            _MEASURED[backend] = backend_check.measure()
        else:
            env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
            proc = subprocess.run([sys.executable, SCRIPT], capture_output=True, text=True, env=env, timeout=600)
            assert proc.returncode == 0, proc.stderr[-3000:]
            _MEASURED[backend] = json.loads(proc.stdout.strip().splitlines()[-1])
        assert _MEASURED[backend]["backend"] == backend
    return _MEASURED[backend]


@pytest.mark.parametrize("backend", BACKENDS)
def test_logged_step_terms_are_the_core_terms(backend):
    m = measured(backend)
    for term in ("task", "dcor", "l1", "redundancy"):
        assert m["step"][term] == pytest.approx(m["core"][term], rel=1e-4, abs=1e-6), term
    assert m["step"]["loss"] == pytest.approx(m["core"]["total"], rel=1e-4)


@pytest.mark.parametrize("backend", ("jax", "torch"))
def test_one_funnel_step_equals_the_tensorflow_step(backend):
    m, ref = measured(backend), measured("tensorflow")
    for term in ("loss", "task", "dcor", "l1", "redundancy"):
        assert m["funnel"][term] == pytest.approx(ref["funnel"][term], rel=1e-4), term
    scale = max(float(np.abs(np.asarray(u)).max()) for u in ref["update"])
    assert scale > 1e-3  # the step moved the weights
    assert len(m["update"]) == len(ref["update"])
    for got, want in zip(m["update"], ref["update"]):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-3, atol=1e-4 * scale)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_funnel_learns(backend):
    m = measured(backend)
    losses = [m["funnel"]["loss"], *m["losses"]]
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < 0.9 * losses[0]
    assert m["funnel"]["dead_batches"] == 0 and m["funnel"]["z_active"] > 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_transmitting_defence_trains(backend):
    d = measured(backend)["defences"]
    for name, logs in d.items():
        assert set(logs) == {"loss", *sk.trainer.TERMS[name], "accuracy", "z_active", "dead_batches"}, name
        assert all(math.isfinite(v) for v in logs.values()), name
    for name in ("noise", "dropout"):
        assert d[name]["loss"] == pytest.approx(d[name]["task"], rel=1e-6)
    assert d["mid"]["kl"] > 0
    assert d["mid"]["loss"] == pytest.approx(d["mid"]["task"] + 0.01 * d["mid"]["kl"], rel=1e-5)
    bido = d["bido"]
    assert bido["loss"] == pytest.approx(bido["task"] + 0.05 * bido["hsic_xz"] - 0.5 * bido["hsic_zy"], rel=1e-5)
