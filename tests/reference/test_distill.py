"""Distillation in the harness: the undefended teacher is trained once per seed and reused."""

from __future__ import annotations

import copy
import json

import pytest
from conftest import LinearBackend
from sift_reference import runner
from sift_reference.executors import SequentialExecutor
from sift_reference.spec import SpecError, spec_from_dict
from sift_reference.sweep import plan, run_sweep, seed_dir

pytest.importorskip("sklearn")


class TeacherBackend(LinearBackend):
    """Records which teacher handle each training received."""

    def __init__(self):
        super().__init__()
        self.teachers: list = []

    def train(self, *, spec, defence, data, workdir, progress, teacher=None):
        self.teachers.append((defence.name, None if teacher is None else teacher["w"].shape))
        return super().train(spec=spec, defence=defence, data=data, workdir=workdir, progress=progress)


def _spec(tiny_spec_dict, defences):
    d = copy.deepcopy(tiny_spec_dict)
    d["defences"] = defences
    d["attacks"]["suite"] = ["inverse_network", "rmle"]
    return d


def _trained(out) -> list[str]:
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    return [e["defence"] for e in events if e["event"] == "train"]


def test_the_teacher_is_the_none_defence_trained_once(tmp_path, tiny_spec_dict):
    # the distilling defence comes first: it trains the teacher, which the plain `none` then loads
    d = _spec(tiny_spec_dict, [{"kind": "siftfunnel", "distill": 1.0}, {"kind": "none"}])
    backend = TeacherBackend()
    results, _ = runner.run_experiment(spec_from_dict(d), tmp_path / "run", backend=backend, progress=False, log=None)
    assert backend.teachers == [("none", None), ("siftfunnel", (24, 784))]
    assert _trained(tmp_path / "run") == ["none", "siftfunnel"]
    assert [r["defence"] for r in results["rows"]] == ["siftfunnel", "none"]
    # without distillation nothing extra trains and no teacher is passed
    plain = TeacherBackend()
    runner.run_experiment(spec_from_dict(_spec(tiny_spec_dict, [{"kind": "siftfunnel"}, {"kind": "none"}])),
                          tmp_path / "plain", backend=plain, progress=False, log=None)
    assert plain.teachers == [("siftfunnel", None), ("none", None)]


def test_a_sweep_trains_the_teacher_before_the_points(tmp_path, tiny_spec_dict):
    d = _spec(tiny_spec_dict, [{"kind": "none"}, {"kind": "siftfunnel"}])
    d["sweep"] = {"seeds": [0, 1], "drops": [1], "strengths": {"siftfunnel": {"distill": [0.5, 2.0]}}}
    spec = spec_from_dict(d)
    units, _ = plan(spec, tmp_path / "p", threads=1, backend=TeacherBackend())
    prepare = [u for u in units if u.after is None]
    assert [u.label for u in prepare] == ["seed 0: teacher", "seed 1: teacher"]
    assert all(u.after == f"{u.key.split('/')[0]}/_attacker" for u in units if u not in prepare)
    backend = TeacherBackend()
    run_sweep(spec, tmp_path / "sw", backend=backend, progress=False, log=None, executor=SequentialExecutor(threads=1))
    # per seed: the teacher (= the `none` point) once, then two distilling points that receive it
    assert sorted(backend.teachers, key=str) == sorted(
        [("none", None)] * 2 + [(f"siftfunnel-distill-{w}", (24, 784)) for w in ("0.5", "2")] * 2, key=str)
    for s in (0, 1):
        assert _trained(seed_dir(tmp_path / "sw", s)).count("none") == 1


@pytest.mark.parametrize(("value", "match"), [(-1.0, "distill"), ("a", "distill")])
def test_distill_is_validated_with_the_spec(tiny_spec_dict, value, match):
    with pytest.raises(SpecError, match=match):
        spec_from_dict(_spec(tiny_spec_dict, [{"kind": "siftfunnel", "distill": value}]))
    with pytest.raises(SpecError, match="temperature"):
        spec_from_dict(_spec(tiny_spec_dict, [{"kind": "siftfunnel", "distill": 1.0, "temperature": 0}]))


def test_the_torch_backend_distils_from_the_undefended_model(tmp_path, tiny_spec_dict):
    torch = pytest.importorskip("torch")
    import sift_torch
    from sift_reference.backends import get_backend

    torch.set_num_threads(1)
    d = _spec(tiny_spec_dict, [{"kind": "none"},
                               {"kind": "siftfunnel", "funnel_channels": 4, "distill": 2.0, "temperature": 3.0}])
    d["attacks"]["suite"] = ["rmle"]
    runner.run_experiment(spec_from_dict(d), tmp_path / "run", backend=get_backend("torch"), progress=False, log=None)
    (model_pt,) = (tmp_path / "run" / "cache" / "siftfunnel").glob("train-*/model.pt")
    history = sift_torch.load_checkpoint(model_pt)["history"]
    assert history[-1]["train_distill"] > 0  # the term was computed against the teacher's logits
    assert list((tmp_path / "run" / "cache" / "none").glob("train-*/model.pt"))  # the teacher, kept for reuse


def test_the_keras_backend_distils_from_the_undefended_model(tmp_path, tiny_spec_dict):
    pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the harness's Keras backend runs on TensorFlow")
    from sift_reference.backends import get_backend

    d = _spec(tiny_spec_dict, [{"kind": "none"},
                               {"kind": "siftfunnel", "funnel_channels": 4, "distill": 2.0, "temperature": 3.0}])
    d["attacks"]["suite"] = ["inverse_network"]
    d["attacks"]["inverse_network"].update(epochs=1, width=8)
    spec = spec_from_dict(d)
    backend = get_backend("keras")
    backend.check(spec)  # no refusal: the Keras backend distils too
    runner.run_experiment(spec, tmp_path / "run", backend=backend, progress=False, log=None)
    assert _trained(tmp_path / "run") == ["none", "siftfunnel"]  # the teacher trained once, first
    (path,) = (tmp_path / "run" / "cache" / "siftfunnel").glob("train-*/model.keras")
    model = keras.saving.load_model(path)
    assert model.defence.loss.distill == 2.0 and model.defence.loss.temperature == 3.0
    assert model.defence.teacher is None  # the teacher is not saved with the student
    with pytest.raises(ValueError, match="needs the trained undefended model"):
        backend.train(spec=spec, defence=spec.defences[1], data=None, workdir=tmp_path / "x", progress=False)
