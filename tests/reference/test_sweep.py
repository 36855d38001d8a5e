"""``siftfunnel sweep``: the [sweep] section, its points, the sequential executor, resume and faults."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import LinearBackend
from sift_reference import runner
from sift_reference.cli import main
from sift_reference.executors import SequentialExecutor, Unit, make_executor
from sift_reference.spec import SpecError, spec_from_dict
from sift_reference.sweep import SweepError, run_sweep, seed_dir
from sift_reference.sweep_spec import STRENGTHS, point_name, points, seed_spec

pytest.importorskip("sklearn")

SWEEP = {"seeds": [0, 1], "drops": [1, 3],
         "strengths": {"noise": {"sigma": [0.5, 2.0]}, "siftfunnel": {"lambda_1": [0.01, 0.1]}}}


@pytest.fixture
def sweep_dict(tiny_spec_dict):
    d = copy.deepcopy(tiny_spec_dict)
    d["sweep"] = copy.deepcopy(SWEEP)
    return d


def _sweep(d, out, backend, **kw):
    return run_sweep(spec_from_dict(d), out, backend=backend, progress=False, log=None,
                     executor=SequentialExecutor(threads=1), **kw)


def test_points_follow_the_spec_and_the_defaults(sweep_dict):
    spec = spec_from_dict(sweep_dict)
    names = [p.name for p in points(spec.sweep, spec.defences)]
    assert names == ["none", "siftfunnel-lambda_1-0.01", "siftfunnel-lambda_1-0.1", "noise-sigma-0.5", "noise-sigma-2"]
    del sweep_dict["sweep"]["strengths"]["noise"]
    spec = spec_from_dict(sweep_dict)
    noise = [p for p in points(spec.sweep, spec.defences) if p.defence == "noise"]
    assert [p.strength for p in noise] == [{"sigma": v} for v in STRENGTHS["noise"]["sigma"]]
    # a seed's run: every point a defence of an ordinary spec, the other keys of its table kept
    s1 = seed_spec(spec, 1)
    assert s1.seed == 1 and s1.sweep is None
    sf = next(d for d in s1.defences if d.name == "siftfunnel-lambda_1-0.1")
    assert sf.params["lambda_1"] == 0.1 and sf.params["funnel_channels"] == 4
    assert spec_from_dict(s1.to_dict()) == s1  # what a worker rebuilds from the dict is the same spec
    assert spec_from_dict(spec.to_dict()) == spec
    assert point_name("mid", {"weight": 1e-05}) == "mid-weight-1e-05"


@pytest.mark.parametrize("change, key", [
    (lambda s: s.update(bogus=1), "sweep.bogus"),
    (lambda s: s.update(seeds=[]), "sweep.seeds"),
    (lambda s: s.update(seeds=[0, 0]), "sweep.seeds"),
    (lambda s: s.update(seeds=[-1]), "sweep.seeds[0]"),
    (lambda s: s.update(drops=[0]), "sweep.drops[0]"),
    (lambda s: s["strengths"].update(nopeek={"weight": [1.0]}), "sweep.strengths.nopeek"),
    (lambda s: s["strengths"].update(none={"sigma": [1.0]}), "sweep.strengths.none"),
    (lambda s: s["strengths"]["noise"].update(rate=[0.5, 0.6]), "sweep.strengths.noise.rate"),
    (lambda s: s["strengths"]["noise"].update(sigma=[0.5, -1.0]), "sweep.strengths.noise.sigma[1]"),
    (lambda s: s["strengths"]["noise"].update(sigma=[]), "sweep.strengths.noise.sigma"),
    (lambda s: s["strengths"]["siftfunnel"].update(beta=[1.0]), "sweep.strengths.siftfunnel"),
    (lambda s: s["strengths"]["noise"].update(sigma=[0.5, 0.5]), "sweep.strengths.noise"),
    (lambda s: s["strengths"]["noise"].update(lr=[0.1, 0.2]), "sweep.strengths.noise.lr"),
])
def test_a_bad_sweep_key_is_named(sweep_dict, change, key):
    change(sweep_dict["sweep"])
    with pytest.raises(SpecError) as err:
        spec_from_dict(sweep_dict)
    assert str(err.value).startswith(key + ":"), str(err.value)


def test_a_bad_sweep_key_fails_before_anything_trains(tmp_path, sweep_dict, capsys):
    sweep_dict["sweep"]["strengths"]["noise"]["sigma"] = [0.5, "x"]
    path = tmp_path / "bad.toml"
    path.write_text(_toml(sweep_dict))
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--executor", "sequential", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "sweep.strengths.noise.sigma[1]" in err and not out.exists()


def test_sequential_sweep_matches_plain_runs_and_resumes(tmp_path, sweep_dict):
    backend = LinearBackend()
    doc = _sweep(sweep_dict, tmp_path / "sw", backend)
    n_points = 5
    assert backend.calls["train"] == 2 * n_points
    assert len(doc["points"]) == 2 * n_points and doc["seeds"] == [0, 1]
    for f in ("frontier.json", "frontier.md", "frontier.png", "units.json", "sweep.json"):
        assert (tmp_path / "sw" / f).is_file(), f
    # each point is exactly what `siftfunnel run` of the seed's spec gives
    plain = LinearBackend()
    results, _ = runner.run_experiment(seed_spec(spec_from_dict(sweep_dict), 1), tmp_path / "plain", backend=plain,
                                       progress=False, log=None)
    by_point = {(p["point"], p["seed"]): p for p in doc["points"]}
    for row in results["rows"]:
        p = by_point[(row["defence"], 1)]
        assert p["accuracy"] == row["accuracy"] and p["privacy"] == row["privacy"]
    # a second invocation with --resume trains and attacks nothing and gives the same points
    again = LinearBackend()
    doc2 = _sweep(sweep_dict, tmp_path / "sw", again, resume=True)
    assert again.calls["train"] == 0 and again.calls["rmle"] == 0
    assert doc2["points"] == doc["points"]
    units = json.loads((tmp_path / "sw" / "units.json").read_text())
    assert len(units["units"]) == 2 * n_points and units["executor"] == "sequential"


def test_an_earlier_sweep_is_refused_without_resume(tmp_path, sweep_dict):
    _sweep(sweep_dict, tmp_path / "sw", LinearBackend())
    with pytest.raises(ValueError, match="--resume"):
        _sweep(sweep_dict, tmp_path / "sw", LinearBackend())
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(SpecError, match="--out"):
        _sweep(sweep_dict, tmp_path / "other", LinearBackend())


class _FailingBackend(LinearBackend):
    def train(self, *, spec, defence, data, workdir, progress):
        if defence.name == "noise-sigma-2":
            raise RuntimeError("out of memory")
        return super().train(spec=spec, defence=defence, data=data, workdir=workdir, progress=progress)


def test_a_failing_unit_is_reported_after_the_others_finish(tmp_path, sweep_dict):
    with pytest.raises(SweepError, match="2 of 10 units failed.*noise-sigma-2.*out of memory"):
        _sweep(sweep_dict, tmp_path / "sw", _FailingBackend())
    # every other unit finished and is saved: the resumed sweep trains only the two failed points
    backend = LinearBackend()
    _sweep(sweep_dict, tmp_path / "sw", backend, resume=True)
    assert backend.calls["train"] == 2


def test_units_run_dependencies_first_and_skip_dependants_of_a_failure():
    order = []

    def ok(k):
        order.append(k)
        return {"k": k}

    def bad(k):
        raise ValueError(k)

    units = [Unit("b", ok, ("b",), after="a"), Unit("a", ok, ("a",)), Unit("c", ok, ("c",), after="d"),
             Unit("d", bad, ("d",))]
    seen = []
    outcome = SequentialExecutor().run(units, lambda u, r, e: seen.append(u.key))
    assert order == ["a", "b"] and set(outcome.results) == {"a", "b"}
    assert set(outcome.errors) == {"c", "d"} and "d failed" in str(outcome.errors["c"])
    assert sorted(seen) == ["a", "b", "c", "d"]
    with pytest.raises(ValueError, match="units: x waits for y"):
        SequentialExecutor().run([Unit("x", ok, ("x",), after="y")], lambda *a: None)


def test_executor_flags_are_checked():
    with pytest.raises(ValueError, match="--workers"):
        make_executor("sequential", workers=2)
    with pytest.raises(ValueError, match="--executor"):
        make_executor("threads")
    with pytest.raises(ValueError, match="--threads"):
        make_executor("sequential", threads=0)
    with pytest.raises(ValueError, match="--address"):
        make_executor("sequential", address="auto")
    assert make_executor("sequential", threads=1).threads == 1


KILLER = textwrap.dedent("""
    import copy, json, os, signal, sys, time
    sys.path.insert(0, {tests!r})
    from conftest import LinearBackend, TINY_SPEC
    from sift_reference.executors import SequentialExecutor
    from sift_reference.spec import spec_from_dict
    from sift_reference.sweep import run_sweep

    class Killed(LinearBackend):
        def attack(self, name, handle, **kw):
            # the process dies in the middle of a unit, as under `kill -9` or the OOM killer
            if name == "hybrid" and {kill!r} and os.path.exists({flag!r}) is False and kw["seed"] == 1:
                open({flag!r}, "w").close()
                os.kill(os.getpid(), signal.SIGKILL)
            return super().attack(name, handle, **kw)

    d = copy.deepcopy(TINY_SPEC)
    d["sweep"] = json.loads({sweep!r})
    run_sweep(spec_from_dict(d), {out!r}, resume={resume!r}, backend=Killed(), progress=False, log=None,
              executor=SequentialExecutor(threads=1))
