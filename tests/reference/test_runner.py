"""The runner's bookkeeping: report schema, --resume skips finished work, interruptions lose nothing."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import assert_results_schema
from sift_reference import runner
from sift_reference.spec import spec_from_dict

pytest.importorskip("sklearn")


def _run(spec_dict, out, backend, *, resume=False):
    return runner.run_experiment(spec_from_dict(spec_dict), out, resume=resume, backend=backend,
                                 progress=False, log=None)


def test_report_files_and_schema(tmp_path, tiny_spec_dict, linear_backend):
    results, corr = _run(tiny_spec_dict, tmp_path, linear_backend)
    assert_results_schema(results, ["none", "siftfunnel", "noise"])
    assert json.loads((tmp_path / "results.json").read_text()) == results
    for f in ("report.md", "privacy_utility.png", "reconstructions.png", "rank_correlation.json", "spec.json"):
        assert (tmp_path / f).is_file(), f
    assert set(corr) == {"worst_case", "inverse_network", "rmle", "hybrid", "generative"}
    assert corr["rmle"]["n"] == corr["worst_case"]["n"] == 3
    assert linear_backend.calls["train"] == 3
    rows = {r["defence"]: r for r in results["rows"]}
    # the 8-dimensional projection is harder to invert than the 24-dimensional one
    assert rows["siftfunnel"]["attacks"]["inverse_network"]["mse"] > rows["none"]["attacks"]["inverse_network"]["mse"]
    assert rows["siftfunnel"]["feature_size"] == 8
    for name in rows:  # every attack's unit also says how well its reconstructions reproduce the features
        for attack in ("inverse_network", "rmle", "hybrid", "generative"):
            unit = json.loads((tmp_path / "cache" / name / f"{attack}.json").read_text())["result"]
            assert np.isfinite(unit["feature_error"]) and unit["feature_error"] >= 0.0
        # rMLE and the hybrid solve w x = z exactly (before clipping to [0, 1]); the hybrid from the
        # inverse network's start lands nearer the private image than rMLE's minimum-norm solution
        hy, rm = rows[name]["attacks"]["hybrid"], rows[name]["attacks"]["rmle"]
        assert hy["mse"] < rm["mse"]
    assert "worst case over the attack suite" in (tmp_path / "report.md").read_text()


def test_resume_skips_finished_work(tmp_path, tiny_spec_dict, linear_backend):
    first, _ = _run(tiny_spec_dict, tmp_path, linear_backend)
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "cache").rglob("*.json")}
    again = type(linear_backend)()
    second, _ = _run(tiny_spec_dict, tmp_path, again, resume=True)
    assert again.calls["train"] == 0 and again.calls["load"] == 0
    assert sum(again.calls[a] for a in ("inverse_network", "rmle", "hybrid", "generative")) == 0
    assert second["rows"] == first["rows"]
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "cache").rglob("*.json")} == before
    events = runner.read_events(tmp_path)
    assert sum(e["event"] == "train" for e in events) == 3 and sum(e["event"] == "cached" for e in events) == 18


def test_changed_attack_settings_recompute_only_that_attack(tmp_path, tiny_spec_dict, linear_backend):
    _run(tiny_spec_dict, tmp_path, linear_backend)
    tiny_spec_dict["attacks"]["rmle"]["steps"] = 4
    again = type(linear_backend)()
    _run(tiny_spec_dict, tmp_path, again, resume=True)
    assert again.calls["train"] == 0 and again.calls["load"] == 3  # models loaded from disk, not retrained
    assert again.calls["rmle"] == 3 and again.calls["inverse_network"] == again.calls["hybrid"] == 0


def test_changed_criterion_code_recomputes_only_the_assessments(tmp_path, tiny_spec_dict, linear_backend,
                                                                  monkeypatch):
    first, _ = _run(tiny_spec_dict, tmp_path, linear_backend)
    crit = {p: p.stat().st_mtime_ns for p in (tmp_path / "cache").rglob("criterion.json")}
    assert len(crit) == 3
    monkeypatch.setattr(runner, "core_digest", lambda: "another-version")  # as after a fix to the probe
    again = type(linear_backend)()
    second, _ = _run(tiny_spec_dict, tmp_path, again, resume=True)
    assert again.calls["train"] == 0 and again.calls["load"] == 3
    assert sum(again.calls[a] for a in ("inverse_network", "rmle", "hybrid", "generative")) == 0
    assert all(p.stat().st_mtime_ns != t for p, t in crit.items())
    assert [r["criterion"] for r in second["rows"]] == [r["criterion"] for r in first["rows"]]  # same code here


def test_changed_inverse_network_settings_recompute_the_hybrid_too(tmp_path, tiny_spec_dict, linear_backend):
    _run(tiny_spec_dict, tmp_path, linear_backend)
    tiny_spec_dict["attacks"]["inverse_network"]["epochs"] = 2
    again = type(linear_backend)()
    _run(tiny_spec_dict, tmp_path, again, resume=True)
    assert again.calls["inverse_network"] == again.calls["hybrid"] == 3
    assert again.calls["rmle"] == again.calls["generative"] == 0


def test_a_diverged_attack_is_recorded_and_the_run_goes_on(tmp_path, tiny_spec_dict, linear_backend):
    class Diverging(type(linear_backend)):
        def attack(self, name, handle, **kw):
            if name == "rmle" and self.calls["rmle"] == 1:  # the second defence's rMLE diverges
                self.calls["rmle"] += 1
                raise FloatingPointError("rMLE: the objective is not finite for any image")
            return super().attack(name, handle, **kw)

    results, _ = _run(tiny_spec_dict, tmp_path, Diverging())
    rows = {r["defence"]: r for r in results["rows"]}
    failed = rows["siftfunnel"]["attacks"]["rmle"]
    assert failed["failed"] is True and "not finite" in failed["reason"]
    others = [m for a, m in rows["siftfunnel"]["attacks"].items() if a != "rmle"]
    assert rows["siftfunnel"]["privacy"]["n_attacks"] == 3
    assert rows["siftfunnel"]["privacy"]["ssim"] == max(m["ssim"] for m in others)
    assert "Failed attacks" in (tmp_path / "report.md").read_text()
    # a resumed run keeps the recorded failure rather than hiding it
    again = type(linear_backend)()
    _run(tiny_spec_dict, tmp_path, again, resume=True)
    assert again.calls["rmle"] == 0


def test_a_damaged_reconstruction_file_reruns_its_attack(tmp_path, tiny_spec_dict, linear_backend):
    _run(tiny_spec_dict, tmp_path, linear_backend)
    (tmp_path / "cache" / "none" / "generative_recon.npy").write_bytes(b"\x93NUMPY garbage")
    again = type(linear_backend)()
    _run(tiny_spec_dict, tmp_path, again, resume=True)
    assert again.calls["generative"] == 1 and again.calls["rmle"] == 0


def test_interrupted_run_resumes_where_it_stopped(tmp_path, tiny_spec_dict, linear_backend):
    class Interrupting(type(linear_backend)):
        def attack(self, name, handle, **kw):
            if name == "rmle" and self.calls["rmle"] == 1:  # Ctrl-C during the second defence's rMLE
                raise KeyboardInterrupt
            return super().attack(name, handle, **kw)

    with pytest.raises(KeyboardInterrupt):
        _run(tiny_spec_dict, tmp_path, Interrupting())
    assert not (tmp_path / "results.json").exists()
    done = sorted(p.relative_to(tmp_path / "cache").as_posix() for p in (tmp_path / "cache").rglob("*.json"))
    assert done == ["none/criterion.json", "none/generative.json", "none/hybrid.json", "none/inverse_network.json",
                    "none/model.json", "none/rmle.json",
                    "siftfunnel/criterion.json", "siftfunnel/inverse_network.json", "siftfunnel/model.json"]
    resumed = type(linear_backend)()
    results, _ = _run(tiny_spec_dict, tmp_path, resumed, resume=True)
    assert resumed.calls["train"] == 1  # only the defence never reached
    assert resumed.calls["rmle"] == 2 and resumed.calls["inverse_network"] == 1
    fresh, _ = _run(tiny_spec_dict, tmp_path / "fresh", type(linear_backend)())
    assert results["rows"] == fresh["rows"]


def test_an_earlier_run_is_continued_or_discarded_only_when_asked(tmp_path, tiny_spec_dict, linear_backend):
    _run(tiny_spec_dict, tmp_path, linear_backend)
    models = sorted(p.relative_to(tmp_path) for p in (tmp_path / "cache").rglob("model.npz"))
    again = type(linear_backend)()
    with pytest.raises(ValueError, match="--out: .* earlier run.*--resume.*--overwrite"):
        _run(tiny_spec_dict, tmp_path, again)
    assert again.calls["train"] == 0
    assert sorted(p.relative_to(tmp_path) for p in (tmp_path / "cache").rglob("model.npz")) == models  # kept
    runner.run_experiment(spec_from_dict(tiny_spec_dict), tmp_path, overwrite=True, backend=again, progress=False,
                          log=None)
    assert again.calls["train"] == 3


def test_a_torn_event_line_is_skipped(tmp_path, tiny_spec_dict, linear_backend):
    _run(tiny_spec_dict, tmp_path, linear_backend)
    n = len(runner.read_events(tmp_path))
    with open(tmp_path / "events.jsonl", "a", encoding="utf-8") as fh:
        fh.write('{"time": 1.0, "event": "do')  # a crash in the middle of a line
    assert len(runner.read_events(tmp_path)) == n


def test_images_the_models_cannot_take_are_refused_before_training(tmp_path, tiny_spec_dict, linear_backend):
    tiny_spec_dict["dataset"]["image_size"] = 32
    spec = spec_from_dict(tiny_spec_dict)
    import dataclasses

    spec = dataclasses.replace(spec, dataset=dataclasses.replace(spec.dataset, image_size=None, name="digits"))
    with pytest.raises(ValueError, match="dataset.image_size: .* 8x8"):
        runner.run_experiment(spec, tmp_path, backend=linear_backend, progress=False, log=None)
    assert linear_backend.calls["train"] == 0


def test_refuses_a_foreign_cache_folder(tmp_path, tiny_spec_dict, linear_backend):
    (tmp_path / "cache").mkdir()
    with pytest.raises(ValueError, match="--out: .* did not write"):
        _run(tiny_spec_dict, tmp_path, linear_backend)


def test_reconstruction_scores_agree_with_skimage():
    metrics = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(0)
    a = rng.random((3, 1, 28, 28))
    b = np.clip(a + 0.1 * rng.standard_normal(a.shape), 0, 1)
    got = runner.reconstruction_scores(a, b)
    ssim = np.mean([metrics.structural_similarity(a[i, 0], b[i, 0], data_range=1.0, gaussian_weights=True,
                                                  sigma=1.5, use_sample_covariance=False) for i in range(3)])
    assert got["mse"] == pytest.approx(np.mean((a - b) ** 2))
    assert got["psnr"] == pytest.approx(np.mean([metrics.peak_signal_noise_ratio(a[i], b[i], data_range=1.0)
                                                 for i in range(3)]))
    assert got["ssim"] == pytest.approx(ssim, abs=1e-6)


def test_model_fingerprint_follows_training_code_only(tmp_path):
    """Editing an attack or plot keeps cached models; editing model or loss code retrains them."""
    import types

    from sift_reference.backends import source_digest

    pkg = tmp_path / "fakepkg"
    (pkg / "models").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "models" / "net.py").write_text("WIDTH = 1\n")
    (pkg / "losses.py").write_text("BETA = 2\n")
    (pkg / "viz.py").write_text("COLOUR = 'grey'\n")
    module = types.SimpleNamespace(__file__=str(pkg / "__init__.py"))
    parts = ("models", "losses.py")
    first = source_digest(module, parts)
    (pkg / "viz.py").write_text("COLOUR = 'white'\n")
    assert source_digest(module, parts) == first
    (pkg / "models" / "net.py").write_text("WIDTH = 2\n")
    second = source_digest(module, parts)
    assert second != first
    (pkg / "losses.py").write_text("BETA = 3\n")
    assert source_digest(module, parts) not in (first, second)


def test_relative_feature_error_closed_form_and_degenerate_values():
    from sift_reference.runner import relative_feature_error

    z = np.array([[1.0, 2.0], [0.0, 2.0]])
    assert relative_feature_error(z + np.array([[0.0, 1.0], [1.0, 0.0]]), z) == pytest.approx(2.0 / 9.0)
    assert relative_feature_error(z, z) == 0.0
    assert relative_feature_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_feature_error(np.ones(3), np.zeros(3)) == float("inf")


def test_resume_removes_the_temporary_files_of_killed_writes(tmp_path, tiny_spec_dict, linear_backend):
    _run(tiny_spec_dict, tmp_path, linear_backend)
    stale = [tmp_path / "cache" / "none" / ".model.json.abc123.tmp",
             tmp_path / "cache" / "noise" / "train-x" / ".last.pt.4242.tmp",
             tmp_path / "cache" / "none" / ".checkpoint-e0002.77.tmp.keras"]
    for p in stale:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"half a file")
    kept = tmp_path / "cache" / "none" / "notes.tmp"  # not one of ours (not hidden): left alone
    kept.write_text("mine")
    _run(tiny_spec_dict, tmp_path, type(linear_backend)(), resume=True)
    assert not any(p.exists() for p in stale) and kept.exists()


def test_how_each_attack_ended_reaches_results_and_report(tmp_path, tiny_spec_dict, linear_backend):
    from sift_reference.backends import Reconstructions

    class Recording(type(linear_backend)):
        def attack(self, name, handle, **kw):
            images = super().attack(name, handle, **kw)
            if name == "inverse_network":
                return Reconstructions(images, {"epochs": 12, "best_epoch": 8, "max_epochs": 200,
                                                "converged": True})
            if name == "rmle":
                return Reconstructions(images, {"steps_mean": 140.0, "steps_max": 600, "max_steps": 600,
                                                "converged": False})
            return images  # a bare array: no record

    results, _ = _run(tiny_spec_dict, tmp_path, Recording())
    for row in results["rows"]:
        assert row["attacks"]["inverse_network"]["convergence"]["epochs"] == 12
        assert row["attacks"]["rmle"]["convergence"]["converged"] is False
        assert "convergence" not in row["attacks"]["generative"]
    report = (tmp_path / "report.md").read_text()
    assert "- none / inverse network: 12 of at most 200 epochs (best 8, converged)" in report
    assert "- none / rMLE: steps 140 mean / 600 max of 600 (stopped by its budget)" in report


def test_convergence_records_of_the_attack_classes():
    from sift_reference.backends import inverse_network_info, white_box_info

    class Fitted:
        history, best_epoch, converged = [0.3, 0.2, 0.21, 0.22], 1, True

    assert inverse_network_info(Fitted(), 50) == {"epochs": 4, "best_epoch": 2, "max_epochs": 50, "converged": True}
    assert white_box_info([100, 300], 300) == {"steps_mean": 200.0, "steps_max": 300, "max_steps": 300,
                                               "converged": False}
    assert white_box_info([100, 250], 300)["converged"] is True
    assert white_box_info([], 300) == {"max_steps": 300}
    # an image halted on a non-finite step stopped early, but not by its rule: not converged
    assert white_box_info([100, 40], 300, [False, True]) == {"steps_mean": 70.0, "steps_max": 100,
                                                             "max_steps": 300, "halted": 1, "converged": False}
    assert white_box_info([100, 250], 300, [False, False])["converged"] is True
    from sift_reference.report import convergence_text

    assert convergence_text(white_box_info([100, 40], 300, [False, True])) == (
        "steps 70 mean / 100 max of 300 (1 image(s) halted on a non-finite step)")
