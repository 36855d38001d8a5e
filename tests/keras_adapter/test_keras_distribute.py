"""SplitModel under tf.distribute.MirroredStrategy with two logical CPU devices (in a subprocess)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("keras")

SCRIPT = os.path.join(os.path.dirname(__file__), "distribute_check.py")


@pytest.fixture(scope="module")
def measured():
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, SCRIPT], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_two_replicas_are_used(measured):
    assert measured["replicas"] == 2


def test_replica_penalties_are_the_mean_of_per_replica_objectives(measured):
    r = measured["replica"]
    # each replica scores its half of the batch of 64: the mean of two single-device batches of 32
    assert r["dist_loss"] == pytest.approx(r["single_b32_loss"], rel=1e-5)
    assert abs(r["single_b32_loss"] - r["single_b64_loss"]) > 1e-3  # the two objectives do differ
    assert r["step_vs_replica"] < 1e-5 < r["step_vs_global"]


def test_global_penalties_use_the_gathered_batch(measured):
    g = measured["global"]
    assert g["dist_loss"] == pytest.approx(g["single_b64_loss"], rel=1e-5)
    # gradients flow back through the all-gather: one step equals one single-device step on all 64
    assert g["step_vs_global"] < 1e-5 < g["step_vs_replica"]
    assert g["moved"] > 1e-4


def test_training_on_two_replicas_lowers_the_loss(measured):
    losses = measured["losses"]
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0]
