"""Defences of your own in a spec: ``experiment.plugins`` imports the module that registers them."""

from __future__ import annotations

import copy
import json
import textwrap

import numpy as np
import pytest
from sift_reference import plugins, runner
from sift_reference.spec import SpecError, load_spec, spec_from_dict

TORCH_PLUGIN = """
    import torch
    import sift_torch


    class _Clamp(torch.nn.Module):
        def __init__(self, bound):
            super().__init__()
            self.bound = bound

        def forward(self, z):
            return z.clamp(-self.bound, self.bound)


    @sift_torch.register_defence
    class ClampDefence(sift_torch.Defence):
        kind = "{kind}"

        def __init__(self, *, bound=1.0):
            if not bound > 0:
                raise ValueError(f"bound must be > 0; got {{bound}}")
            self.settings = {{"bound": bound}}

        def protect(self, edge, cloud, *, channels=None):
            return sift_torch.SplitModel(torch.nn.Sequential(edge, _Clamp(self.settings["bound"])), cloud)
"""

KERAS_PLUGIN = """
    import sift_keras
    from sift_keras._keras import keras


    @sift_keras.register_defence
    class ScaleDefence(sift_keras.Defence):
        kind = "{kind}"
        training_only = False

        def __init__(self, *, factor=0.5, seed=None, **kwargs):
            super().__init__(**kwargs)
            self.factor, self.seed = factor, seed

        def call(self, z, training=None):
            return z * self.factor

        def get_config(self):
            return {{**super().get_config(), "factor": self.factor, "seed": self.seed}}
"""


def _write(tmp_path, name, body, kind):
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(body.format(kind=kind)))
    return path


def _spec(tiny_spec_dict, plugin_list, defences, backend="torch"):
    d = copy.deepcopy(tiny_spec_dict)
    d["experiment"].update(backend=backend, plugins=plugin_list)
    d["defences"] = [{"kind": "none"}, *defences]
    d["attacks"]["suite"] = ["rmle"]
    return d


def test_without_plugins_an_unknown_kind_says_where_to_register_it(tiny_spec_dict):
    d = copy.deepcopy(tiny_spec_dict)
    d["defences"].append({"kind": "clamp"})
    with pytest.raises(SpecError, match=r"defences\[3\]\.kind: .*name the module that registers it in experiment"):
        spec_from_dict(d)


@pytest.mark.parametrize("value, match", [
    ("not a list", r"experiment\.plugins: must be a list"),
    ([3], r"experiment\.plugins\[0\]: must be a module name"),
    (["no such-module!"], r"experiment\.plugins\[0\]: not a module name"),
    (["missing_file.py"], r"experiment\.plugins\[0\]: no such file"),
    (["sift_no_such_module_anywhere"], r"experiment\.plugins\[0\]: could not import .*ModuleNotFoundError"),
])
def test_bad_plugin_lists_are_named(tiny_spec_dict, value, match):
    d = copy.deepcopy(tiny_spec_dict)
    d["experiment"]["plugins"] = value
    with pytest.raises(SpecError, match=match):
        spec_from_dict(d)


def test_a_plugin_that_fails_to_import_is_named(tmp_path, tiny_spec_dict):
    path = tmp_path / "broken_plugin.py"
    path.write_text("raise RuntimeError('half written')\n")
    with pytest.raises(SpecError, match=r"experiment\.plugins\[0\]: could not import .*RuntimeError: half written"):
        spec_from_dict(_spec(tiny_spec_dict, [str(path)], []))


def test_a_relative_plugin_path_is_found_beside_the_spec_file(tmp_path, tiny_spec_dict):
    pytest.importorskip("torch")
    _write(tmp_path, "relative_clamp", TORCH_PLUGIN, "clamp_rel")
    (tmp_path / "spec.toml").write_text(textwrap.dedent("""
        [experiment]
        plugins = ["relative_clamp.py"]
        [dataset]
        name = "digits"
        image_size = 28
        [[defences]]
        kind = "none"
        [[defences]]
        kind = "clamp_rel"
        bound = 2.0
    """))
    spec = load_spec(tmp_path / "spec.toml")
    assert spec.plugins == (str((tmp_path / "relative_clamp.py").resolve()),)
    assert spec.defences[1].kind == "clamp_rel" and spec.defences[1].params == {"bound": 2.0}
    again = spec_from_dict(spec.to_dict())  # what a sweep's workers read: the absolute path survives
    assert again.plugins == spec.plugins and again.defences == spec.defences


def test_registered_kinds_are_checked_against_their_class(tmp_path, tiny_spec_dict):
    pytest.importorskip("torch")
    path = str(_write(tmp_path, "checked_clamp", TORCH_PLUGIN, "clamp_chk"))
    ok = spec_from_dict(_spec(tiny_spec_dict, [path], [{"kind": "clamp_chk", "bound": 0.5, "name": "tight"}]))
    assert [d.name for d in ok.defences] == ["none", "tight"]
    cases = [
        ({"kind": "clamp_nope"}, r"defences\[1\]\.kind: 'clamp_nope' is not a built-in defence and the plugins"),
        ({"kind": "clamp_chk", "bound_x": 1.0}, r"defences\[1\]\.bound_x: not a keyword of ClampDefence"),
        ({"kind": "clamp_chk", "bound": -1.0}, r"defences\[1\]: ClampDefence rejected .*bound must be > 0"),
        ({"kind": "clamp_chk", "bound": [1, 2]}, r"defences\[1\]\.bound: .*string, a boolean or a number"),
        ({"kind": "clamp_chk", "bound": float("nan")}, r"defences\[1\]\.bound: must be finite"),
        ({"kind": "Clamp_chk"}, r"defences\[1\]\.kind: registered kinds are looked up in lower case"),
    ]
    for defence, match in cases:
        with pytest.raises(SpecError, match=match):
            spec_from_dict(_spec(tiny_spec_dict, [path], [defence]))
    # the kind is registered with sift_torch only: the Keras backend cannot run it
    with pytest.raises(SpecError, match=r"defences\[1\]\.kind: 'clamp_chk' .*did not register it with sift_keras"):
        spec_from_dict(_spec(tiny_spec_dict, [path], [{"kind": "clamp_chk"}], backend="keras"))


