"""Spec validation: every bad value fails before any work, with a message naming its key."""

from __future__ import annotations

import copy

import pytest
from sift_reference.spec import (
    SpecError,
    builtin_spec_names,
    builtin_spec_path,
    load_spec,
    override,
    spec_from_dict,
    tomllib,
)

BASE = {
    "experiment": {"name": "t", "seed": 1},
    "dataset": {"name": "digits", "image_size": 28, "n_target_train": 400, "n_target_test": 50,
                "n_attacker_aux": 50, "n_private_eval": 20},
    "defences": [{"kind": "none"}, {"kind": "siftfunnel"}, {"kind": "noise", "sigma": 0.5}],
}


def _with(path: str, value, base=BASE):
    """A copy of ``base`` with the dotted ``path`` (list indices allowed) set to ``value``."""
    raw = copy.deepcopy(base)
    *parents, last = path.split(".")
    node = raw
    for p in parents:
        if "[" in p:
            name, idx = p[:-1].split("[")
            node = node[name][int(idx)]
        else:
            node = node.setdefault(p, {})
    node[last] = value
    return raw


def test_valid_spec_gets_defaults():
    spec = spec_from_dict(BASE)
    assert [d.name for d in spec.defences] == ["none", "siftfunnel", "noise"]
    assert spec.defences[1].params["alpha"] == 5.0
    assert spec.defences[2].params == {"sigma": 0.5}
    assert spec.backend == "torch" and spec.seed == 1
    # to_dict round-trips through validation
    assert spec_from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("defences[2].sigma", -1.0, "defences[2].sigma: must be > 0"),
        ("defences[2].sigma", 0, "defences[2].sigma: must be > 0"),
        ("defences[2].sigma", "big", "defences[2].sigma: must be a number"),
        ("defences[1].alpha", -0.5, "defences[1].alpha: must be >= 0"),
        ("defences[1].epsilon", 1.0, "defences[1].epsilon: must be in [0, 1)"),
        ("defences[1].funnel_channels", 2.5, "defences[1].funnel_channels: must be an integer"),
        ("defences[1].sigma", 0.3, "defences[1].sigma: unknown key for kind 'siftfunnel'"),
        ("defences[2].kind", "magic", "defences[2].kind: must be one of"),
        ("defences[1].lr", 0.0, "defences[1].lr: must be > 0"),
        ("defences[1].name", "a b", "defences[1].name: use letters"),
        ("defences[1].name", "none", "defences[1].name: 'none' is reserved"),
        ("defences[1].name", "..", "defences[1].name: must contain a letter or digit"),
        ("defences[1].name", ".hidden", "defences[1].name: must contain a letter or digit"),
        ("defences[1].name", "_attacker", "defences[1].name: must contain a letter or digit"),
        ("dataset.name", "imagenet", "dataset.name: must be one of"),
        ("dataset.image_size", 30, "dataset.image_size: the models take 28, 32 or 64"),
        ("dataset.n_target_test", 0, "dataset.n_target_test: must be > 0"),
        ("dataset.n_target_test", True, "dataset.n_target_test: must be an integer"),
        ("dataset.resize", "nearest", "dataset.resize: must be one of"),
        ("dataset.colour", 1, "dataset.colour: unknown key"),
        ("dataset.private_classes", [], "dataset.private_classes: must be a non-empty list"),
        ("dataset.private_classes", [1, -2], "dataset.private_classes[1]: must be >= 0"),
        ("training.epochs", 0, "training.epochs: must be > 0"),
        ("training.lr", float("nan"), "training.lr: must be finite"),
        ("model.architecture", "mlp", "model.architecture: must be one of"),
        ("model.width", 0, "model.width: must be > 0"),
        ("experiment.backend", "jax", "experiment.backend: must be one of"),
        ("experiment.seed", -1, "experiment.seed: must be >= 0"),
        ("experiment.seeds", [1], "experiment.seeds: unknown key"),
        ("attacks.rmle.steps", 0, "attacks.rmle.steps: must be > 0"),
        ("attacks.rmle.tv_weight", -1.0, "attacks.rmle.tv_weight: must be >= 0"),
        ("attacks.rmle.n_images", 21, "attacks.rmle.n_images: 21 exceeds dataset.n_private_eval = 20"),
        ("attacks.inverse_network.lr", -1e-3, "attacks.inverse_network.lr: must be > 0"),
        ("attacks.mine", {}, "attacks.mine: unknown key"),
        ("attacks.suite", [], "attacks.suite: must be a non-empty list"),
        ("attacks.suite", ["rmle", "glass"], "attacks.suite[1]: must be one of"),
        ("attacks.suite", ["rmle", "rmle"], "attacks.suite: lists an attack twice"),
        ("attacks.budget", "tiny", "attacks.budget: must be one of"),
        ("attacks.hybrid.lr", 0.0, "attacks.hybrid.lr: must be > 0"),
        ("attacks.hybrid.n_images", 21, "attacks.hybrid.n_images: 21 exceeds dataset.n_private_eval = 20"),
        ("attacks.generative.restarts", 0, "attacks.generative.restarts: must be > 0"),
        ("attacks.generative.restarts", 65, "attacks.generative.restarts: at most 64"),
        ("dataset.n_attacker_aux", 5, "dataset.n_attacker_aux: the generative attack trains its generator"),
        ("dataset.n_attacker_aux", 1, "dataset.n_attacker_aux: the generative attack trains its generator"),
        ("attacks.generative.pixel_steps", -1, "attacks.generative.pixel_steps: must be >= 0"),
        ("attacks.generative.gan_epochs", 1.5, "attacks.generative.gan_epochs: must be an integer"),
        ("attacks.inverse_network.patience", 0, "attacks.inverse_network.patience: must be > 0"),
        ("attacks.inverse_network.val_fraction", 0.5, "attacks.inverse_network.val_fraction: must be in [0, 0.5)"),
        ("training.batch_size", 500, "training.batch_size: 500 exceeds dataset.n_target_train = 400"),
        ("criterion.max_samples", 19, "criterion.max_samples: must be >= 20"),
        ("extras", {}, "extras: unknown section"),
    ],
)
def test_error_names_the_key(path, value, message):
    with pytest.raises(SpecError) as err:
        spec_from_dict(_with(path, value))
    assert str(err.value).startswith(message), str(err.value)