""")


def _killer(tmp_path, *, kill, resume):
    script = KILLER.format(tests=str(Path(__file__).parent), kill=kill, flag=str(tmp_path / "killed"),
                           sweep=json.dumps(SWEEP), out=str(tmp_path / "sw"), resume=resume)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)


def test_a_sweep_killed_mid_unit_resumes_without_redoing_finished_units(tmp_path):
    first = _killer(tmp_path, kill=True, resume=False)
    assert first.returncode == -signal.SIGKILL, first.stderr
    before = {}
    for s in (0, 1):
        for e in runner.read_events(seed_dir(tmp_path / "sw", s)):
            if e["event"] == "done":
                before[(s, e["defence"], e["unit"])] = e["time"]
    assert (0, "noise-sigma-2", "generative") in before  # seed 0 finished before the kill
    assert (1, "none", "hybrid") not in before
    second = _killer(tmp_path, kill=True, resume=True)
    assert second.returncode == 0, second.stderr
    done_again = [(s, e["defence"], e["unit"]) for s in (0, 1)
                  for e in runner.read_events(seed_dir(tmp_path / "sw", s))
                  if e["event"] == "done" and e["time"] > max(before.values())]
    assert not set(done_again) & set(before)  # no finished unit ran twice
    assert (1, "none", "hybrid") in done_again
    doc = json.loads((tmp_path / "sw" / "frontier.json").read_text())
    assert len(doc["points"]) == 10


def _toml(d: dict) -> str:
    """A minimal TOML writer for the test specs (tables, arrays of tables, scalars and lists)."""
    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return repr(v)

    lines = []

    def table(prefix, t):
        scalars = {k: v for k, v in t.items() if not isinstance(v, dict) and not (
            isinstance(v, list) and v and isinstance(v[0], dict))}
        if prefix:
            lines.append(f"[{prefix}]")
        lines.extend(f"{k} = {value(v)}" for k, v in scalars.items())
        for k, v in t.items():
            if isinstance(v, dict):
                table(f"{prefix}.{k}" if prefix else k, v)
            elif isinstance(v, list) and v and isinstance(v[0], dict):
                for item in v:
                    lines.append(f"[[{prefix + '.' if prefix else ''}{k}]]")
                    lines.extend(f"{kk} = {value(vv)}" for kk, vv in item.items())

    table("", d)
    return "\n".join(lines) + "\n"


def test_the_command_runs_a_tiny_torch_sweep(tmp_path, capsys):
    pytest.importorskip("torch")
    d = {
        "experiment": {"name": "cli-sweep", "seed": 3},
        "dataset": {"name": "digits", "image_size": 28, "n_target_train": 160, "n_target_test": 60,
                    "n_attacker_aux": 48, "n_private_eval": 8},
        "model": {"architecture": "cnn", "width": 8},
        "training": {"epochs": 1, "batch_size": 32},
        "defences": [{"kind": "none"}, {"kind": "noise"}],
        "attacks": {"budget": "quick", "suite": ["inverse_network", "rmle"], "rmle": {"n_images": 4}},
        "criterion": {"max_samples": 40},
        "sweep": {"seeds": [0, 1], "strengths": {"noise": {"sigma": [0.5, 3.0]}}},
    }
    path = tmp_path / "sweep.toml"
    path.write_text(_toml(d))
    out = tmp_path / "out"
    argv = ["sweep", str(path), "--out", str(out), "--executor", "sequential", "--threads", "1", "--seeds", "5",
            "--no-progress"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "| noise |" in printed and "frontier.md" in printed
    doc = json.loads((out / "frontier.json").read_text())
    assert doc["seeds"] == [5] and len(doc["points"]) == 3  # --seeds replaced the spec's seeds
    assert (out / "seed-5" / "report.md").is_file() and not (out / "seed-0").exists()
    assert main(argv) == 2  # an earlier sweep is not overwritten unasked
    assert "--resume" in capsys.readouterr().err
    assert main(argv + ["--resume"]) == 0


def test_the_progress_log_names_each_point_with_its_worst_case(tmp_path, sweep_dict):
    lines = []
    run_sweep(spec_from_dict(sweep_dict), tmp_path / "sw", backend=LinearBackend(), progress=False, log=lines.append,
              executor=SequentialExecutor(threads=1))
    point_lines = [ln for ln in lines if ln.startswith("seed 1: noise-sigma-2:")]
    assert len(point_lines) == 1 and "worst-case SSIM 0." in point_lines[0], lines


def test_a_builtin_name_wins_over_a_folder_of_that_name(tmp_path, monkeypatch):
    from sift_reference.cli import _resolve_spec_path
    from sift_reference.spec import builtin_spec_path

    monkeypatch.chdir(tmp_path)
    (tmp_path / "demo_sweep").mkdir()  # e.g. the output of `siftfunnel sweep demo_sweep --out demo_sweep`
    assert _resolve_spec_path("demo_sweep") == builtin_spec_path("demo_sweep")
    (tmp_path / "mine").mkdir()
    with pytest.raises(Exception, match="is a directory"):
        _resolve_spec_path("mine")


def test_setting_threads_twice_keeps_numba_compiling(tmp_path):
    """numba re-reads NUMBA_NUM_THREADS when it compiles and refuses a change once its threads run:
    a process that runs units with different thread counts must go on compiling."""
    code = textwrap.dedent("""
        import numba, numpy as np
        from sift_reference.executors import set_threads
        set_threads(1, None)

        @numba.njit(parallel=True)
        def total(a):
            s = 0.0
            for i in numba.prange(a.shape[0]):
                s += a[i]
            return s

        total(np.ones(10))
        set_threads(2, None)

        @numba.njit
        def again(a):
            return a.sum()

        print(again(np.ones(4)), numba.get_num_threads())
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")})
    assert res.returncode == 0, res.stderr
    assert res.stdout.split()[0] == "4.0"


def test_failed_units_reach_the_command_line_as_one_line():
    from sift_reference.cli import _user_error

    msg = _user_error(SweepError("1 of 5 units failed (0/noise-sigma-2: RuntimeError: out of memory); ..."))
    assert msg is not None and msg.startswith("1 of 5 units failed") and "\n" not in msg
