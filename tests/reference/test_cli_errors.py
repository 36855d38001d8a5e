"""User errors of the siftfunnel command: one line on stderr naming the culprit, exit status 2, no traceback.

Defects (anything that is not a user error) keep their traceback.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest
from sift_reference import cli, runner
from sift_reference.spec import spec_from_dict

SPEC = """
[experiment]
name = "tiny"
seed = 3

[dataset]
name = "digits"
image_size = 28
n_target_train = 64
n_target_test = 40
n_attacker_aux = 48
n_private_eval = 16

[model]
architecture = "cnn"
width = 8

[training]
epochs = 1
batch_size = 32

[[defences]]
kind = "none"
"""


def _error_line(capsys) -> str:
    """The command's stderr, asserted to be exactly one line with no traceback; returned without the newline."""
    err = capsys.readouterr().err
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err.rstrip("\n")


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if the command gets as far as running the experiment (loading data, training)."""
    def refuse(*args, **kwargs):
        raise AssertionError("the command ran the experiment despite a user error")

    monkeypatch.setattr(runner, "run_experiment", refuse)
    monkeypatch.setattr(runner, "load_dataset", refuse)


def _spec(tmp_path, text: str = SPEC) -> str:
    path = tmp_path / "spec.toml"
    path.write_text(text)
    return str(path)


def test_version_comes_from_the_package_metadata(capsys):
    import sift_core

    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out == f"siftfunnel {version('siftfunnel')}\n"
    assert sift_core.__version__ == version("siftfunnel")


def test_every_package_reports_the_distribution_version():
    import sift_reference

    assert sift_reference.__version__ == version("siftfunnel")
    for name in ("sift_torch", "sift_keras"):
        try:
            module = __import__(name)
        except ImportError:
            continue
        assert module.__version__ == version("siftfunnel"), name


@pytest.mark.parametrize("where", ["file", "flag"])
def test_an_unavailable_torch_device_is_refused_before_any_work(tmp_path, capsys, no_work, where):
    torch = pytest.importorskip("torch")
    if torch.cuda.device_count() > 7:
        pytest.skip("this machine has a cuda:7")
    out = tmp_path / "out"
    if where == "file":
        argv = ["run", _spec(tmp_path, SPEC.replace("batch_size = 32", 'batch_size = 32\ndevice = "cuda:7"')),
                "--out", str(out)]
    else:
        argv = ["run", _spec(tmp_path), "--out", str(out), "--device", "cuda:7"]
    assert cli.main(argv) == 2
    line = _error_line(capsys)
    key = "training.device" if where == "file" else "--device"
    assert line.startswith(f"siftfunnel: error: {key}: 'cuda:7' is not available") and "use one of: cpu" in line
    assert not out.exists()


def test_a_malformed_device_and_the_demo(tmp_path, capsys, no_work):
    pytest.importorskip("torch")
    assert cli.main(["demo", "--out", str(tmp_path / "o"), "--device", "gpu0"]) == 2
    assert _error_line(capsys).startswith("siftfunnel: error: --device: 'gpu0' is not a torch device")


def test_the_device_flag_overrides_the_spec(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    seen = {}

    class Stop(Exception):
        pass

    def capture(spec, out, **kwargs):
        seen["device"] = spec.training.device
        raise Stop

    monkeypatch.setattr(runner, "run_experiment", capture)
    spec = _spec(tmp_path, SPEC.replace("batch_size = 32", 'batch_size = 32\ndevice = "cuda:7"'))
    with pytest.raises(Stop):  # not a user error: it propagates with its traceback
        cli.main(["run", spec, "--out", str(tmp_path / "o"), "--device", "cpu"])
    assert seen == {"device": "cpu"}


def test_a_directory_as_spec(tmp_path, capsys, no_work):
    (tmp_path / "specs.toml").mkdir()
    for arg in (str(tmp_path), str(tmp_path / "specs.toml")):
        assert cli.main(["run", arg]) == 2
        line = _error_line(capsys)
        assert line.startswith(f"siftfunnel: error: spec: {arg} is a directory") and "built-in spec" in line


def test_out_under_a_file(tmp_path, capsys, no_work):
    (tmp_path / "f").write_text("a file")
    for out in (tmp_path / "f", tmp_path / "f" / "sub" / "dir"):
        assert cli.main(["run", _spec(tmp_path), "--out", str(out)]) == 2
        line = _error_line(capsys)
        assert line.startswith(f"siftfunnel: error: --out: {out} ") and "choose another --out" in line


def test_out_where_nothing_can_be_written(tmp_path, capsys, no_work):
    # /sys refuses new files even to root (a chmod-ed folder would not stop root)
    target = Path("/sys/siftfunnel-out")
    if not Path("/sys").is_dir():
        pytest.skip("no /sys here")
    try:
        tempfile.TemporaryFile(dir="/sys").close()
    except OSError:
        pass
    else:
        pytest.skip("/sys is writable here")
    assert cli.main(["run", _spec(tmp_path), "--out", str(target)]) == 2
    line = _error_line(capsys)
    assert line.startswith("siftfunnel: error: --out: cannot write in /sys") and not target.exists()


@pytest.mark.parametrize("seed", [str(2**64), "2**64", "-1", "abc"])
def test_seed_flag_out_of_range(tmp_path, capsys, seed):
    assert cli.main(["run", _spec(tmp_path), "--seed", seed]) == 2
    line = _error_line(capsys)
    assert line.startswith("siftfunnel run: error: argument --seed: ") and str(2**32 - 1) in line


def test_seed_in_the_spec_out_of_range(tmp_path, capsys, no_work):
    assert cli.main(["run", _spec(tmp_path, SPEC.replace("seed = 3", f"seed = {2**40}"))]) == 2
    assert _error_line(capsys).startswith(f"siftfunnel: error: experiment.seed: must be from 0 to {2**32 - 1}")


def test_argument_errors_are_one_line(capsys):
    assert cli.main(["run"]) == 2
    assert "the following arguments are required: spec" in _error_line(capsys)
    assert cli.main(["frobnicate"]) == 2
    assert "invalid choice: 'frobnicate'" in _error_line(capsys)


@pytest.mark.parametrize(("make", "expected"), [
    (lambda p: np.savez(p / "f.npz", x=np.float64(1.0), z=np.zeros((5, 2))), "array x of {f} is 0-d"),
    (lambda p: np.savez(p / "f.npz", x=np.zeros((5, 2)), z=np.array(3)), "array z of {f} is 0-d"),
    (lambda p: np.save(p / "f.npz", np.zeros((5, 2))), "{f} is not an .npz archive"),
    (lambda p: np.savez(p / "f.npz", x=np.zeros((0, 2)), z=np.zeros((0, 2))), "array x of {f} is empty"),
    (lambda p: np.savez(p / "f.npz", x=np.array(["a", "b"]), z=np.zeros((2, 2))), "array x of {f} has dtype <U1"),
    (lambda p: np.savez(p / "f.npz", x=np.zeros((4, 2)), z=np.zeros((3, 2))), "x has 4 samples but z has 3"),
    (lambda p: (p / "f.npz").mkdir(), "{f} is a directory"),
])
def test_assess_refuses_bad_feature_files(tmp_path, capsys, make, expected):
    make(tmp_path)
    f = tmp_path / "f.npz"
    if not f.exists():  # np.save appends .npy to a name without that suffix
        f = tmp_path / "f.npz.npy"
    assert cli.main(["assess", str(f)]) == 2
    assert _error_line(capsys).startswith("siftfunnel: error: features: " + expected.format(f=f))


@pytest.fixture
def run_dir(tmp_path, tiny_spec_dict, linear_backend):
    """A real run directory, written by the runner with the fast numpy backend of conftest.py."""
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    out = tmp_path / "run"
    runner.run_experiment(spec_from_dict(tiny_spec_dict), out, backend=linear_backend, progress=False, log=None)
    return out


def _drop(doc: dict, dotted: str) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        doc = doc[int(part)] if isinstance(doc, list) else doc[part]
    del doc[last]


@pytest.mark.parametrize(("key", "shown"), [
    ("dataset", "dataset"),
    ("spec.experiment.seed", "spec.experiment.seed"),
    ("rows", "rows"),
    ("rows.0.accuracy", "rows[0].accuracy"),
    ("rows.1.attacks", "rows[1].attacks"),
    ("rows.0.criterion", "rows[0].criterion"),
])
def test_summarize_names_the_file_and_the_missing_key(run_dir, capsys, key, shown):
    assert cli.main(["summarize", str(run_dir)]) == 0  # the run as written is accepted
    capsys.readouterr()
    doc = json.loads((run_dir / "results.json").read_text())
    _drop(doc, key)
    (run_dir / "results.json").write_text(json.dumps(doc))
    assert cli.main(["summarize", str(run_dir)]) == 2
    assert _error_line(capsys).startswith(f"siftfunnel: error: runs: {run_dir / 'results.json'} lacks the key "
                                          f"{shown!r}")


def test_summarize_without_results_or_with_broken_json(tmp_path, capsys):
    assert cli.main(["summarize", str(tmp_path)]) == 2
    assert _error_line(capsys) == (f"siftfunnel: error: runs: no results.json in {tmp_path}; give output "
                                   "directories of `siftfunnel run`")
    (tmp_path / "results.json").write_text('{"dataset": ')
    assert cli.main(["summarize", str(tmp_path)]) == 2
    assert _error_line(capsys).startswith(f"siftfunnel: error: runs: {tmp_path / 'results.json'} is not valid JSON")


def test_defects_keep_their_traceback(tmp_path, monkeypatch):
    np.savez(tmp_path / "f.npz", x=np.zeros((30, 4)), z=np.zeros((30, 2)))

    def broken(x, z, **options):
        raise KeyError("a defect")

    monkeypatch.setattr(runner, "assess_features", broken)
    with pytest.raises(KeyError, match="a defect"):
        cli.main(["assess", str(tmp_path / "f.npz")])


def test_the_command_shows_the_packages_log_records(tmp_path, monkeypatch, capsys):
    np.savez(tmp_path / "f.npz", x=np.zeros((30, 4)), z=np.zeros((30, 2)))

    def logged(x, z, **options):
        logging.getLogger("sift_core.criterion").info("estimating from %d samples", len(x))
        logging.getLogger("sift_torch.trainer").warning("features are dead")
        logging.getLogger("sift_torch.trainer").debug("not shown")
        return {"difficulty_score": 0.5}

    monkeypatch.setattr(runner, "assess_features", logged)
    assert cli.main(["assess", str(tmp_path / "f.npz")]) == 0
    captured = capsys.readouterr()
    assert captured.err == "estimating from 30 samples\nwarning: features are dead\n"
    assert "difficulty_score: 0.5" in captured.out
    # the library adds no handlers of its own, and the command removes its handler when it ends
    for name in ("sift_core", "sift_torch", "sift_keras", "sift_reference"):
        assert logging.getLogger(name).handlers == []


def test_the_script_names_a_missing_extra(monkeypatch, capsys):
    import sift_reference

    # as on Python 3.10 without the cli extra: neither tomllib nor tomli can be imported
    for name in ("tomllib", "tomli"):
        monkeypatch.setitem(sys.modules, name, None)
    for name in ("sift_reference.cli", "sift_reference.spec", "sift_reference._cli_checks"):
        if name in sys.modules:
            monkeypatch.delitem(sys.modules, name)
    assert sift_reference.command(["--version"]) == 2
    line = _error_line(capsys)
    assert line.startswith("siftfunnel: error: tomli is not installed") and "siftfunnel[cli]" in line


def test_an_earlier_run_in_out_is_kept_unless_the_user_says_overwrite(tmp_path, capsys):
    spec = tmp_path / "tiny.toml"
    spec.write_text(SPEC)
    out = tmp_path / "out"
    (out / "cache" / "none").mkdir(parents=True)
    (out / "cache" / "none" / "model.json").write_text("{}")
    (out / runner.MARKER).write_text("siftfunnel run directory\n")
    assert cli.main(["run", str(spec), "--out", str(out), "--no-progress"]) == 2
    line = _error_line(capsys)
    assert "--out" in line and "--resume" in line and "--overwrite" in line
    assert (out / "cache" / "none" / "model.json").is_file()


def test_attack_budget_flag_overrides_the_spec(tmp_path):
    from sift_reference.spec import QUICK_BUDGET, load_spec

    spec = tmp_path / "tiny.toml"
    spec.write_text(SPEC + "\n[attacks.rmle]\nsteps = 9\n")
    quick = load_spec(spec, attack_budget="quick")
    assert quick.attacks.budget == "quick" and quick.attacks.rmle.steps == 9
    assert quick.attacks.hybrid.steps == QUICK_BUDGET["hybrid"]["steps"]
    assert load_spec(spec).attacks.budget == "full"


@pytest.mark.parametrize(("key", "value", "kind"), [
    ("criterion", [1], "table"), ("accuracy", "high", "number"), ("defence", 3, "string"),
    ("accuracy_drop", True, "number"),
])
def test_summarize_names_a_key_of_the_wrong_type(run_dir, capsys, key, value, kind):
    doc = json.loads((run_dir / "results.json").read_text())
    doc["rows"][0][key] = value
    (run_dir / "results.json").write_text(json.dumps(doc))
    assert cli.main(["summarize", str(run_dir)]) == 2
    assert _error_line(capsys).startswith(f"siftfunnel: error: runs: {run_dir / 'results.json'}: rows[0].{key} must "
                                          f"be a {kind}")


def test_a_spec_that_is_not_text_names_the_file(tmp_path, capsys, no_work):
    path = tmp_path / "spec.toml"
    path.write_bytes(b"\x00\xff\xfe")
    assert cli.main(["run", str(path), "--out", str(tmp_path / "o")]) == 2
    assert _error_line(capsys) == f"siftfunnel: error: spec: {path} is not UTF-8 text (a TOML file is)"


@pytest.mark.parametrize(("write", "shown"), [
    (lambda p: p.write_bytes(b"not a zip file at all"), "is not a readable .npz dataset"),
    (lambda p: np.savez(p, x=np.zeros((4, 8, 8)), y=np.array([0, 1, "a", None], dtype=object)),
     "is not a readable .npz dataset"),
    (lambda p: np.savez(p, x=np.full((4, 8, 8), np.nan), y=np.arange(4)), "[x]: images contain NaN"),
])
def test_a_bad_npz_dataset_names_the_file(tmp_path, write, shown):
    from sift_reference.readers import read_npz_dataset

    path = tmp_path / "set.npz"
    write(path)
    with pytest.raises(ValueError) as info:
        read_npz_dataset(path)
    assert str(info.value).startswith(f"path: {path}") and shown in str(info.value)