def test_missing_or_duplicate_defences():
    raw = copy.deepcopy(BASE)
    raw["defences"] = [{"kind": "siftfunnel"}]
    with pytest.raises(SpecError, match=r"^defences: must include the undefended model"):
        spec_from_dict(raw)
    raw["defences"] = [{"kind": "none"}, {"kind": "noise"}, {"kind": "noise"}]
    with pytest.raises(SpecError, match=r"^defences\[2\]\.name: 'noise' already used by defences\[1\]"):
        spec_from_dict(raw)
    raw["defences"] = [{"kind": "none"}, {"sigma": 1.0}]
    with pytest.raises(SpecError, match=r"^defences\[1\]\.kind: missing"):
        spec_from_dict(raw)
    raw.pop("defences")
    with pytest.raises(SpecError, match=r"^defences: at least one"):
        spec_from_dict(raw)


def test_file_formats_need_a_path(tmp_path):
    with pytest.raises(SpecError, match=r"^dataset\.path: required"):
        spec_from_dict(_with("dataset.name", "npz"))
    raw = _with("dataset.name", "npz")
    raw["dataset"]["path"] = str(tmp_path / "absent.npz")
    with pytest.raises(SpecError, match=r"^dataset\.path: .* does not exist"):
        spec_from_dict(raw)


