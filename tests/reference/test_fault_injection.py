"""Fault injection: ``siftfunnel run`` and ``siftfunnel sweep`` SIGKILLed at many points, then resumed.

Each test is a chain: the command runs in a subprocess (``fault_driver.py``) that kills itself with
SIGKILL at one point, the same command with ``--resume`` is started again and killed at the next
point, and so on; a last ``--resume`` runs to the end. Its results must equal, to the last bit,
those of an uninterrupted run of the plain command in another directory, and no finished unit may
be computed twice. Between some kills a checkpoint is damaged (truncated, zero length) as a crash
on a file system without atomic renames would leave it: the next process must say so and fall
back to the previous good checkpoint. Real training and attacks (tiny sizes, one thread) on
scikit-learn's digits; docs/faults.md lists the kill points and the measured duration.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from sift_reference import runner
from sift_reference.executors import thread_env

pytestmark = pytest.mark.slow
pytest.importorskip("sklearn")

DRIVER = Path(__file__).with_name("fault_driver.py")
TIMEOUT = 600

#: none and the noise defence (random noise on z in training and at inference), 2 epochs of 3 steps,
#: every attack with a few optimiser steps
SPEC = """
[experiment]
name = "faults"
seed = 0

[dataset]
name = "digits"
image_size = 28
n_target_train = 96
n_target_test = 40
n_attacker_aux = 24
n_private_eval = 4

[model]
architecture = "cnn"
width = 8

[training]
epochs = 2
batch_size = 32

[[defences]]
kind = "none"

[[defences]]
kind = "noise"
sigma = 0.5

[attacks]
budget = "quick"
{suite}
[attacks.inverse_network]
epochs = 2
batch_size = 8
width = 8

[attacks.rmle]
steps = 6
n_images = 2

[attacks.hybrid]
steps = 6
n_images = 2

[attacks.generative]
gan_epochs = 1
gan_width = 8
restarts = 1
steps = 4
pixel_steps = 2
n_images = 2

[criterion]
max_samples = 20
{sweep}"""

SWEEP = """
[sweep]
seeds = [0]
drops = [1, 3]

