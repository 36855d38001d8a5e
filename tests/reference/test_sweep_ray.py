"""The sweep on a local Ray (the ``ray`` tox env): the same rows as the sequential executor, resume across
executors, and a worker killed mid-unit retried without losing or repeating a finished unit."""

from __future__ import annotations

import copy
import json
import os
import signal
import sys
from collections import Counter

import pytest
from conftest import TINY_SPEC, LinearBackend
from sift_reference import runner
from sift_reference.executors import RayExecutor, SequentialExecutor
from sift_reference.spec import spec_from_dict
from sift_reference.sweep import run_sweep, seed_dir

ray = pytest.importorskip("ray")
pytest.importorskip("sklearn")

pytestmark = pytest.mark.slow


def _done_units(out, seeds) -> Counter:
    return Counter((s, e["defence"], e["unit"]) for s in seeds for e in runner.read_events(seed_dir(out, s))
                   if e["event"] == "done")


def _trained(out, seeds) -> int:
    return sum(e["event"] == "train" for s in seeds for e in runner.read_events(seed_dir(out, s)))


def test_local_ray_gives_the_rows_of_the_sequential_sweep_and_resumes_like_it(tmp_path):
    pytest.importorskip("torch")
    d = {
        "experiment": {"name": "tiny-torch", "seed": 0, "backend": "torch"},
        "dataset": {"name": "digits", "image_size": 28, "n_target_train": 240, "n_target_test": 80,
                    "n_attacker_aux": 64, "n_private_eval": 8},
        "model": {"architecture": "cnn", "width": 8},
        "training": {"epochs": 1, "batch_size": 32},
        "defences": [{"kind": "none"}, {"kind": "noise"}, {"kind": "dropout"}],
        "attacks": {"budget": "quick", "rmle": {"n_images": 4}, "hybrid": {"n_images": 4},
                    "generative": {"n_images": 4}},
        "criterion": {"max_samples": 40},
        "sweep": {"seeds": [0], "strengths": {"noise": {"sigma": [0.5, 2.0]}, "dropout": {"rate": [0.3, 0.7]}}},
    }
    spec = spec_from_dict(d)
    seq = run_sweep(spec, tmp_path / "seq", executor=SequentialExecutor(threads=1), progress=False, log=None)
    par = run_sweep(spec, tmp_path / "ray", executor=RayExecutor(workers=2, threads=1), progress=False, log=None)
    key = lambda p: (p["point"], p["seed"])  # noqa: E731
    assert sorted((key(p), p["accuracy"], p["privacy"]) for p in par["points"]) == \
        sorted((key(p), p["accuracy"], p["privacy"]) for p in seq["points"])
    assert len(par["points"]) == 5
    units = json.loads((tmp_path / "ray" / "units.json").read_text())
    assert units["executor"] == "ray" and len({u["pid"] for u in units["units"]}) >= 2  # two workers did the work
    # the generator was trained once, before the points that attack with it
    assert len(list((seed_dir(tmp_path / "ray", 0) / "cache" / "_attacker").glob("generator-*.pt"))) == 1
    # a sweep started on Ray continues on the sequential executor (and back) from the same cache
    trained = _trained(tmp_path / "ray", [0])
    again = run_sweep(spec, tmp_path / "ray", resume=True, executor=SequentialExecutor(threads=1), progress=False,
                      log=None)
    assert _trained(tmp_path / "ray", [0]) == trained and again["points"] == par["points"]


class _KillOnce(LinearBackend):
    """Dies (SIGKILL, as the OOM killer would) in the middle of one unit, the first time only."""

    def __init__(self, flag: str):
        super().__init__()
        self.flag = flag

    def attack(self, name, handle, **kw):
        if name == "rmle" and handle["sigma"] == 2.0 and kw["seed"] == 0 and not os.path.exists(self.flag):
            open(self.flag, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)
        return super().attack(name, handle, **kw)


def test_a_worker_killed_mid_unit_is_retried_and_no_finished_unit_is_lost(tmp_path):
    import ray.cloudpickle as cp

    # the test's classes travel to the workers by value (the workers cannot import the tests)
    cp.register_pickle_by_value(sys.modules[__name__])
    cp.register_pickle_by_value(sys.modules[LinearBackend.__module__])
    d = copy.deepcopy(TINY_SPEC)
    d["sweep"] = {"seeds": [0, 1], "strengths": {"noise": {"sigma": [0.5, 2.0]},
                                                 "siftfunnel": {"lambda_1": [0.01, 0.1]}}}
    flag = tmp_path / "killed"
    doc = run_sweep(spec_from_dict(d), tmp_path / "sw", backend=_KillOnce(str(flag)),
                    executor=RayExecutor(workers=2, threads=1), progress=False, log=None)
    assert flag.exists()  # the worker was killed once
    assert len(doc["points"]) == 10
    done = _done_units(tmp_path / "sw", [0, 1])
    # every unit of every point finished exactly once: the killed unit's model, criterion and inverse
    # network were saved before the kill and reused by the retry, which redid only the rest
    assert set(done.values()) == {1} and len(done) == 10 * 6, {k: v for k, v in done.items() if v != 1}
    plain, _ = runner.run_experiment(spec_from_dict({k: v for k, v in d.items() if k != "sweep"}),
                                     tmp_path / "plain", backend=LinearBackend(), progress=False, log=None)
    noise = next(p for p in doc["points"] if p["point"] == "noise-sigma-0.5" and p["seed"] == 0)
    row = next(r for r in plain["rows"] if r["defence"] == "noise")  # sigma 0.5 too: the same model
    assert noise["accuracy"] == row["accuracy"] and noise["privacy"] == row["privacy"]