def test_load_spec_reports_toml_errors_and_overrides(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[dataset\nname = 1\n")
    with pytest.raises(SpecError, match=r"^spec: .* is not valid TOML"):
        load_spec(bad)
    with pytest.raises(SpecError, match=r"^spec: file not found"):
        load_spec(tmp_path / "absent.toml")
    spec = load_spec(builtin_spec_path("demo"), backend="keras", seed=7)
    assert spec.backend == "keras" and spec.seed == 7
    with pytest.raises(SpecError, match=r"^--seed: must be >= 0"):
        override(spec, seed=-3)


@pytest.mark.parametrize("name", ["demo", "demo_fast", "fashion_cnn", "fashion_cnn_long", "lfw_faces",
                                  "demo_sweep", "demo_sf_variants"])
def test_builtin_specs_are_valid(name):
    path = builtin_spec_path(name)
    with open(path, "rb") as fh:
        raw = tomllib.load(fh)
    spec = spec_from_dict(raw)
    assert spec.defences[0].kind == "none"
    assert {"siftfunnel"} <= {d.kind for d in spec.defences}


def test_sf_variants_spec_is_demo_sweeps_setting_with_other_defences():
    # `siftfunnel merge` puts the two sweeps on one frontier: everything that trains the
    # undefended model or attacks and assesses any model must be the same
    def raw(name):
        with open(builtin_spec_path(name), "rb") as fh:
            return tomllib.load(fh)

    base, variants = raw("demo_sweep"), raw("demo_sf_variants")
    for key in ("dataset", "model", "training", "attacks", "criterion"):
        assert variants[key] == base[key], key
    assert {k: v for k, v in variants["experiment"].items() if k != "name"} == \
        {k: v for k, v in base["experiment"].items() if k != "name"}
    assert variants["sweep"]["seeds"] == base["sweep"]["seeds"]
    spec = spec_from_dict(variants)
    assert [d.kind for d in spec.defences] == ["none", "siftfunnel", "siftfunnel"]
    assert {d.name for d in spec.defences} & {d.name for d in spec_from_dict(base).defences} == {"none"}


def test_long_fashion_spec_differs_from_fashion_cnn_only_in_epochs_and_defences():
    def raw(name):
        with open(builtin_spec_path(name), "rb") as fh:
            return tomllib.load(fh)

    short, long = raw("fashion_cnn"), raw("fashion_cnn_long")
    assert long["training"]["epochs"] == 3 * short["training"]["epochs"]
    assert [d["kind"] for d in long["defences"]] == ["none", "siftfunnel"]
    assert long["defences"] == short["defences"][:2]
    for key in ("dataset", "model", "attacks", "criterion"):
        assert long[key] == short[key], key
    assert {k: v for k, v in long["training"].items() if k != "epochs"} == \
        {k: v for k, v in short["training"].items() if k != "epochs"}


def test_unknown_builtin_spec_lists_the_shipped_ones():
    assert {"demo", "fashion_cnn", "fashion_cnn_long", "lfw_faces"} <= set(builtin_spec_names())
    with pytest.raises(SpecError, match=r"^spec: no built-in spec named 'nope' \(built-in: demo, "):
        builtin_spec_path("nope")


def test_attack_suite_defaults_budgets_and_round_trip():
    from sift_reference.spec import ATTACKS, QUICK_BUDGET

    full = spec_from_dict(copy.deepcopy(BASE))
    assert full.attacks.suite == ATTACKS and full.attacks.budget == "full"
    raw = copy.deepcopy(BASE)
    raw["attacks"] = {"budget": "quick", "suite": ["rmle", "inverse_network"], "rmle": {"steps": 7}}
    quick = spec_from_dict(raw)
    assert quick.attacks.suite == ("rmle", "inverse_network")
    assert quick.attacks.rmle.steps == 7  # what the spec says wins over the quick budget
    assert quick.attacks.inverse_network.epochs == QUICK_BUDGET["inverse_network"]["epochs"]
    assert quick.attacks.settings("rmle")["budget"] == "quick"
    assert spec_from_dict(quick.to_dict()) == quick
    # the inverse network reconstructs every private image; the white-box attacks their n_images
    raw["attacks"]["rmle"]["n_images"] = 5
    s = spec_from_dict(raw)
    assert s.attacks.n_images("rmle", 20) == 5 and s.attacks.n_images("inverse_network", 20) == 20


def test_digits_need_an_image_size_the_models_take():
    raw = copy.deepcopy(BASE)
    raw["dataset"] = {k: v for k, v in raw["dataset"].items() if k != "image_size"}
    raw["dataset"]["name"] = "digits"
    with pytest.raises(SpecError, match=r"^dataset.image_size: scikit-learn's digits are 8x8"):
        spec_from_dict(raw)