[sweep.strengths.noise]
sigma = [0.5, 2.0]
"""


@dataclass
class Kill:
    point: str  #: fault_driver.py's KILL
    check: Callable[[dict], bool] | None = None  #: on the driver's record of the kill
    stderr: str | None = None  #: expected on this process's stderr (a warning about an earlier damage)
    damage: Callable[[Path], None] | None = None  #: applied to --out after the kill


def _env() -> dict:
    return {**os.environ, **thread_env(1), "TF_CPP_MIN_LOG_LEVEL": "2"}


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *argv], cwd=cwd, env=_env(), capture_output=True, text=True,
                          timeout=TIMEOUT)


def _write_spec(folder: Path, *, sweep: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ("sweep.toml" if sweep else "spec.toml")
    suite = 'suite = ["inverse_network", "rmle"]\n' if sweep else ""
    path.write_text(SPEC.format(suite=suite, sweep=SWEEP if sweep else ""))
    return path


def _command(kind: str, spec: Path, out: Path, backend: str) -> list[str]:
    argv = [kind, str(spec), "--out", str(out), "--backend", backend, "--no-progress"]
    return argv + (["--executor", "sequential", "--threads", "1"] if kind == "sweep" else [])


def _uninterrupted(tmp: Path, kind: str, backend: str) -> Path:
    """The plain command (no driver, no patches), run to the end."""
    out = tmp / "uninterrupted"
    proc = _run(["-m", "sift_reference.cli", *_command(kind, _write_spec(tmp, sweep=kind == "sweep"), out, backend)],
                tmp)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out


def _chain(tmp: Path, kind: str, backend: str, kills: list[Kill]) -> Path:
    """Run the command killed at each point in turn (each process resuming the last), then to the end."""
    spec, out, record = _write_spec(tmp, sweep=kind == "sweep"), tmp / "killed", tmp / "kills.jsonl"
    command = _command(kind, spec, out, backend)
    for i, kill in enumerate(kills):
        proc = _run([str(DRIVER), kill.point, str(record), *command, *(["--resume"] if i else [])], tmp)
        assert proc.returncode == -signal.SIGKILL, f"{kill.point}: not killed (exit {proc.returncode}): " \
                                                   f"{proc.stderr[-4000:]}"
        info = json.loads(record.read_text().splitlines()[-1])
        assert info["kill"] == kill.point, info
        assert kill.check is None or kill.check(info), info
        assert kill.stderr is None or kill.stderr in proc.stderr, f"{kill.point}: {proc.stderr[-4000:]}"
        if kill.damage is not None:
            kill.damage(out)
    proc = _run([str(DRIVER), "-", str(record), *command, "--resume"], tmp)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out


def _results(out: Path) -> tuple[dict, dict]:
    return (json.loads((out / "results.json").read_text()), json.loads((out / "rank_correlation.json").read_text()))


def _assert_same_results(resumed: Path, reference: Path) -> None:
    got, want = _results(resumed), _results(reference)
    assert [r["defence"] for r in got[0]["rows"]] == [r["defence"] for r in want[0]["rows"]]
    for a, b in zip(got[0]["rows"], want[0]["rows"]):
        assert a == b, f"{a['defence']}: {_diff(a, b)}"
    assert got == want  # every field: spec, dataset, backend, versions, rows; and the rank correlations


def _diff(a, b, path="") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b)) for d in _diff(a.get(k), b.get(k), f"{path}.{k}")]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def _assert_each_unit_done_once(run_dir: Path) -> None:
    """No unit was computed twice over the chain: a unit saved before a kill is reused, never redone."""
    done = Counter((e["defence"], e["unit"]) for e in runner.read_events(run_dir) if e["event"] == "done")
    assert done and set(done.values()) == {1}, done


def _checkpoints(out: Path, defence: str) -> Path:
    (folder,) = (out / "cache" / defence).glob("train-*")
    return folder


def _damage(defence: str, name: str, how: str) -> Callable[[Path], None]:
    def damage(out: Path) -> None:
        folder = _checkpoints(out, defence)
        path = folder / name if name == "model.pt" else folder / "checkpoints" / name
        raw = path.read_bytes()
        path.write_bytes(raw[: len(raw) // 2] if how == "truncated" else b"")

    return damage


def _mid_epoch(info: dict) -> bool:
    return info["last_step_in_epoch"] > 0 and info["global_step"] > info["last_global_step"]


# ---------------------------------------------------------------------------------------------- torch


@pytest.fixture(scope="module")
def torch_reference(tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    return _uninterrupted(tmp_path_factory.mktemp("torch-reference"), "run", "torch")


UNREADABLE = "checkpoint unreadable, resuming from"

#: training of both defences: checkpoints written every 2 optimiser steps (3 a epoch, 2 epochs)
TORCH_TRAINING = [
    # the first checkpoint's temporary file is on disk, not yet renamed: there is no checkpoint
    Kill("replace-before:none:last.pt:1", lambda i: i["listing"] == [i["source"]]),
    # epoch 1, after step 3, the step-2 checkpoint on disk
    Kill("train-step:none:3", _mid_epoch),
    # the end-of-epoch-1 checkpoint cut short while being written to its temporary file
    Kill("write-partial:none:last.pt:1", lambda i: 0 < i["written"] < i["of"]),
    # the end-of-epoch-1 checkpoint written and synced, nothing renamed yet
    Kill("replace-before:none:prev.pt:1", lambda i: i["source"] == "last.pt"),
    # between the two renames: last.pt moved to prev.pt, the new one not yet in place
    Kill("replace-after:none:prev.pt:1", lambda i: "last.pt" not in i["listing"]),
    # epoch 2 mid-way (after the fall back to prev.pt, warned); then the newest checkpoint is cut in half
    Kill("train-step:none:5", _mid_epoch, stderr="last.pt (missing)", damage=_damage("none", "last.pt", "truncated")),
    # training finished from prev.pt (warned), model.pt written, not renamed
    Kill("replace-before:none:model.pt:1", stderr=UNREADABLE),
    # the noise defence (random noise on z) mid epoch 2; then its newest checkpoint has zero length
    Kill("train-step:noise:5", _mid_epoch, damage=_damage("noise", "last.pt", "empty")),
    # its training finished from prev.pt (warned); its model unit saved
    Kill("unit-saved:noise:model", stderr=UNREADABLE),
]


def _has_generator(info: dict) -> bool:
    return any(n.startswith("generator-") for n in info["attacker_cache"])


#: units and attacks: between units, while writing a unit or reconstructions, at the start and in the
#: middle of every attack
TORCH_ATTACKS = [
    # the model unit saved; then model.pt cut in half: the next process warns and restores it from last.pt
    Kill("unit-saved:none:model", damage=_damage("none", "model.pt", "truncated")),
    Kill("replace-before:none:criterion.json:1", stderr="retraining"),
    Kill("unit-saved:none:criterion"),
    Kill("attack-start:none:inverse_network"),
    Kill("attack-step:none:inverse_network:4"),
    Kill("replace-before:none:inverse_network_recon.npy:1"),
    Kill("replace-before:none:inverse_network.json:1"),  # reconstructions saved, the unit not yet
    Kill("attack-start:none:rmle"),
    Kill("attack-step:none:rmle:3"),
    Kill("attack-start:none:hybrid"),
    Kill("attack-step:none:hybrid:3"),
    Kill("attack-start:none:generative"),
    Kill("attack-step:none:generative:1", lambda i: not _has_generator(i)),  # training the attacker's GAN
    Kill("attack-step:none:generative:4", _has_generator),  # the latent search, the generator saved
    Kill("unit-saved:none:generative"),  # between two defences
    Kill("attack-step:noise:rmle:3"),
    Kill("attack-step:noise:generative:2", _has_generator),
]


@pytest.mark.parametrize("kills", [TORCH_TRAINING, TORCH_ATTACKS], ids=["training", "attacks"])
def test_torch_run_killed_and_resumed_equals_an_uninterrupted_run(tmp_path, torch_reference, kills):
    out = _chain(tmp_path, "run", "torch", kills)
    _assert_same_results(out, torch_reference)
    _assert_each_unit_done_once(out)


# ---------------------------------------------------------------------------------------------- keras

KERAS = [
    Kill("epoch-end:none:1", lambda i: i["listing"] == ["checkpoint-e0001.keras"]),
    # the epoch-2 checkpoint written to its temporary file, not renamed
    Kill("replace-before:none:checkpoint-e0002.keras:1", lambda i: i["source"].endswith(".tmp.keras")),
    Kill("attack-step:none:rmle:3"),
    Kill("epoch-end:noise:1"),  # the noise layer's random state is restored with the model
    # a stochastic model loaded by a resumed run must transmit what the one still in memory would have
    Kill("attack-start:noise:hybrid"),
]


def test_keras_queries_of_a_stochastic_model_do_not_depend_on_earlier_ones(tmp_path):
    """The noise layer draws from its own seed generator, whose count every call advances: the backend
    restarts the count for each query, so a resumed run's model (loaded from disk) and an uninterrupted
    run's (in memory, queried before) transmit the same features."""
    pytest.importorskip("tensorflow")
    pytest.importorskip("keras")
    import numpy as np
    import tomllib
    from sift_reference.backends import keras_backend
    from sift_reference.spec import spec_from_dict

    d = tomllib.loads(SPEC.format(suite="", sweep=""))
    d["experiment"]["backend"] = "keras"
    spec = spec_from_dict(d)
    data, _ = runner.load_spec_data(spec)
    c, h, w = data.image_shape
    backend = keras_backend.make_backend()
    handle = keras_backend.KerasModel(backend._build(spec, spec.defences[1], data, (h, w, c)), (h, w, c))
    x = data.private_eval.x
    z = backend.features(handle, x)
    handle.model.transmit(keras_backend._nhwc(x), training=False)  # a query outside the backend
    assert np.array_equal(backend.features(handle, x), z)
    assert backend.accuracy(handle, x, data.private_eval.y) == backend.accuracy(handle, x, data.private_eval.y)
    assert not np.allclose(z, keras_backend.observe(handle.model.edge, keras_backend._nhwc(x)))  # noise is on