def test_a_registered_kind_sweeps_only_with_explicit_strengths(tmp_path, tiny_spec_dict):
    pytest.importorskip("torch")
    path = str(_write(tmp_path, "swept_clamp", TORCH_PLUGIN, "clamp_sw"))
    d = _spec(tiny_spec_dict, [path], [{"kind": "clamp_sw"}])
    d["sweep"] = {"seeds": [0]}
    with pytest.raises(SpecError, match=r"sweep\.strengths\.clamp_sw: required for kind 'clamp_sw'"):
        spec_from_dict(d)
    d["sweep"]["strengths"] = {"clamp_sw": {"bound": [4.0, -1.0]}}
    with pytest.raises(SpecError, match=r"sweep\.strengths\.clamp_sw: ClampDefence rejected .*bound must be > 0"):
        spec_from_dict(d)
    d["sweep"]["strengths"] = {"clamp_sw": {"epochs": [1, 2]}}
    with pytest.raises(SpecError, match=r"sweep\.strengths\.clamp_sw\.epochs: .*not swept"):
        spec_from_dict(d)
    d["sweep"]["strengths"] = {"clamp_sw": {"bound": [4.0, 1.0]}}
    from sift_reference.sweep_spec import points

    spec = spec_from_dict(d)
    assert [p.name for p in points(spec.sweep, spec.defences)] == ["none", "clamp_sw-bound-4", "clamp_sw-bound-1"]


def test_a_plugins_source_is_part_of_its_models_cache_key(tmp_path, tiny_spec_dict):
    pytest.importorskip("torch")
    from conftest import LinearBackend

    path = _write(tmp_path, "keyed_clamp", TORCH_PLUGIN, "clamp_key")
    spec = spec_from_dict(_spec(tiny_spec_dict, [str(path)], [{"kind": "clamp_key"}]))
    sd = spec.to_dict()
    backend = LinearBackend()
    keys = [runner._train_key(backend, "data", sd, d, 0) for d in sd["defences"]]
    path.write_text(path.read_text() + "\n# edited\n")
    after = [runner._train_key(backend, "data", sd, d, 0) for d in sd["defences"]]
    assert after[0] == keys[0]  # the built-in defence does not depend on the plugin
    assert after[1] != keys[1]  # the plugin's model does: editing it retrains on --resume
    assert plugins.digest(spec.plugins) == plugins.digest(spec.plugins)


def test_the_torch_backend_trains_and_attacks_a_registered_defence(tmp_path, tiny_spec_dict):
    torch = pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    from sift_reference.backends import get_backend
    from sift_reference.runner import load_spec_data

    torch.set_num_threads(1)
    path = str(_write(tmp_path, "run_clamp", TORCH_PLUGIN, "clamp_run"))
    spec = spec_from_dict(_spec(tiny_spec_dict, [path], [{"kind": "clamp_run", "bound": 0.25}]))
    backend = get_backend("torch")
    runner.run_experiment(spec, tmp_path / "run", backend=backend, progress=False, log=None)
    rows = {r["defence"]: r for r in json.loads((tmp_path / "run" / "results.json").read_text())["rows"]}
    assert set(rows) == {"none", "clamp_run"} and rows["clamp_run"]["accuracy"] > 0
    assert "rmle" in rows["clamp_run"]["attacks"]
    data, _ = load_spec_data(spec)
    handle = backend.load(spec=spec, defence=spec.defences[1], data=data,
                          workdir=next((tmp_path / "run" / "cache" / "clamp_run").glob("train-*")))
    z = backend.features(handle, data.private_eval.x[:8])
    assert np.abs(z).max() <= 0.25 + 1e-6  # the plugin's class made the edge: its features are clamped
    assert np.abs(backend.features(backend.load(spec=spec, defence=spec.defences[0], data=data, workdir=next(
        (tmp_path / "run" / "cache" / "none").glob("train-*"))), data.private_eval.x[:8])).max() > 0.25


def test_the_keras_backend_builds_a_registered_defence_with_the_seed(tmp_path, tiny_spec_dict):
    pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the harness's Keras backend runs on TensorFlow")
    pytest.importorskip("sklearn")
    from sift_reference.backends import get_backend
    from sift_reference.runner import load_spec_data

    path = str(_write(tmp_path, "keras_scale", KERAS_PLUGIN, "scale_k"))
    spec = spec_from_dict(_spec(tiny_spec_dict, [path], [{"kind": "scale_k", "factor": 0.25}], backend="keras"))
    backend = get_backend("keras")
    backend.check(spec)
    data, _ = load_spec_data(spec)
    model = backend._build(spec, spec.defences[1], data, (28, 28, 1))
    assert type(model.defence).kind == "scale_k"
    assert model.defence.factor == 0.25 and model.defence.seed == spec.seed  # the class takes a seed: it gets it
    x = data.private_eval.x[:4].transpose(0, 2, 3, 1)
    z_edge = np.asarray(model.edge(x))
    np.testing.assert_allclose(np.asarray(model.defence(z_edge)), 0.25 * z_edge, rtol=1e-6)
