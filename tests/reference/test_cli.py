"""The siftfunnel command: tiny real runs per backend (schema, --resume), assess, errors, the demo spec."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_results_schema
from sift_reference import cli, runner
from sift_reference.spec import builtin_spec_path, spec_from_dict, tomllib

REPO = Path(__file__).resolve().parents[2]

TINY_TOML = """
[experiment]
name = "tiny"
seed = 3

[dataset]
name = "digits"
image_size = 28
n_target_train = 64
n_target_test = 40
n_attacker_aux = 64
n_private_eval = 16

[model]
architecture = "cnn"
width = 8

[training]
epochs = 1
batch_size = 32

[[defences]]
kind = "none"

[[defences]]
kind = "siftfunnel"
funnel_channels = 4

[attacks]
budget = "quick"

[attacks.inverse_network]
epochs = 1
batch_size = 16
width = 16

[attacks.rmle]
steps = 3
n_images = 2

[attacks.hybrid]
steps = 3
n_images = 2

[attacks.generative]
gan_epochs = 1
gan_width = 16
restarts = 1
steps = 3
pixel_steps = 3
n_images = 2

[criterion]
max_samples = 40
"""


def _backend_available(name: str) -> None:
    if name == "torch":
        pytest.importorskip("torch")
        pytest.importorskip("sift_torch.trainer")
    else:
        pytest.importorskip("keras")
        pytest.importorskip("tensorflow")
        pytest.importorskip("sift_keras.trainer")
    pytest.importorskip("sklearn")


# Keras traces a graph per model: the funnel model alone takes minutes on 2 busy cores, so the
# Keras run uses the undefended model and the noise defence (the runner code paths are the same).
KERAS_TOML = TINY_TOML.replace('kind = "siftfunnel"\nfunnel_channels = 4', 'kind = "noise"\nsigma = 0.5')


@pytest.mark.parametrize(("backend", "toml", "second"), [
    ("torch", TINY_TOML, "siftfunnel"),
    pytest.param("keras", KERAS_TOML, "noise", marks=pytest.mark.slow),
])
def test_tiny_run_then_resume(tmp_path, capsys, backend, toml, second):
    _backend_available(backend)
    spec = tmp_path / "tiny.toml"
    spec.write_text(toml)
    out = tmp_path / "out"
    argv = ["run", str(spec), "--backend", backend, "--out", str(out), "--no-progress"]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert f"\n{second} " in printed and "Spearman(difficulty_score" in printed
    assert f"report: {out / 'report.md'}" in printed
    results = json.loads((out / "results.json").read_text())
    assert_results_schema(results, ["none", second])
    assert results["backend"] == backend and results["spec"]["experiment"]["seed"] == 3
    rows = {r["defence"]: r for r in results["rows"]}
    if second == "siftfunnel":
        assert rows["siftfunnel"]["feature_size"] < rows["none"]["feature_size"]
    else:
        assert rows["noise"]["feature_size"] == rows["none"]["feature_size"]
    assert [e["event"] for e in runner.read_events(out)].count("train") == 2

    assert cli.main(argv + ["--resume"]) == 0
    events = runner.read_events(out)
    assert [e["event"] for e in events].count("train") == 2  # nothing retrained
    units = 2 * (2 + len(results["rows"][0]["attacks"]))  # per defence: the model, the criterion, each attack
    assert not [e for e in events[-units:] if e["event"] != "cached"]
    assert json.loads((out / "results.json").read_text()) == results

    if backend == "torch":  # a damaged model file is retrained (from its checkpoint), never a crash
        next((out / "cache" / "none").glob("train-*/model.pt")).write_bytes(b"damaged")
        (out / "cache" / "none" / "rmle.json").unlink()
        with pytest.warns(RuntimeWarning, match="retraining"):
            assert cli.main(argv + ["--resume"]) == 0
        assert [e["event"] for e in runner.read_events(out)].count("train") == 3
        assert json.loads((out / "results.json").read_text()) == results


def test_assess_prints_the_criterion(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.random((60, 1, 16, 16))
    np.savez(tmp_path / "f.npz", x=x, z=x.reshape(60, -1)[:, :32] + 0.01 * rng.standard_normal((60, 32)))
    assert cli.main(["assess", str(tmp_path / "f.npz"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert 0.0 <= report["difficulty_score"] <= 1.0 and report["n"] == 60
    assert cli.main(["assess", str(tmp_path / "f.npz")]) == 0
    assert "difficulty_score:" in capsys.readouterr().out


def test_errors_are_one_line_with_the_key(tmp_path, capsys):
    np.savez(tmp_path / "nz.npz", x=np.zeros((30, 4)))
    assert cli.main(["assess", str(tmp_path / "nz.npz")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("siftfunnel: error: features: ") and "lacks array(s) z" in err
    bad = tmp_path / "bad.toml"
    bad.write_text(TINY_TOML.replace('kind = "siftfunnel"\nfunnel_channels = 4', 'kind = "noise"\nsigma = -1'))
    assert cli.main(["run", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "defences[1].sigma: must be > 0" in err
    assert not (tmp_path / "o").exists()  # failed before any work


def test_demo_specs_match_the_reference_readme():
    """The TOML blocks of reference/README.md under 'The demo spec' are the shipped demo specs."""
    text = (REPO / "reference" / "README.md").read_text()
    for name in ("demo", "demo_fast"):
        m = re.search(rf"<!-- spec:{name} -->\s*```toml\n(.*?)```", text, re.S)
        assert m, f"reference/README.md lacks the {name} spec block"
        with open(builtin_spec_path(name), "rb") as fh:
            shipped = tomllib.load(fh)
        assert tomllib.loads(m.group(1)) == shipped
        spec_from_dict(shipped)
    assert "siftfunnel demo" in text


def test_keras_refuses_what_it_cannot_build_before_any_work(tmp_path, capsys):
    _backend_available("keras")
    spec = tmp_path / "vgg.toml"
    spec.write_text(TINY_TOML.replace('architecture = "cnn"', 'architecture = "vgg16"'))
    assert cli.main(["run", str(spec), "--backend", "keras", "--out", str(tmp_path / "o")]) == 2
    assert "model.architecture: the Keras backend builds the SiftFunnel edge for 'cnn' only" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