def test_keras_run_killed_and_resumed_equals_an_uninterrupted_run(tmp_path):
    pytest.importorskip("keras")
    pytest.importorskip("tensorflow")
    reference = _uninterrupted(tmp_path / "reference", "run", "keras")
    out = _chain(tmp_path / "chain", "run", "keras", KERAS)
    _assert_same_results(out, reference)
    _assert_each_unit_done_once(out)


# ---------------------------------------------------------------------------------------------- sweep

SWEEP_KILLS = [
    Kill("train-step:noise-sigma-0.5:5", _mid_epoch),  # training a point, mid epoch 2
    Kill("unit-saved:noise-sigma-0.5:model"),  # inside a point's unit, between its model and its criterion
    Kill("unit-saved:noise-sigma-0.5:rmle"),  # between two sweep units: the point done, the next not started
    Kill("attack-step:noise-sigma-2:rmle:3"),
]

#: frontier.json fields that differ between invocations by their nature: times and the executor's wall clock
RUN_SPECIFIC = ("wall_s_this_invocation", "units", "predicted_wall_s", "seconds")


def _strip(obj):
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k not in RUN_SPECIFIC}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def test_sweep_killed_and_resumed_equals_an_uninterrupted_sweep(tmp_path):
    pytest.importorskip("torch")
    reference = _uninterrupted(tmp_path / "reference", "sweep", "torch")
    out = _chain(tmp_path / "chain", "sweep", "torch", SWEEP_KILLS)
    got, want = (json.loads((d / "frontier.json").read_text()) for d in (out, reference))
    assert len(got["points"]) == 3
    assert _strip(got["points"]) == _strip(want["points"])
    assert _strip(got) == _strip(want)
    _assert_each_unit_done_once(out / "seed-0")
